using System.Globalization;
using HikShareGateway.Access.Audit;
using HikShareGateway.Access.Grants;
using HikShareGateway.Access.Jose;
using HikShareGateway.Access.Sessions;
using HikShareGateway.Cloud;
using HikShareGateway.Composition;
using HikShareGateway.Core.Access;
using HikShareGateway.Core.Cloud;
using HikShareGateway.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using static HikShareGateway.Tests.Access.AccessTestKit;

namespace HikShareGateway.Tests.Cloud;

/// <summary>
/// The gateway's cloud side as the host builds it (<see cref="Features.Build"/> from configuration keys, like
/// every other test gateway): store + registry + audit + MQTT client on a state directory. Only the grants
/// load and the MQTT client are started; nothing listens.
/// </summary>
internal sealed class CloudTestGateway : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly bool _ownsDir;
    private bool _started;

    public GrantsStore Store { get; }
    public MqttCloudClient Client { get; }
    public SessionRegistry Registry { get; }
    public CloudAuditSink Audit { get; }
    /// <summary>What health, metrics and status read (the cloud link's own interface).</summary>
    public IBrokerStatus Broker { get; }
    public string StateDirectory { get; }

    /// <param name="caFile">mqtts:// only: <c>Cloud:CaFile</c>; null: system roots.</param>
    public CloudTestGateway(int port, string? username = null, string? password = null, string? stateDirectory = null, int maxBytes = 1024 * 1024,
        bool tls = false, string? caFile = null, IReadOnlyList<int>? clusterPorts = null, IReadOnlyDictionary<string, string?>? extra = null)
    {
        _ownsDir = stateDirectory is null;
        StateDirectory = stateDirectory ?? TempDirectory();
        var values = new Dictionary<string, string?>
        {
            ["Gateway:Id"] = GatewayId,
            ["Gateway:StateDirectory"] = StateDirectory,
            ["Http:Port"] = "0",
            ["Admin:Port"] = PortAllocator.GetFreeTcpPort().ToString(CultureInfo.InvariantCulture), // never started
            ["Discovery:Enabled"] = "false",
            ["Onvif:Events"] = "false",
            ["Cloud:Broker"] = clusterPorts is null ? $"{(tls ? "mqtts" : "mqtt")}://127.0.0.1:{port}" : null,
            ["Cloud:Username"] = username,
            ["Cloud:Password"] = password,
            ["Cloud:CaFile"] = caFile,
            ["Cloud:ClientId"] = "gw-test-" + Guid.NewGuid().ToString("N")[..8],
            ["Cloud:ReconnectMinSeconds"] = "0.1",
            ["Cloud:ReconnectMaxSeconds"] = "0.5",
            ["Cloud:MaxGrantMessageBytes"] = maxBytes.ToString(CultureInfo.InvariantCulture),
            ["Cloud:TrustedKeys:0:kid"] = Key.Public.Kid,
            ["Cloud:TrustedKeys:0:kty"] = "OKP",
            ["Cloud:TrustedKeys:0:crv"] = "Ed25519",
            ["Cloud:TrustedKeys:0:x"] = Base64UrlStrict.Encode(Key.Public.PublicKey),
        };
        for (var i = 0; clusterPorts is not null && i < clusterPorts.Count; i++)
        {
            values[$"Cloud:Brokers:{i}"] = $"mqtt://127.0.0.1:{clusterPorts[i]}";
        }
        foreach (var (k, v) in extra ?? new Dictionary<string, string?>())
        {
            values[k] = v;
        }
        var errors = new List<string>();
        var config = new ConfigurationBuilder().AddInMemoryCollection(values).Build();
        _app = Features.Build(config, new GatewayContext(false, CommandLine.Parse([]), DateTimeOffset.UtcNow), errors)
            ?? throw new InvalidOperationException("the test gateway's configuration is invalid: " + string.Join("; ", errors));
        var sp = _app.Services;
        Store = sp.GetRequiredService<GrantsStore>();
        Client = sp.GetRequiredService<MqttCloudClient>();
        Registry = sp.GetRequiredService<SessionRegistry>(); // constructed now: it follows grant changes
        Audit = (CloudAuditSink)sp.GetRequiredService<IAuditSink>();
        Broker = sp.GetRequiredService<IBrokerStatus>();
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
        await _app.DisposeAsync();
        if (_ownsDir)
        {
            Directory.Delete(StateDirectory, recursive: true);
        }
    }
}
