using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using HikShareGateway.Access.Grants;
using HikShareGateway.Cloud;
using HikShareGateway.Core.Access;
using HikShareGateway.Tests.Access;
using HikShareGateway.Tests.Infrastructure;
using static HikShareGateway.Tests.Access.AccessTestKit;

namespace HikShareGateway.Tests.Cloud;

/// <summary>The gateway's MQTT client against a real mosquitto on loopback.</summary>
[Trait("Category", "Integration")]
public sealed class MqttCloudClientTests : IAsyncLifetime
{
    private const string Prefix = "hikshare/v1/gateways/" + GatewayId;
    private MosquittoBroker _broker = null!;

    public async Task InitializeAsync() => _broker = await MosquittoBroker.StartAsync();
    public async Task DisposeAsync() => await _broker.DisposeAsync();

    private static Share BobLive => Share("sh-1", Bob, ShareState.Accepted, On(Nvr, Privilege.LiveView, 1));

    [Fact]
    public async Task RetainedSnapshot_IsAppliedOnConnect_AndStatusOnlineIsRetained()
    {
        await using var cloud = await MosquittoTestClient.ConnectAsync(_broker.Port);
        await cloud.PublishAsync(Prefix + "/grants", Sign(Snapshot(42, [BobLive])), retain: true);
        await using var gw = new CloudTestGateway(_broker.Port);
        await gw.StartAsync();

        await Wait.UntilAsync(() => gw.Store.Version == 42, "snapshot 42 applied");
        Assert.True(gw.Store.IsAllowed(Bob, Nvr, 1, Privilege.LiveView));
        Assert.True(gw.Store.BrokerConnected);

        // Once the broker has delivered the status with version 42, a subscriber that comes later gets it retained
        // (the first observer may have subscribed before the broker had it, and then got it live, retain flag clear).
        await using (var first = await MosquittoTestClient.ConnectAsync(_broker.Port))
        {
            await first.SubscribeAsync(Prefix + "/status");
            await first.WaitForAsync(Prefix + "/status", p => p.Contains("\"grantsVersion\":42"));
        }
        await using var observer = await MosquittoTestClient.ConnectAsync(_broker.Port);
        await observer.SubscribeAsync(Prefix + "/status");
        var status = await observer.WaitForAsync(Prefix + "/status", p => p.Contains("\"grantsVersion\":42"));
        Assert.True(status.Retain);
        using var doc = JsonDocument.Parse(status.Payload);
        Assert.Equal("online", doc.RootElement.GetProperty("state").GetString());
        Assert.Equal("hikshare-gateway/" + HikShareGateway.Composition.GatewayRunner.SoftwareVersion, doc.RootElement.GetProperty("software").GetString());
        Assert.True(DateTimeOffset.TryParse(doc.RootElement.GetProperty("startedAt").GetString(), out _));
    }

    [Fact]
    public async Task Delta_AppliesOverMqtt_AndGapPublishesResync()
    {
        await using var cloud = await MosquittoTestClient.ConnectAsync(_broker.Port);
        await cloud.SubscribeAsync(Prefix + "/grants/resync");
        await using var gw = new CloudTestGateway(_broker.Port);
        await gw.StartAsync();
        await cloud.PublishAsync(Prefix + "/grants", Sign(Snapshot(5, [])), retain: true);
        await Wait.UntilAsync(() => gw.Store.Version == 5, "snapshot 5");

        await cloud.PublishAsync(Prefix + "/grants/delta", Sign(Delta(5, 6, upsertShares: [BobLive])), retain: false);
        await Wait.UntilAsync(() => gw.Store.Version == 6, "delta 6");
        Assert.True(gw.Store.IsAllowed(Bob, Nvr, 1, Privilege.LiveView));

        await cloud.PublishAsync(Prefix + "/grants/delta", Sign(Delta(8, 9, removeShares: ["sh-1"])), retain: false);
        var resync = await cloud.WaitForAsync(Prefix + "/grants/resync");
        Assert.Equal("{\"version\":6}", resync.Payload);
        Assert.False(resync.Retain);
        Assert.Equal(6, gw.Store.Version);
        Assert.True(gw.Store.IsAllowed(Bob, Nvr, 1, Privilege.LiveView));
    }

