using System.Text;
using HikShareGateway.Access.Grants;
using HikShareGateway.Access.Jose;
using HikShareGateway.Composition;
using HikShareGateway.Core.Access;
using HikShareGateway.Core.Cloud;
using HikShareGateway.Tests.Access;
using HikShareGateway.Tests.Infrastructure;
using Xunit.Abstractions;
using static HikShareGateway.Tests.Access.AccessTestKit;

namespace HikShareGateway.Tests.Cloud;

/// <summary>
/// The cluster's tests run alone, after the parallel ones: starting three Erlang VMs takes both cores for 15-20 s,
/// which must not starve another class's processes (a demo gateway timed out at start beside it once in CI).
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class RabbitMqClusterCollection
{
    public const string Name = "RabbitMQ cluster";
}

/// <summary>One 3-node RabbitMQ cluster for the class (starting one takes tens of seconds on a loaded machine).</summary>
public sealed class RabbitMqClusterFixture : IAsyncLifetime
{
    public RabbitMqCluster Cluster { get; private set; } = null!;

    public async Task InitializeAsync() => Cluster = await RabbitMqCluster.StartAsync(3);

    public async Task DisposeAsync()
    {
        if (Cluster is not null)
        {
            await Cluster.DisposeAsync();
        }
    }
}

/// <summary>
/// Contract §3.1 <c>Cloud:Brokers</c> against a real 3-node RabbitMQ 3.10 cluster with its MQTT plugin (issue 17): the
/// cluster's own behaviour the gateway relies on (retained messages stay on the node they were published to, publishes
/// are routed to subscribers on every node), and the failover when the gateway's node stops.
/// </summary>
/// <remarks>
/// The tests share one cluster; only the failover test stops a node, node 1, which the other tests do not use, so
/// their order does not matter.
/// </remarks>
[Trait("Category", "Integration")]
[Collection(RabbitMqClusterCollection.Name)]
public sealed class RabbitMqClusterFailoverTests(RabbitMqClusterFixture fixture, ITestOutputHelper output) : IClassFixture<RabbitMqClusterFixture>
{
    private const string Prefix = "hikshare/v1/gateways/" + GatewayId;
    private RabbitMqCluster Cluster => fixture.Cluster;

    private static Share BobLive => Share("sh-1", Bob, ShareState.Accepted, On(Nvr, Privilege.LiveView, 1));

    [Fact]
    public async Task RetainedMessages_StayOnTheNodeTheyWerePublishedTo_WhilePublishesReachSubscribersOnOtherNodes()
    {
        output.WriteLine(Cluster.Report);
        var topic = "hikshare-test/" + Guid.NewGuid().ToString("N")[..8] + "/retained";
        await using var onNode2 = await MosquittoTestClient.ConnectAsync(Cluster.MqttPort(1), mqtt311: true);
        await onNode2.PublishAsync(topic, Encoding.UTF8.GetBytes("snapshot"), retain: true);

        await using var onNode3 = await MosquittoTestClient.ConnectAsync(Cluster.MqttPort(2), mqtt311: true);
        await onNode3.SubscribeAsync(topic);
        await onNode2.PublishAsync(topic, Encoding.UTF8.GetBytes("live"), retain: false);

        // The live publish crossed the cluster; a retained message is sent on subscribing, before anything published
        // later, so by the time "live" is here node 3 has shown it holds no retained message on that topic.
        await onNode3.WaitForAsync(topic, p => p == "live");
        Assert.Equal([(topic, "live", false)], onNode3.Received.ToArray());

        // Node 2 kept it: a subscriber there gets it.
        await using var again = await MosquittoTestClient.ConnectAsync(Cluster.MqttPort(1), mqtt311: true);
        await again.SubscribeAsync(topic);
        var retained = await again.WaitForAsync(topic);
        Assert.Equal((topic, "snapshot", true), retained);
    }

