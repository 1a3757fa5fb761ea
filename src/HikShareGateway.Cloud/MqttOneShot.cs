using MQTTnet;
using MQTTnet.Protocol;

namespace HikShareGateway.Cloud;

/// <summary>Connect, publish one message with QoS 1, disconnect: the cloud's side for hikshare-cloud and the demo.</summary>
public static class MqttOneShot
{
    /// <summary>TLS (mqtts://): system roots, or only <paramref name="trustChain"/> when given (a private CA). The host name is always checked.</summary>
    public static MqttClientOptionsBuilder WithTls(MqttClientOptionsBuilder b, System.Security.Cryptography.X509Certificates.X509Certificate2Collection? trustChain)
        => b.WithTlsOptions(o =>
        {
            o.UseTls();
            if (trustChain is { Count: > 0 })
            {
                o.WithTrustChain(trustChain);
            }
        });

    public static async Task PublishAsync(BrokerAddress broker, string? username, string? password, string topic, byte[] payload, bool retain, CancellationToken ct,
        System.Security.Cryptography.X509Certificates.X509Certificate2Collection? trustChain = null)
    {
        using var client = new MqttClientFactory().CreateMqttClient();
        var b = new MqttClientOptionsBuilder()
            .WithTcpServer(broker.Host, broker.Port)
            .WithClientId("hikshare-cloud-" + Guid.NewGuid().ToString("N")[..10])
            .WithCleanSession(true)
            .WithTimeout(TimeSpan.FromSeconds(10));
        if (username is not null)
        {
            b = b.WithCredentials(username, password ?? "");
        }
        if (broker.Tls)
        {
            b = WithTls(b, trustChain);
        }
        var connect = await client.ConnectAsync(b.Build(), ct);
        if (connect.ResultCode != MqttClientConnectResultCode.Success)
        {
            throw new MqttCloudException($"{broker} refused the connection: {connect.ResultCode}");
        }
        var result = await client.PublishAsync(new MqttApplicationMessageBuilder()
            .WithTopic(topic).WithPayload(payload)
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
            .WithRetainFlag(retain).Build(), ct);
        if (!result.IsSuccess)
        {
            throw new MqttCloudException($"{broker} did not accept the message on {topic}: {result.ReasonCode}");
        }
        await client.DisconnectAsync(new MqttClientDisconnectOptionsBuilder().Build(), ct);
    }
}
