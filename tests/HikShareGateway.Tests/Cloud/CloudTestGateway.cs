using HikShareGateway.Access;
using HikShareGateway.Access.Audit;
using HikShareGateway.Access.Grants;
using HikShareGateway.Access.Sessions;
using HikShareGateway.Cloud;
using Microsoft.Extensions.Logging.Abstractions;
using static HikShareGateway.Tests.Access.AccessTestKit;

namespace HikShareGateway.Tests.Cloud;

/// <summary>The gateway's cloud side as the host wires it: store + registry + audit + MQTT client, on a state dir.</summary>
internal sealed class CloudTestGateway : IAsyncDisposable
{
    public GrantsStore Store { get; }
    public MqttCloudClient Client { get; }
    public SessionRegistry Registry { get; }
    public CloudAuditSink Audit { get; }
    public string StateDirectory { get; }
    private readonly bool _ownsDir;
    private bool _started;

    public CloudTestGateway(int port, string? username = null, string? password = null, string? stateDirectory = null, int maxBytes = 1024 * 1024,
        bool tls = false, System.Security.Cryptography.X509Certificates.X509Certificate2Collection? trustChain = null)
    {
        _ownsDir = stateDirectory is null;
        StateDirectory = stateDirectory ?? TempDirectory();
        var settings = new CloudClientSettings(new BrokerAddress("127.0.0.1", port, tls), GatewayId, Username: username, Password: password,
            ReconnectMin: TimeSpan.FromMilliseconds(100), ReconnectMax: TimeSpan.FromMilliseconds(500), MaxGrantMessageBytes: maxBytes,
            Software: "hikshare-gateway/test", ClientId: "gw-test-" + Guid.NewGuid().ToString("N")[..8], TrustChain: trustChain);
        Store = new GrantsStore(new GrantsStoreSettings(GatewayId, StateDirectory, maxBytes), Keys, TimeProvider.System, NullLogger<GrantsStore>.Instance,
            new DeferredPublisher(() => Client!));
        Client = new MqttCloudClient(settings, Store, TimeProvider.System, NullLogger<MqttCloudClient>.Instance);
        Audit = new CloudAuditSink(Client, NullLogger<CloudAuditSink>.Instance);
        Registry = new SessionRegistry(Store, Audit, TimeProvider.System, NullLogger<SessionRegistry>.Instance);
    }

    public async Task StartAsync(bool waitConnected = true)
    {
        Store.Load();
        var connected = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Client.Connected += () => connected.TrySetResult();
        await Client.StartAsync(CancellationToken.None);
        _started = true;
        if (waitConnected)
        {
            await connected.Task.WaitAsync(TimeSpan.FromSeconds(15));
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_started)
        {
            await Client.StopAsync(CancellationToken.None);
        }
        Registry.Dispose();
        Client.Dispose();
        Store.Dispose();
        if (_ownsDir)
        {
            Directory.Delete(StateDirectory, recursive: true);
        }
    }

    private sealed class DeferredPublisher(Func<HikShareGateway.Core.Cloud.ICloudPublisher> target) : HikShareGateway.Core.Cloud.ICloudPublisher
    {
        public void Publish(string subTopic, ReadOnlyMemory<byte> payload, bool retain) => target().Publish(subTopic, payload, retain);
    }
}