    [Fact]
    public async Task BadMessagesOverMqtt_ChangeNothing_AndTheClientKeepsWorking()
    {
        await using var cloud = await MosquittoTestClient.ConnectAsync(_broker.Port);
        await using var gw = new CloudTestGateway(_broker.Port, maxBytes: 64 * 1024);
        await gw.StartAsync();
        await cloud.PublishAsync(Prefix + "/grants", Sign(Snapshot(5, [BobLive])), retain: true);
        await Wait.UntilAsync(() => gw.Store.Version == 5, "snapshot 5");
        var changed = 0;
        gw.Store.Changed += () => Interlocked.Increment(ref changed);

        await cloud.PublishAsync(Prefix + "/grants", Sign(Snapshot(50, []), Stranger), retain: false);           // forged
        await cloud.PublishAsync(Prefix + "/grants", Sign(Snapshot(50, []), OtherKey), retain: false);           // unknown kid
        await cloud.PublishAsync(Prefix + "/grants", Sign(Snapshot(50, [], gatewayId: "gw-x")), retain: false);  // wrong gateway
        await cloud.PublishAsync(Prefix + "/grants", "not a jws at all"u8.ToArray(), retain: false);              // malformed
        await cloud.PublishAsync(Prefix + "/grants", new byte[200 * 1024], retain: false);                      // oversized
        await cloud.PublishAsync(Prefix + "/grants/delta", SignRaw("{\"typ\":\"grants.delta\",,}"), retain: false); // bad JSON
        await cloud.PublishAsync(Prefix + "/grants", Sign(Snapshot(4, [])), retain: false);                      // rollback
        // Then a good one: it must still be applied, after all the bad ones (MQTT keeps the order).
        await cloud.PublishAsync(Prefix + "/grants/delta", Sign(Delta(5, 6, upsertShares: [Share("sh-2", Carol, ShareState.Accepted, On(Nvr, Privilege.Ptz))])), retain: false);

        await Wait.UntilAsync(() => gw.Store.Version == 6, "good delta after the bad ones");
        Assert.Equal(1, Volatile.Read(ref changed));
        Assert.True(gw.Store.IsAllowed(Bob, Nvr, 1, Privilege.LiveView));
        Assert.True(gw.Store.IsAllowed(Carol, Nvr, 3, Privilege.Ptz));
    }

    [Fact]
    public async Task Revoke_DeltaDeletingShare_CutsRegisteredSession_AndAuditIsPublished()
    {
        await using var cloud = await MosquittoTestClient.ConnectAsync(_broker.Port);
        await cloud.SubscribeAsync(Prefix + "/audit");
        await using var gw = new CloudTestGateway(_broker.Port);
        await gw.StartAsync();
        await cloud.PublishAsync(Prefix + "/grants", Sign(Snapshot(5, [BobLive])), retain: true);
        await Wait.UntilAsync(() => gw.Store.Version == 5, "snapshot 5");
        var session = new FakeSession(Bob, Nvr, 1, Privilege.LiveView);
        gw.Registry.Register(session.Session);

        await cloud.PublishAsync(Prefix + "/grants/delta", Sign(Delta(5, 6, upsertShares: [BobLive with { State = ShareState.Deleted }])), retain: false);

        await Wait.UntilAsync(() => session.Revoked, "session revoked");
        var audit = await cloud.WaitForAsync(Prefix + "/audit");
        using var doc = JsonDocument.Parse(audit.Payload);
        Assert.Equal("revoked", doc.RootElement.GetProperty("decision").GetString());
        Assert.Equal(session.Session.SessionId, doc.RootElement.GetProperty("sessionId").GetString());
        Assert.Equal("liveView", doc.RootElement.GetProperty("action").GetString());
    }

    [Fact]
    public async Task GracefulStop_PublishesRetainedOffline()
    {
        var gw = new CloudTestGateway(_broker.Port);
        await gw.StartAsync();
        await gw.DisposeAsync();
        await using var observer = await MosquittoTestClient.ConnectAsync(_broker.Port);
        await observer.SubscribeAsync(Prefix + "/status");
        var status = await observer.WaitForAsync(Prefix + "/status");
        Assert.True(status.Retain);
        Assert.Contains("\"state\":\"offline\"", status.Payload);
    }

