using System.Collections.Concurrent;
using System.Text;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace HikShareGateway.Tests.Infrastructure;

/// <summary>The cloud's side in tests: publishes grants and records what the gateway publishes.</summary>
public sealed class MosquittoTestClient : IAsyncDisposable
{
    private readonly IMqttClient _client = new MqttClientFactory().CreateMqttClient();
    public readonly ConcurrentQueue<(string Topic, string Payload, bool Retain)> Received = new();

    /// <param name="mqtt311">MQTT 3.1.1 rather than MQTTnet's default 5.0 (RabbitMQ 3.x speaks no MQTT 5).</param>
    public static async Task<MosquittoTestClient> ConnectAsync(int port, string? username = null, string? password = null, bool mqtt311 = false)
    {
        var c = new MosquittoTestClient();
        c._client.ApplicationMessageReceivedAsync += e =>
        {
            c.Received.Enqueue((e.ApplicationMessage.Topic, Encoding.UTF8.GetString(e.ApplicationMessage.Payload), e.ApplicationMessage.Retain));
            return Task.CompletedTask;
        };
        var b = new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port).WithClientId("test-cloud-" + Guid.NewGuid().ToString("N")[..8]).WithCleanSession(true);
        if (mqtt311)
        {
            b = b.WithProtocolVersion(MqttProtocolVersion.V311);
        }
        if (username is not null)
        {
            b = b.WithCredentials(username, password);
        }
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await c._client.ConnectAsync(b.Build(), cts.Token);
        return c;
    }

    public async Task SubscribeAsync(string topic)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await _client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder().WithTopicFilter(f => f.WithTopic(topic).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)).Build(), cts.Token);
    }

    public async Task PublishAsync(string topic, byte[] payload, bool retain)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await _client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(payload)
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).WithRetainFlag(retain).Build(), cts.Token);
    }

    /// <summary>Waits (bounded) for a message on <paramref name="topic"/> matching <paramref name="match"/>.</summary>
    public async Task<(string Topic, string Payload, bool Retain)> WaitForAsync(string topic, Func<string, bool>? match = null, int timeoutMs = 10_000)
    {
        (string Topic, string Payload, bool Retain)? found = null;
        try
        {
            await Wait.UntilAsync(() => (found = Find(topic, match)) is not null, $"a message on {topic}", timeoutMs);
        }
        catch (TimeoutException e)
        {
            throw new TimeoutException($"{e.Message}; got: {string.Join(", ", Received.Select(r => r.Topic + "=" + r.Payload))}");
        }
        return found!.Value;
    }

    private (string Topic, string Payload, bool Retain)? Find(string topic, Func<string, bool>? match)
    {
        foreach (var m in Received)
        {
            if (m.Topic == topic && (match is null || match(m.Payload)))
            {
                return m;
            }
        }
        return null;
    }

    public async ValueTask DisposeAsync()
    {
        if (_client.IsConnected)
        {
            await _client.DisconnectAsync();
        }
        _client.Dispose();
    }
}
