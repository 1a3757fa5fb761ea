using HikShareCloud;
using HikShareGateway.Access;
using HikShareGateway.Access.Grants;
using HikShareGateway.Access.Sessions;
using HikShareGateway.Cloud;
using HikShareGateway.Composition;
using HikShareGateway.Core.Access;
using HikShareGateway.Core.Configuration;
using HikShareGateway.Tests.Access;
using HikShareGateway.Tests.Infrastructure;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;

namespace HikShareGateway.Tests.Cloud;

/// <summary>The demo's cloud side: embedded MQTTnet broker, demo key, signed snapshot; revoking with hikshare-cloud as printed.</summary>
[Trait("Category", "Unit")]
public sealed class DemoCloudTests : IDisposable
{
    private readonly string _dir = AccessTestKit.TempDirectory();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Demo_EmbeddedBrokerAndSignedSnapshot_GiveTheViewerChannel1_AndTheToolRevokesIt()
    {
        var cloud = new CloudLinkOptions { EmbeddedBrokerPort = PortAllocator.GetFreeTcpPort() };
        var gateway = new GatewayOptions { Id = DemoDefaults.GatewayId, StateDirectory = _dir };
        var errors = new List<string>();
        var demo = DemoCloud.Prepare(cloud, gateway, new ConfigurationBuilder().Build(), errors);
        Assert.Empty(errors);
        Assert.NotNull(demo);

        await using var broker = new EmbeddedBroker(NullLogger<EmbeddedBroker>.Instance);
        var service = new DemoCloud.Service(demo!, broker, cloud, TimeProvider.System, NullLogger<DemoCloud>.Instance);
        await service.StartAsync(CancellationToken.None);

        // The gateway side, trusting exactly the demo key (what CloudFeature registers as an extra trusted key).
        using var store = new GrantsStore(new GrantsStoreSettings(DemoDefaults.GatewayId, _dir), new CloudTrustOptions().BuildKeySet([demo!.Key.Public]), TimeProvider.System, NullLogger<GrantsStore>.Instance);
        using var registry = new SessionRegistry(store, new RecordingAuditSink(), TimeProvider.System, NullLogger<SessionRegistry>.Instance);
        var settings = new CloudClientSettings(new BrokerAddress("127.0.0.1", demo!.BrokerPort, false), DemoDefaults.GatewayId, ReconnectMin: TimeSpan.FromMilliseconds(100));
        using var client = new MqttCloudClient(settings, store, TimeProvider.System, NullLogger<MqttCloudClient>.Instance);
        await client.StartAsync(CancellationToken.None);
        try
        {
            await Wait.UntilAsync(() => store.Version > 0, "demo snapshot applied from the embedded broker");
            foreach (var p in new[] { Privilege.LiveView, Privilege.Playback, Privilege.Ptz, Privilege.TwoWayAudio, Privilege.AlarmPush })
            {
                Assert.True(store.IsAllowed(DemoCloud.Viewer, DemoDefaults.DeviceId, 1, p), p.ToString());
            }
            Assert.False(store.IsAllowed(DemoCloud.Viewer, DemoDefaults.DeviceId, 2, Privilege.LiveView));
            Assert.True(store.IsAllowed(DemoCloud.Owner, DemoDefaults.DeviceId, 2, Privilege.LiveView));
            Assert.Equal([DemoCloud.Owner, DemoCloud.Viewer], store.GetAlarmRecipients(DemoDefaults.DeviceId, 1));

            var session = new FakeSession(DemoCloud.Viewer, DemoDefaults.DeviceId, 1, Privilege.LiveView);
            registry.Register(session.Session);
            // The revoke commands the demo prints.
            var v = store.Version;
            var o = new StringWriter();
            Assert.Equal(0, await CloudTool.RunAsync(["delta", "--key", demo.KeyFile, "--gateway", DemoDefaults.GatewayId, "--base", v.ToString(), "--version", (v + 1).ToString(), "--remove-share", DemoCloud.ShareId], o, TextWriter.Null, TextReader.Null));
            Assert.Equal(0, await CloudTool.RunAsync(["publish", "--broker", $"mqtt://127.0.0.1:{demo.BrokerPort}", "--gateway", DemoDefaults.GatewayId, "--delta", "-"], TextWriter.Null, TextWriter.Null, new StringReader(o.ToString())));
            await Wait.UntilAsync(() => session.Revoked, "the viewer's session revoked");
            Assert.False(store.IsAllowed(DemoCloud.Viewer, DemoDefaults.DeviceId, 1, Privilege.LiveView));
        }
        finally
        {
            await client.StopAsync(CancellationToken.None);
            await service.StopAsync(CancellationToken.None);
        }
    }

    [Fact]
    public async Task EmbeddedBroker_PortTaken_FallsBackToAFreePort()
    {
        using var holder = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        holder.Start();
        var taken = ((System.Net.IPEndPoint)holder.LocalEndpoint).Port;
        await using var broker = new EmbeddedBroker(NullLogger<EmbeddedBroker>.Instance);
        var port = await broker.StartAsync(taken);
        Assert.NotEqual(taken, port);
        await using var c = await MosquittoTestClient.ConnectAsync(port);
    }
}