    [Fact]
    public async Task BrokerRestart_ClientReconnects_KeepsEnforcingMeanwhile_AndAppliesNewGrants()
    {
        await using var cloud0 = await MosquittoTestClient.ConnectAsync(_broker.Port);
        await cloud0.PublishAsync(Prefix + "/grants", Sign(Snapshot(5, [BobLive])), retain: true);
        await using var gw = new CloudTestGateway(_broker.Port);
        await gw.StartAsync();
        await Wait.UntilAsync(() => gw.Store.Version == 5, "snapshot 5");

        await _broker.StopAsync();
        await Wait.UntilAsync(() => !gw.Store.BrokerConnected, "client noticed the broker is gone");
        Assert.True(gw.Store.IsAllowed(Bob, Nvr, 1, Privilege.LiveView)); // still enforcing what it holds

        await _broker.RestartAsync(); // no persistence: the broker lost the retained snapshot
        await Wait.UntilAsync(() => gw.Store.BrokerConnected, "client reconnected", 15_000);
        await using var cloud = await MosquittoTestClient.ConnectAsync(_broker.Port);
        await cloud.PublishAsync(Prefix + "/grants", Sign(Snapshot(7, [])), retain: true);
        await Wait.UntilAsync(() => gw.Store.Version == 7, "snapshot 7 after reconnect");
        Assert.False(gw.Store.IsAllowed(Bob, Nvr, 1, Privilege.LiveView));
    }

    [Fact]
    public async Task BrokerRestartWithoutPersistence_TheRetainedInventoryIsPublishedAgain()
    {
        await using var gw = new CloudTestGateway(_broker.Port);
        await gw.StartAsync();
        gw.Client.Publish("devices", "{\"devices\":[]}"u8.ToArray(), retain: true);
        await using (var before = await MosquittoTestClient.ConnectAsync(_broker.Port))
        {
            await before.SubscribeAsync(Prefix + "/devices");
            await before.WaitForAsync(Prefix + "/devices");
        }

        await _broker.StopAsync();
        await Wait.UntilAsync(() => !gw.Store.BrokerConnected, "client noticed the broker is gone");
        await _broker.RestartAsync(); // no persistence: the broker lost every retained message
        await Wait.UntilAsync(() => gw.Store.BrokerConnected, "client reconnected", 15_000);
        // Retained again (delivered on subscribe), or published live right after this subscription: either way it comes.
        await using var after = await MosquittoTestClient.ConnectAsync(_broker.Port);
        await after.SubscribeAsync(Prefix + "/devices");
        Assert.Equal("{\"devices\":[]}", (await after.WaitForAsync(Prefix + "/devices")).Payload);
    }

    [Fact]
    public async Task MessagesPublishedWhileDisconnected_AreDeliveredAfterConnect()
    {
        await using var cloud = await MosquittoTestClient.ConnectAsync(_broker.Port);
        await cloud.SubscribeAsync(Prefix + "/alarms");
        await using var gw = new CloudTestGateway(_broker.Port);
        gw.Client.Publish("alarms", "{\"kind\":\"motion\"}"u8.ToArray(), retain: false); // before start
        await gw.StartAsync();
        var m = await cloud.WaitForAsync(Prefix + "/alarms");
        Assert.Equal("{\"kind\":\"motion\"}", m.Payload);
    }

