using HikShareCloud.Service.Mqtt;
using HikShareCloud.Service.Shares;
using HikShareCloud.Service.Tests.Infrastructure;
using HikShareGateway.Core.Access;
using Microsoft.Extensions.Logging.Abstractions;

namespace HikShareCloud.Service.Tests.Grants;

/// <summary>The service against a real mosquitto, a gateway's GrantsStore on the other side.</summary>
[Trait("Category", "Integration")]
public sealed class GrantsOverMqttTests : IAsyncLifetime
{
    private const string Gw = "gw-lab-01";
    private const string Nvr = "DS-7608NI-K2-E12345678";
    private readonly SqliteDbFactory _sqlite = new();
    private readonly CancellationTokenSource _stop = new();
    private Mosquitto _broker = null!;
    private Harness _h = null!;
    private SharingMqttLink _link = null!;
    private Task _run = Task.CompletedTask;

    public async Task InitializeAsync()
    {
        _broker = await Mosquitto.StartAsync();
        _h = await Harness.CreateAsync(_sqlite, Harness.DefaultOptions with { Broker = _broker.Url });
        _link = new SharingMqttLink(_h.Db, _h.Gateways, _h.Options, TimeProvider.System, NullLogger<SharingMqttLink>.Instance);
        _run = _link.RunAsync(_stop.Token);
        await Wait.UntilAsync(() => _link.Connected, "the service connected to mosquitto");
    }

    public async Task DisposeAsync()
    {
        await _stop.CancelAsync();
        await _run;
        await _link.DisposeAsync();
        await _broker.DisposeAsync();
        _sqlite.Dispose();
    }

    private async Task<(Service.Accounts.AccountRef Owner, Service.Accounts.AccountRef Bob, FakeGateway Gateway)> BoundOverMqttAsync()
    {
        var owner = (await _h.VerifiedAccountAsync("owner@example.com")).Account;
        var bob = (await _h.VerifiedAccountAsync("bob@example.com")).Account;
        var gw = await FakeGateway.ConnectAsync(_broker.Port, Gw, _h.Trusted);
        await gw.PublishAsync("binding", Harness.BindingMessage("482-913"), retain: true);
        await gw.PublishAsync("devices", Harness.Inventory((Nvr, 4)), retain: true);
        await Wait.UntilAsync(async () => await _h.Db.InTransactionAsync(tx => tx.LongAsync("SELECT COUNT(*) FROM devices WHERE gateway_id = @g", ("@g", Gw))) == 1,
            "the inventory received over MQTT");
        await Wait.UntilAsync(async () => await _h.Db.InTransactionAsync(tx => tx.ScalarAsync("SELECT binding_hash FROM gateways WHERE id = @g", ("@g", Gw))) is not null,
            "the binding hash received over MQTT");
        await _h.Gateways.BindToOwnerAsync(owner, Gw, "482-913");
        await Wait.UntilAsync(() => gw.Store.IsAllowed("owner@example.com", Nvr, 1, Privilege.LiveView), "the owner's devices in the gateway's grants");
        return (owner, bob, gw);
    }

    [Fact]
    public async Task ShareAcceptedThenDeleted_GatewayGrantsFollowThroughDeltas()
    {
        var (owner, bob, gw) = await BoundOverMqttAsync();
        await using var _ = gw;
        var share = await _h.Shares.CreateAsync(owner, new ShareRequest("bob@example.com", [new ShareDeviceRequest(Nvr, [1, 2], ["liveView", "playback"])], "shop", null));
        await _h.Shares.AcceptAsync(bob, share.ShareId);
        await Wait.UntilAsync(() => gw.Store.IsAllowed("bob@example.com", Nvr, 2, Privilege.Playback), "bob's accepted share at the gateway");
        Assert.False(gw.Store.IsAllowed("bob@example.com", Nvr, 3, Privilege.LiveView));
        await _h.Shares.DeleteAsync(owner, share.ShareId);
        await Wait.UntilAsync(() => !gw.Store.IsAllowed("bob@example.com", Nvr, 1, Privilege.LiveView), "the deleted share gone at the gateway");
        Assert.True(gw.DeltasApplied >= 2, $"deltas applied: {gw.DeltasApplied}");
        Assert.Equal(await _h.Db.InTransactionAsync(tx => tx.LongAsync("SELECT grants_version FROM gateways WHERE id = @g", ("@g", Gw))), gw.Store.Version);
    }

    [Fact]
    public async Task Resync_AnsweredWithTheCurrentSnapshot()
    {
        var (_, _, gw) = await BoundOverMqttAsync();
        await using var _ = gw;
        var before = gw.SnapshotsReceived;
        await gw.PublishAsync("grants/resync", $$"""{"version":{{gw.Store.Version}}}""", retain: false);
        await Wait.UntilAsync(() => gw.SnapshotsReceived > before, "a snapshot in answer to grants/resync");
    }

    [Fact]
    public async Task BrokerOutage_ChangesCommittedMeanwhile_RepublishedRetainedAfterReconnect()
    {
        var (owner, bob, gw) = await BoundOverMqttAsync();
        await gw.DisposeAsync();
        var share = await _h.Shares.CreateAsync(owner, new ShareRequest("bob@example.com", [new ShareDeviceRequest(Nvr, [], ["liveView"])], null, null));
        await _broker.StopAsync();
        await Wait.UntilAsync(() => !_link.Connected, "the service noticed the outage");
        await _h.Shares.AcceptAsync(bob, share.ShareId); // committed while no broker is reachable
        await _broker.RestartAsync(); // persistence false: every retained message is gone
        await Wait.UntilAsync(() => _link.Connections >= 2, "the service reconnected", 40_000);

        // A gateway (re)starting with nothing gets the retained snapshot with the accepted share.
        await using var fresh = await FakeGateway.ConnectAsync(_broker.Port, Gw, _h.Trusted);
        await Wait.UntilAsync(() => fresh.Store.IsAllowed("bob@example.com", Nvr, 3, Privilege.LiveView), "the retained snapshot after the outage");
    }

    [Fact]
    public async Task AuditEvent_FromTheGateway_Kept()
    {
        var (_, _, gw) = await BoundOverMqttAsync();
        await using var _ = gw;
        await gw.PublishAsync("audit", """{"at":"2026-12-01T08:00:00Z","sessionId":"s1","account":"bob@example.com","deviceId":"DS","channel":1,"action":"liveView","decision":"allow","reason":"ok","remote":"192.0.2.1:5000"}""", retain: false);
        await Wait.UntilAsync(async () => await _h.Db.InTransactionAsync(tx => tx.LongAsync("SELECT COUNT(*) FROM audit_events WHERE gateway_id = @g", ("@g", Gw))) == 1, "the audit event stored");
    }
}
