using HikShareGateway.Access.Grants;
using HikShareGateway.Access.Sessions;
using HikShareGateway.Core.Access;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using static HikShareGateway.Tests.Access.AccessTestKit;

namespace HikShareGateway.Tests.Access;

[Trait("Category", "Unit")]
public sealed class SessionRegistryTests : IDisposable
{
    private readonly FakeTimeProvider _time = new(DateTimeOffset.Parse("2026-11-25T10:00:00Z"));
    private readonly RecordingAuditSink _audit = new();
    private readonly GrantsStore _store;
    private readonly SessionRegistry _registry;

    public SessionRegistryTests()
    {
        _store = new GrantsStore(new GrantsStoreSettings(GatewayId, null), Keys, _time, NullLogger<GrantsStore>.Instance);
        _registry = new SessionRegistry(_store, _audit, _time, NullLogger<SessionRegistry>.Instance);
        // Bob: live view + PTZ on channels 1 and 2; Carol: playback on all channels.
        _store.Apply(GrantMessageKind.Snapshot, Sign(Snapshot(10, [
            Share("sh-bob", Bob, ShareState.Accepted, On(Nvr, Privilege.LiveView | Privilege.Ptz, 1, 2)),
            Share("sh-carol", Carol, ShareState.Accepted, On(Nvr, Privilege.Playback))])));
    }

    public void Dispose()
    {
        _registry.Dispose();
        _store.Dispose();
    }

    private FakeSession Start(string account, int channel, Privilege action)
    {
        var s = new FakeSession(account, Nvr, channel, action);
        Assert.True(_store.IsAllowed(account, Nvr, channel, action));
        _registry.Register(s.Session);
        return s;
    }

    private void ApplyDelta(long baseVersion, long version, IReadOnlyList<Share>? upsert = null, IReadOnlyList<string>? remove = null, IReadOnlyList<string>? removeDevices = null)
        => Assert.Equal(GrantApplyOutcome.Applied, _store.Apply(GrantMessageKind.Delta, Sign(Delta(baseVersion, version, upsert, remove, removeDevices: removeDevices))).Outcome);

    [Fact]
    public void Revoke_OneDeltaCuttingManySessions_TellsEveryOneBeforeTheFirstAudit()
    {
        _registry.Dispose(); // only the probed registry below re-evaluates
        var sessions = new List<FakeSession>();
        int toldAtFirstAudit = -1, audits = 0;
        using var registry = new SessionRegistry(_store, new FirstAuditProbe(() =>
        {
            if (audits++ == 0) toldAtFirstAudit = sessions.Count(s => s.Revoked);
        }), _time, NullLogger<SessionRegistry>.Instance);
        for (var i = 0; i < 100; i++)
        {
            var s = new FakeSession(Bob, Nvr, 1, Privilege.LiveView);
            sessions.Add(s);
            registry.Register(s.Session);
        }

        ApplyDelta(10, 11, upsert: [Share("sh-bob", Bob, ShareState.Deleted, On(Nvr, Privilege.LiveView | Privilege.Ptz, 1, 2))]);

        Assert.Equal(100, toldAtFirstAudit);
        Assert.Equal(100, audits);
    }

    private sealed class FirstAuditProbe(Action onRecord) : IAuditSink
    {
        public void Record(AuditEvent auditEvent) => onRecord();
    }

    [Fact]
    public void Revoke_ShareDeleted_CutsOnlyThatRecipientsSessions_AndAudits()
    {
        var bobLive = Start(Bob, 1, Privilege.LiveView);
        var carolPlayback = Start(Carol, 3, Privilege.Playback);
        var ownerLive = Start(Owner, 1, Privilege.LiveView);

        ApplyDelta(10, 11, upsert: [Share("sh-bob", Bob, ShareState.Deleted, On(Nvr, Privilege.LiveView | Privilege.Ptz, 1, 2))]);

        Assert.True(bobLive.Revoked);
        Assert.Contains("version 11", bobLive.Reason);
        Assert.False(carolPlayback.Revoked);
        Assert.False(ownerLive.Revoked);
        var e = Assert.Single(_audit.Events);
        Assert.Equal(AuditDecision.Revoked, e.Decision);
        Assert.Equal(bobLive.Session.SessionId, e.SessionId);
        Assert.Equal(Privilege.LiveView, e.Action);
        Assert.Equal("127.0.0.1:50000", e.Remote);
        Assert.Equal(2, _registry.ActiveSessions.Count);
    }

    [Fact]
    public void Revoke_ShareRemovedFromDelta_CutsSession()
    {
        var bob = Start(Bob, 2, Privilege.Ptz);
        ApplyDelta(10, 11, remove: ["sh-bob"]);
        Assert.True(bob.Revoked);
    }

    [Fact]
    public void Revoke_ShareRejected_CutsSession()
    {
        var bob = Start(Bob, 1, Privilege.LiveView);
        ApplyDelta(10, 11, upsert: [Share("sh-bob", Bob, ShareState.Rejected, On(Nvr, Privilege.LiveView | Privilege.Ptz, 1, 2))]);
        Assert.True(bob.Revoked);
    }

