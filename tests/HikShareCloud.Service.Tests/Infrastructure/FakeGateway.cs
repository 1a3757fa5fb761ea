using HikShareGateway.Core.Access;
using System.Buffers;
using System.Text;
using HikShareGateway.Access.Grants;
using HikShareGateway.Access.Jose;
using Microsoft.Extensions.Logging.Abstractions;
using MQTTnet;
using MQTTnet.Protocol;

namespace HikShareCloud.Service.Tests.Infrastructure;

/// <summary>
/// A gateway's MQTT side for the service tests: publishes its binding hash and inventory retained,
/// and applies every grants message it receives to a real <see cref="GrantsStore"/> (the gateway's
/// own verification and version rules).
/// </summary>
public sealed class FakeGateway : IAsyncDisposable
{
    private readonly IMqttClient _client = new MqttClientFactory().CreateMqttClient();
    private readonly string _prefix;
    private int _snapshots;
    private int _deltas;

    private FakeGateway(string gatewayId, TrustedKeySet keys, string prefix)
    {
        GatewayId = gatewayId;
        _prefix = $"{prefix}/gateways/{gatewayId}/";
        Store = new GrantsStore(new GrantsStoreSettings(gatewayId, null), keys, TimeProvider.System, NullLogger<GrantsStore>.Instance);
    }

    public string GatewayId { get; }
    public GrantsStore Store { get; }
    public int SnapshotsApplied => Volatile.Read(ref _snapshots);
    public int DeltasApplied => Volatile.Read(ref _deltas);
    public int SnapshotsReceived => Volatile.Read(ref _snapshotsReceived);
    private int _snapshotsReceived;

    public static async Task<FakeGateway> ConnectAsync(int port, string gatewayId, TrustedKeySet keys, string prefix = "hikshare/v1")
    {
        var g = new FakeGateway(gatewayId, keys, prefix);
        g._client.ApplicationMessageReceivedAsync += e =>
        {
            var payload = e.ApplicationMessage.Payload.ToArray();
            if (e.ApplicationMessage.Topic == g._prefix + "grants")
            {
                Interlocked.Increment(ref g._snapshotsReceived);
                if (g.Store.Apply(GrantMessageKind.Snapshot, payload).Outcome == GrantApplyOutcome.Applied)
                {
                    Interlocked.Increment(ref g._snapshots);
                }
            }
            else if (e.ApplicationMessage.Topic == g._prefix + "grants/delta" && g.Store.Apply(GrantMessageKind.Delta, payload).Outcome == GrantApplyOutcome.Applied)
            {
                Interlocked.Increment(ref g._deltas);
            }
            return Task.CompletedTask;
        };
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await g._client.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port).WithClientId("fake-" + gatewayId + "-" + Guid.NewGuid().ToString("N")[..6])
            .WithProtocolVersion(MQTTnet.Formatter.MqttProtocolVersion.V311).WithCleanSession(true).Build(), cts.Token);
        await g._client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder()
            .WithTopicFilter(f => f.WithTopic(g._prefix + "grants").WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce))
            .WithTopicFilter(f => f.WithTopic(g._prefix + "grants/delta").WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)).Build(), cts.Token);
        return g;
    }

    public Task PublishAsync(string kind, byte[] payload, bool retain)
        => _client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(_prefix + kind).WithPayload(payload)
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).WithRetainFlag(retain).Build());

    public Task PublishAsync(string kind, string payload, bool retain) => PublishAsync(kind, Encoding.UTF8.GetBytes(payload), retain);

    public async ValueTask DisposeAsync()
    {
        if (_client.IsConnected)
        {
            await _client.DisconnectAsync();
        }
        _client.Dispose();
        Store.Dispose();
    }
}
