using System.Text.Json;
using HikShareGateway.Access.Grants;
using HikShareGateway.Core.Access;
using HikShareGateway.Tests.Access;
using HikShareGateway.Tests.Infrastructure;
using static HikShareGateway.Tests.Access.AccessTestKit;

namespace HikShareGateway.Tests.Cloud;

/// <summary>
/// Contract §3.1 <c>Cloud:Brokers</c> and §3's limits, against real mosquitto brokers: failover to the next broker,
/// the resync when that broker lacks the retained snapshot, and oversized or refused grants reported to the cloud.
/// </summary>
[Trait("Category", "Integration")]
public sealed class BrokerFailoverTests : IAsyncLifetime
{
    private const string Prefix = "hikshare/v1/gateways/" + GatewayId;
    private MosquittoBroker _a = null!;
    private MosquittoBroker _b = null!;

    public async Task InitializeAsync()
    {
        _a = await MosquittoBroker.StartAsync();
        _b = await MosquittoBroker.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await _a.DisposeAsync();
        await _b.DisposeAsync();
    }

    private static Share BobLive => Share("sh-1", Bob, ShareState.Accepted, On(Nvr, Privilege.LiveView, 1));

    [Fact]
    public async Task BrokerStopped_GatewayMovesToTheNext_KeepsEnforcing_ResyncsForTheMissingSnapshot_AndTakesTheNextDelta()
    {
        await using var cloudA = await MosquittoTestClient.ConnectAsync(_a.Port);
        await cloudA.PublishAsync(Prefix + "/grants", Sign(Snapshot(5, [BobLive])), retain: true);
        await using var cloudB = await MosquittoTestClient.ConnectAsync(_b.Port);
        await cloudB.SubscribeAsync(Prefix + "/grants/resync");
        await using var gw = new CloudTestGateway(0, clusterPorts: [_a.Port, _b.Port],
            extra: new Dictionary<string, string?> { ["Cloud:ResyncWaitSeconds"] = "0.5" });
        await gw.StartAsync();
        await Wait.UntilAsync(() => gw.Store.Version == 5, "snapshot 5 from broker A");
        Assert.Equal(_a.Port, gw.Client.CurrentBroker.Port);
        Assert.Equal(0, gw.Client.ConnectResyncs); // A had the snapshot: no resync asked for.
        var session = new FakeSession(Bob, Nvr, 1, Privilege.LiveView);
        gw.Registry.Register(session.Session);
        var connects = 0;
        gw.Client.Connected += () => Interlocked.Increment(ref connects);

        await _a.StopAsync();

        await Wait.UntilAsync(() => Volatile.Read(ref connects) >= 1 && gw.Client.CurrentBroker.Port == _b.Port, "the gateway on broker B", 20_000);
        // B has no retained snapshot (retained messages are not replicated in every cluster): the gateway asks.
        var resync = await cloudB.WaitForAsync(Prefix + "/grants/resync");
        Assert.Equal("{\"version\":5}", resync.Payload);
        // Meanwhile nothing was dropped: the grants held stay in force, the session runs.
        Assert.Equal(5, gw.Store.Version);
        Assert.True(gw.Store.IsAllowed(Bob, Nvr, 1, Privilege.LiveView));
        Assert.False(session.Revoked);

        await cloudB.PublishAsync(Prefix + "/grants/delta", Sign(Delta(5, 6, upsertShares: [BobLive with { State = ShareState.Deleted }])), retain: false);
        await Wait.UntilAsync(() => gw.Store.Version == 6, "delta 6 from broker B");
        await Wait.UntilAsync(() => session.Revoked, "the session cut by the delta taken on B");
    }

