using System.Net;
using System.Net.Sockets;
using HikShareGateway.Access.Grants;
using HikShareGateway.Core.Access;
using HikShareGateway.Tests.Infrastructure;
using static HikShareGateway.Tests.Access.AccessTestKit;

namespace HikShareGateway.Tests.Cloud;

/// <summary>The MQTT will on an abrupt connection loss, and a restart with no broker reachable.</summary>
[Trait("Category", "Integration")]
public sealed class MqttWillAndRestartTests : IAsyncLifetime
{
    private const string Prefix = "hikshare/v1/gateways/" + GatewayId;
    private MosquittoBroker _broker = null!;

    public async Task InitializeAsync() => _broker = await MosquittoBroker.StartAsync();
    public async Task DisposeAsync() => await _broker.DisposeAsync();

    [Fact]
    public async Task AbruptConnectionLoss_BrokerPublishesTheRetainedOfflineWill()
    {
        // The gateway reaches mosquitto through a loopback relay that the test can cut without an MQTT DISCONNECT.
        await using var relay = await TcpRelay.StartAsync(_broker.Port);
        await using var observer = await MosquittoTestClient.ConnectAsync(_broker.Port);
        await observer.SubscribeAsync(Prefix + "/status");
        await using var gw = new CloudTestGateway(relay.Port);
        await gw.StartAsync();
        await observer.WaitForAsync(Prefix + "/status", p => p.Contains("\"state\":\"online\""));

        relay.CutAll();

        var will = await observer.WaitForAsync(Prefix + "/status", p => p.Contains("\"state\":\"offline\""), 15_000);
        Assert.Contains("\"grantsVersion\"", will.Payload);
        await using var late = await MosquittoTestClient.ConnectAsync(_broker.Port);
        await late.SubscribeAsync(Prefix + "/status");
        var retained = await late.WaitForAsync(Prefix + "/status");
        Assert.True(retained.Retain);
    }

    [Fact]
    public async Task Restart_WithNoBrokerReachable_EnforcesPersistedGrants()
    {
        var stateDir = TempDirectory();
        try
        {
            await using (var cloud = await MosquittoTestClient.ConnectAsync(_broker.Port))
            await using (var first = new CloudTestGateway(_broker.Port, stateDirectory: stateDir))
            {
                await first.StartAsync();
                await cloud.PublishAsync(Prefix + "/grants", Sign(Snapshot(12, [Share("sh-1", Bob, ShareState.Accepted, On(Nvr, Privilege.Playback, 2))])), retain: true);
                await Wait.UntilAsync(() => first.Store.Version == 12, "snapshot 12");
            }
            await _broker.StopAsync();

            await using var second = new CloudTestGateway(_broker.Port, stateDirectory: stateDir);
            await second.StartAsync(waitConnected: false);
            Assert.False(second.Store.BrokerConnected);
            Assert.Equal(12, second.Store.Version);
            Assert.Equal("state-file", second.Store.Source);
            Assert.True(second.Store.IsAllowed(Bob, Nvr, 2, Privilege.Playback));
            Assert.False(second.Store.IsAllowed(Bob, Nvr, 1, Privilege.Playback));
        }
        finally
        {
            Directory.Delete(stateDir, recursive: true);
        }
    }

    /// <summary>A byte relay 127.0.0.1:Port → 127.0.0.1:target whose connections can be cut at once.</summary>
    private sealed class TcpRelay : IAsyncDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly List<Socket> _sockets = [];
        private readonly CancellationTokenSource _cts = new();
        private Task? _accept;
        public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

        public static Task<TcpRelay> StartAsync(int target)
        {
            var r = new TcpRelay();
            r._listener.Start();
            r._accept = r.AcceptAsync(target);
            return Task.FromResult(r);
        }

        private async Task AcceptAsync(int target)
        {
            try
            {
                while (!_cts.IsCancellationRequested)
                {
                    var inbound = await _listener.AcceptSocketAsync(_cts.Token);
                    var outbound = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                    await outbound.ConnectAsync(IPAddress.Loopback, target);
                    lock (_sockets)
                    {
                        _sockets.Add(inbound);
                        _sockets.Add(outbound);
                    }
                    _ = PumpAsync(inbound, outbound);
                    _ = PumpAsync(outbound, inbound);
                }
            }
            catch (Exception) when (_cts.IsCancellationRequested)
            {
            }
        }

        private static async Task PumpAsync(Socket from, Socket to)
        {
            var buf = new byte[8192];
            try
            {
                int n;
                while ((n = await from.ReceiveAsync(buf, SocketFlags.None)) > 0)
                {
                    await to.SendAsync(buf.AsMemory(0, n), SocketFlags.None);
                }
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
            }
        }

        /// <summary>Resets every relayed connection (RST, no MQTT DISCONNECT): the broker must fire the will.</summary>
        public void CutAll()
        {
            lock (_sockets)
            {
                foreach (var s in _sockets)
                {
                    s.LingerState = new LingerOption(true, 0);
                    s.Dispose();
                }
                _sockets.Clear();
            }
        }

        public async ValueTask DisposeAsync()
        {
            _cts.Cancel();
            _listener.Stop();
            CutAll();
            if (_accept is not null)
            {
                await _accept;
            }
        }
    }
}