    [Fact]
    public async Task GatewaysNodeStopped_ItMovesToAnotherNode_KeepsEnforcing_ResyncsForTheNodeLocalSnapshot_AndTakesTheDeltaFromAThirdNode()
    {
        try
        {
            int[] ports = [Cluster.MqttPort(0), Cluster.MqttPort(1), Cluster.MqttPort(2)];
            await using (var onNode1 = await MosquittoTestClient.ConnectAsync(ports[0], mqtt311: true))
            {
                await onNode1.PublishAsync(Prefix + "/grants", Sign(Snapshot(5, [BobLive])), retain: true);
            }
            // The cloud listens on both nodes that will survive.
            await using var onNode2 = await MosquittoTestClient.ConnectAsync(ports[1], mqtt311: true);
            await onNode2.SubscribeAsync(Prefix + "/grants/resync");
            await using var onNode3 = await MosquittoTestClient.ConnectAsync(ports[2], mqtt311: true);
            await onNode3.SubscribeAsync(Prefix + "/grants/resync");

            await using var gw = new CloudTestGateway(0, clusterPorts: ports,
                extra: new Dictionary<string, string?> { ["Cloud:ResyncWaitSeconds"] = "1" });
            await gw.StartAsync();
            await Wait.UntilAsync(() => gw.Store.Version == 5, "snapshot 5 from node 1");
            Assert.Equal(ports[0], gw.Client.CurrentBroker.Port);
            Assert.Equal(0, gw.Client.ConnectResyncs); // node 1 had the snapshot: no resync asked for
            var session = new FakeSession(Bob, Nvr, 1, Privilege.LiveView);
            gw.Registry.Register(session.Session);
            var connects = 0;
            gw.Client.Connected += () => Interlocked.Increment(ref connects);

            await Cluster.StopNodeAsync(0);

            await Wait.UntilAsync(() => Volatile.Read(ref connects) >= 1 && gw.Client.IsConnected && gw.Client.CurrentBroker.Port != ports[0],
                "the gateway connected to a surviving node", 60_000);
            var gatewayNode = Array.IndexOf(ports, gw.Client.CurrentBroker.Port);
            output.WriteLine($"after node 1 stopped the gateway is on node {gatewayNode + 1} ({connects} connect(s), {gw.Client.FailedConnects} failed)");
            // The other survivor: the cloud there is on a different node than the gateway's.
            var cloud = gatewayNode == 1 ? onNode3 : onNode2;

            // That node has no retained snapshot (node-local in RabbitMQ 3.x): the gateway asks, and the request is
            // routed to the cloud on the other node.
            var resync = await cloud.WaitForAsync(Prefix + "/grants/resync", timeoutMs: 20_000);
            Assert.Equal("{\"version\":5}", resync.Payload);
            Assert.True(gw.Client.ConnectResyncs >= 1);
            // Meanwhile nothing was dropped: the grants held stay in force, the session runs.
            Assert.Equal(5, gw.Store.Version);
            Assert.True(gw.Store.IsAllowed(Bob, Nvr, 1, Privilege.LiveView));
            Assert.False(session.Revoked);

            await cloud.PublishAsync(Prefix + "/grants/delta", Sign(Delta(5, 6, upsertShares: [BobLive with { State = ShareState.Deleted }])), retain: false);
            await Wait.UntilAsync(() => gw.Store.Version == 6, "delta 6 through the third node", 20_000);
            await Wait.UntilAsync(() => session.Revoked, "the session cut by the delta");
            Assert.False(gw.Store.IsAllowed(Bob, Nvr, 1, Privilege.LiveView));
            Assert.Equal(ports[gatewayNode], gw.Client.CurrentBroker.Port); // and it stayed there
        }
        catch (Exception)
        {
            output.WriteLine(Cluster.Report);
            output.WriteLine(Cluster.Logs);
            throw;
        }
        output.WriteLine(Cluster.Report);
    }

    [Fact]
    public async Task TheDaemon_WithCloudBrokersFromItsEnvironment_TakesTheSnapshotOnOneNode_AndADeltaPublishedThroughAnother()
    {
        var topics = new CloudTopics(CloudTopics.DefaultPrefix, DemoDefaults.GatewayId);
        await using (var onNode2 = await MosquittoTestClient.ConnectAsync(Cluster.MqttPort(1), mqtt311: true))
        {
            await onNode2.PublishAsync(topics.Grants, Sign(Snapshot(1, [BobLive], gatewayId: DemoDefaults.GatewayId)), retain: true);
        }
        await using var cloud = await MosquittoTestClient.ConnectAsync(Cluster.MqttPort(2), mqtt311: true);
        await cloud.SubscribeAsync(topics.Status);

        await using var demo = await DemoGatewayProcess.StartAsync(new Dictionary<string, string>
        {
            ["HIKSHARE_Cloud__Brokers__0"] = $"mqtt://127.0.0.1:{Cluster.MqttPort(1)}",
            ["HIKSHARE_Cloud__Brokers__1"] = $"mqtt://127.0.0.1:{Cluster.MqttPort(2)}",
            ["HIKSHARE_Cloud__TrustedKeys__0__Kid"] = Key.Public.Kid,
            ["HIKSHARE_Cloud__TrustedKeys__0__Kty"] = "OKP",
            ["HIKSHARE_Cloud__TrustedKeys__0__Crv"] = "Ed25519",
            ["HIKSHARE_Cloud__TrustedKeys__0__X"] = Base64UrlStrict.Encode(Key.Public.PublicKey),
        }, demoCloud: false); // returns once the retained snapshot from node 2 is applied
        Assert.Contains($"Connected to the cloud broker mqtt://127.0.0.1:{Cluster.MqttPort(1)}", demo.Output);

        // Its status, published on node 2, reaches the cloud on node 3; so does the delta the other way.
        await cloud.WaitForAsync(topics.Status, p => p.Contains("\"grantsVersion\":1"), 20_000);
        await cloud.PublishAsync(topics.GrantsDelta, Sign(Delta(1, 2, removeShares: ["sh-1"], gatewayId: DemoDefaults.GatewayId)), retain: false);
        await cloud.WaitForAsync(topics.Status, p => p.Contains("\"grantsVersion\":2"), 20_000);
        Assert.DoesNotContain("asked the cloud for a resync", demo.Output); // node 2 had the snapshot
    }
}