    [Fact]
    public async Task QueueFullWhileDisconnected_DropsOldestNonRetained_KeepsLatestRetained()
    {
        await using var cloud = await MosquittoTestClient.ConnectAsync(_broker.Port);
        await cloud.SubscribeAsync(Prefix + "/alarms");
        await cloud.SubscribeAsync(Prefix + "/devices");
        using var store = new GrantsStore(new GrantsStoreSettings(GatewayId, null), Keys, TimeProvider.System, Microsoft.Extensions.Logging.Abstractions.NullLogger<GrantsStore>.Instance);
        var settings = new CloudClientSettings(new BrokerAddress("127.0.0.1", _broker.Port, false), GatewayId, QueueCapacity: 10, ClientId: "q-" + Guid.NewGuid().ToString("N")[..8]);
        using var client = new MqttCloudClient(settings, store, TimeProvider.System, Microsoft.Extensions.Logging.Abstractions.NullLogger<MqttCloudClient>.Instance);
        for (var i = 0; i < 25; i++)
        {
            client.Publish("alarms", Encoding.UTF8.GetBytes($"{{\"n\":{i}}}"), retain: false);
            client.Publish("devices", Encoding.UTF8.GetBytes($"{{\"inventory\":{i}}}"), retain: true);
        }
        Assert.Equal(15, client.Dropped);
        await client.StartAsync(CancellationToken.None);
        try
        {
            await cloud.WaitForAsync(Prefix + "/alarms", p => p == "{\"n\":24}");
            await cloud.WaitForAsync(Prefix + "/devices", p => p == "{\"inventory\":24}");
            // Markers, published after everything checked: the client sends a topic's messages in order and the broker
            // delivers them in order (QoS 1), so once the markers are here nothing published before them is on its way.
            client.Publish("alarms", Encoding.UTF8.GetBytes("{\"marker\":true}"), retain: false);
            client.Publish("devices", Encoding.UTF8.GetBytes("{\"marker\":true}"), retain: true);
            await cloud.WaitForAsync(Prefix + "/alarms", p => p == "{\"marker\":true}");
            await cloud.WaitForAsync(Prefix + "/devices", p => p == "{\"marker\":true}");
            var alarms = cloud.Received.Where(m => m.Topic == Prefix + "/alarms").Select(m => m.Payload).ToList();
            Assert.Equal([.. Enumerable.Range(15, 10).Select(i => $"{{\"n\":{i}}}"), "{\"marker\":true}"], alarms);
            var devices = cloud.Received.Where(m => m.Topic == Prefix + "/devices").Select(m => m.Payload).ToList();
            Assert.Equal(["{\"inventory\":24}", "{\"marker\":true}"], devices);
        }
        finally
        {
            await client.StopAsync(CancellationToken.None);
        }
    }

    [Fact]
    public void Backoff_GrowsExponentially_CappedWithJitter()
    {
        var min = TimeSpan.FromSeconds(1);
        var max = TimeSpan.FromSeconds(60);
        Assert.Equal(0.8, MqttCloudClient.ReconnectBackoff(min, max).Delay(0, 0).TotalSeconds, 3);
        Assert.Equal(1.2, MqttCloudClient.ReconnectBackoff(min, max).Delay(0, 1).TotalSeconds, 3);
        Assert.Equal(8, MqttCloudClient.ReconnectBackoff(min, max).Delay(3, 0.5).TotalSeconds, 3);
        Assert.Equal(60, MqttCloudClient.ReconnectBackoff(min, max).Delay(10, 0.5).TotalSeconds, 3);
        Assert.Equal(72, MqttCloudClient.ReconnectBackoff(min, max).Delay(1000, 1).TotalSeconds, 3);
    }
}

/// <summary>mosquitto with a password file and anonymous access refused.</summary>
[Trait("Category", "Integration")]
public sealed class MqttCloudClientAuthTests : IAsyncLifetime
{
    private const string Prefix = "hikshare/v1/gateways/" + GatewayId;
    private MosquittoBroker _broker = null!;

    public async Task InitializeAsync() => _broker = await MosquittoBroker.StartAsync("gateway", "s3cret-pw");
    public async Task DisposeAsync() => await _broker.DisposeAsync();

    [Fact]
    public async Task UsernamePassword_Connects_AndAppliesGrants()
    {
        await using var cloud = await MosquittoTestClient.ConnectAsync(_broker.Port, "gateway", "s3cret-pw");
        await cloud.PublishAsync(Prefix + "/grants", Sign(Snapshot(3, [])), retain: true);
        await using var gw = new CloudTestGateway(_broker.Port, "gateway", "s3cret-pw");
        await gw.StartAsync();
        await Wait.UntilAsync(() => gw.Store.Version == 3, "snapshot 3 over an authenticated connection");
    }

    [Fact]
    public async Task WrongPassword_NeverConnects_AndKeepsRetrying()
    {
        await using var gw = new CloudTestGateway(_broker.Port, "gateway", "wrong");
        var failures = new ConcurrentQueue<Exception>();
        gw.Client.ConnectionFailed += failures.Enqueue;
        await gw.StartAsync(waitConnected: false);
        // Refused twice: it tried, the broker said no, and after the backoff it tried again.
        await Wait.UntilAsync(() => failures.Count >= 2, "two refused connection attempts");
        Assert.All(failures, e => Assert.Contains("NotAuthorized", e.Message + e.InnerException?.Message));
        Assert.False(gw.Store.BrokerConnected);
        Assert.False(gw.Client.IsConnected);
        Assert.Equal(0, gw.Store.Version);
    }
}