    [Fact]
    public async Task OversizedDelta_IsSkippedUnread_ReportedInTheStatus_AndAResyncAsked_WhileTheLinkStays()
    {
        await using var cloud = await MosquittoTestClient.ConnectAsync(_a.Port);
        await cloud.SubscribeAsync(Prefix + "/grants/resync");
        await cloud.SubscribeAsync(Prefix + "/status");
        await cloud.PublishAsync(Prefix + "/grants", Sign(Snapshot(5, [BobLive])), retain: true);
        await using var gw = new CloudTestGateway(_a.Port, maxBytes: 64 * 1024);
        await gw.StartAsync();
        await Wait.UntilAsync(() => gw.Store.Version == 5, "snapshot 5");
        var failedBefore = gw.Client.FailedConnects;
        var connects = 0;
        gw.Client.Connected += () => Interlocked.Increment(ref connects);

        await cloud.PublishAsync(Prefix + "/grants/delta", new byte[8 * 1024 * 1024], retain: false);

        var status = await cloud.WaitForAsync(Prefix + "/status", p => p.Contains("grantsRejected"));
        using (var doc = JsonDocument.Parse(status.Payload))
        {
            var rejected = doc.RootElement.GetProperty("grantsRejected");
            Assert.Equal("delta", rejected.GetProperty("kind").GetString());
            Assert.Equal("too-large", rejected.GetProperty("reason").GetString());
            Assert.True(rejected.GetProperty("bytes").GetInt64() >= 8 * 1024 * 1024);
            Assert.Equal(5, doc.RootElement.GetProperty("grantsVersion").GetInt64());
        }
        var resync = await cloud.WaitForAsync(Prefix + "/grants/resync");
        Assert.Equal("{\"version\":5}", resync.Payload);
        Assert.True(gw.Store.IsAllowed(Bob, Nvr, 1, Privilege.LiveView));

        // The link stayed up (the cut PUBLISH was acknowledged) and the next good delta applies and clears the report.
        await cloud.PublishAsync(Prefix + "/grants/delta", Sign(Delta(5, 6, upsertShares: [Share("sh-2", Carol, ShareState.Accepted, On(Nvr, Privilege.Ptz, 3))])), retain: false);
        await Wait.UntilAsync(() => gw.Store.Version == 6, "delta 6 after the oversized one");
        await cloud.WaitForAsync(Prefix + "/status", p => p.Contains("\"grantsVersion\":6") && !p.Contains("grantsRejected"));
        Assert.Equal(failedBefore, gw.Client.FailedConnects);
        Assert.Equal(0, Volatile.Read(ref connects));
        Assert.True(gw.Client.IsConnected);
    }

    [Fact]
    public async Task RefusedSnapshots_AskForAResyncAtABoundedRate_NotOncePerMessage()
    {
        await using var cloud = await MosquittoTestClient.ConnectAsync(_a.Port);
        await cloud.SubscribeAsync(Prefix + "/grants/resync");
        await cloud.PublishAsync(Prefix + "/grants", Sign(Snapshot(5, [BobLive])), retain: true);
        await using var gw = new CloudTestGateway(_a.Port);
        await gw.StartAsync();
        await Wait.UntilAsync(() => gw.Store.Version == 5, "snapshot 5");

        for (var i = 0; i < 5; i++)
        {
            await cloud.PublishAsync(Prefix + "/grants", Sign(Snapshot(50 + i, []), Stranger), retain: false); // forged
        }
        // A marker after the forged ones: once it is applied, every forged one was handled (MQTT keeps the order).
        await cloud.PublishAsync(Prefix + "/grants/delta", Sign(Delta(5, 6, upsertShares: [BobLive])), retain: false);
        await Wait.UntilAsync(() => gw.Store.Version == 6, "the marker delta");

        // One resync reached the cloud; the other four refusals asked for none (the marker was handled after them).
        var resync = await cloud.WaitForAsync(Prefix + "/grants/resync");
        Assert.Equal("{\"version\":5}", resync.Payload);
        Assert.Equal(1, gw.Client.RejectedResyncs);
        Assert.True(gw.Store.IsAllowed(Bob, Nvr, 1, Privilege.LiveView));
    }
}