    [Fact]
    public void Revoke_PrivilegeRemoved_CutsOnlySessionsUsingIt()
    {
        var live = Start(Bob, 1, Privilege.LiveView);
        var ptz = Start(Bob, 1, Privilege.Ptz);
        ApplyDelta(10, 11, upsert: [Share("sh-bob", Bob, ShareState.Accepted, On(Nvr, Privilege.LiveView, 1, 2))]);
        Assert.False(live.Revoked);
        Assert.True(ptz.Revoked);
    }

    [Fact]
    public void Revoke_ChannelRemoved_CutsOnlyThatChannel()
    {
        var ch1 = Start(Bob, 1, Privilege.LiveView);
        var ch2 = Start(Bob, 2, Privilege.LiveView);
        ApplyDelta(10, 11, upsert: [Share("sh-bob", Bob, ShareState.Accepted, On(Nvr, Privilege.LiveView | Privilege.Ptz, 1))]);
        Assert.False(ch1.Revoked);
        Assert.True(ch2.Revoked);
    }

    [Fact]
    public void Revoke_DeviceRemoved_CutsEveryoneOnIt_IncludingTheOwner()
    {
        var bob = Start(Bob, 1, Privilege.LiveView);
        var carol = Start(Carol, 1, Privilege.Playback);
        var owner = Start(Owner, 5, Privilege.TwoWayAudio);
        ApplyDelta(10, 11, removeDevices: [Nvr]);
        Assert.True(bob.Revoked);
        Assert.True(carol.Revoked);
        Assert.True(owner.Revoked);
        Assert.Empty(_registry.ActiveSessions);
    }

    [Fact]
    public void Revoke_SnapshotWithoutTheShare_CutsSession()
    {
        var bob = Start(Bob, 1, Privilege.LiveView);
        Assert.Equal(GrantApplyOutcome.Applied, _store.Apply(GrantMessageKind.Snapshot, Sign(Snapshot(20, []))).Outcome);
        Assert.True(bob.Revoked);
    }

    [Fact]
    public void Revoke_ShareExpires_CutsAtTheInstantWithoutAMessage()
    {
        var expiresAt = _time.GetUtcNow().AddMinutes(30);
        ApplyDelta(10, 11, upsert: [Share("sh-bob", Bob, ShareState.Accepted, On(Nvr, Privilege.LiveView, 1)) with { ExpiresAt = expiresAt }]);
        var bob = Start(Bob, 1, Privilege.LiveView);
        _time.Advance(TimeSpan.FromMinutes(30) - TimeSpan.FromMilliseconds(1));
        Assert.False(bob.Revoked);
        _time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.True(bob.Revoked);
        Assert.Equal(AuditDecision.Revoked, Assert.Single(_audit.Events).Decision);
    }

    [Fact]
    public void RejectedOrGapMessages_CutNothing()
    {
        var bob = Start(Bob, 1, Privilege.LiveView);
        _store.Apply(GrantMessageKind.Snapshot, Sign(Snapshot(30, []), Stranger));
        _store.Apply(GrantMessageKind.Delta, Sign(Delta(12, 13, removeShares: ["sh-bob"])));
        _store.Apply(GrantMessageKind.Snapshot, Sign(Snapshot(5, [])));
        Assert.False(bob.Revoked);
        Assert.Empty(_audit.Events);
    }

    [Fact]
    public void DisposedSession_IsNotRevokedLater_AndRevokeIsCalledOnce()
    {
        var a = Start(Bob, 1, Privilege.LiveView);
        var b = new FakeSession(Bob, Nvr, 2, Privilege.LiveView);
        var registration = _registry.Register(b.Session);
        registration.Dispose();
        ApplyDelta(10, 11, remove: ["sh-bob"]);
        _registry.Reevaluate();
        Assert.Equal(1, a.RevokeCount);
        Assert.False(b.Revoked);
    }

    [Fact]
    public void Register_AfterGrantAlreadyGone_RevokesImmediately()
    {
        var s = new FakeSession(Bob, Nvr, 7, Privilege.LiveView); // channel 7 not shared
        _registry.Register(s.Session);
        Assert.True(s.Revoked);
    }

    [Fact]
    public void ThrowingRevokeCallback_DoesNotStopOthers()
    {
        var throwing = new ViewerSession { SessionId = "t", Account = Bob, DeviceId = Nvr, Channel = 1, Action = Privilege.LiveView, Remote = "127.0.0.1:1", Revoke = _ => throw new InvalidOperationException("boom") };
        _registry.Register(throwing);
        var other = Start(Bob, 2, Privilege.LiveView);
        ApplyDelta(10, 11, remove: ["sh-bob"]);
        Assert.True(other.Revoked);
        Assert.Equal(2, _audit.Events.Count);
    }
}
