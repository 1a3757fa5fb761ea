using System.Diagnostics.Metrics;
using System.Text;
using HikShareGateway.Access.Grants;
using HikShareGateway.Core.Access;
using HikShareGateway.Core.Diagnostics;
using HikShareGateway.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using static HikShareGateway.Tests.Access.AccessTestKit;

namespace HikShareGateway.Tests.Access;

[Trait("Category", "Unit")]
public sealed class GrantsStoreTests : IDisposable
{
    private readonly string _dir = TempDirectory();
    private readonly FakeTimeProvider _time = new(DateTimeOffset.Parse("2026-11-25T10:00:00Z"));
    private readonly List<GrantsStore> _stores = [];

    private GrantsStore NewStore(string? dir = null, int maxBytes = 1024 * 1024, GatewayMetrics? metrics = null)
    {
        var s = new GrantsStore(new GrantsStoreSettings(GatewayId, dir ?? _dir, maxBytes), Keys, _time, NullLogger<GrantsStore>.Instance, metrics: metrics);
        _stores.Add(s);
        return s;
    }

    public void Dispose()
    {
        foreach (var s in _stores)
        {
            s.Dispose();
        }
        Directory.Delete(_dir, recursive: true);
    }

    private static Share BobLive(int channel = 1) => Share("sh-1", Bob, ShareState.Accepted, On(Nvr, Privilege.LiveView, channel));

    [Fact]
    public void NoGrantsEverReceived_DeniesEveryone()
    {
        var store = NewStore();
        Assert.False(store.Load());
        Assert.Equal(0, store.Version);
        Assert.Equal("none", store.Source);
        Assert.False(store.IsAllowed(Owner, Nvr, 1, Privilege.LiveView));
    }

    [Fact]
    public void ShareExpiringInSixtyDays_Applies_RaisesChanged_AndExpiresOnTime()
    {
        // Timers refuse a wait over ~49.7 days: this apply threw after the swap, so Changed (which cuts sessions) was
        // never raised and nothing was persisted.
        var store = NewStore();
        var changed = 0;
        store.Changed += () => changed++;
        var far = BobLive() with { ExpiresAt = _time.GetUtcNow().AddDays(60) };

        var r = store.Apply(GrantMessageKind.Snapshot, Sign(Snapshot(5, [far])));

        Assert.Equal(GrantApplyOutcome.Applied, r.Outcome);
        Assert.Equal(1, changed);
        Assert.True(File.Exists(Path.Combine(_dir, GrantsStoreSettings.StateFileName)));
        _time.Advance(TimeSpan.FromDays(59));
        Assert.True(store.IsAllowed(Bob, Nvr, 1, Privilege.LiveView));
        _time.Advance(TimeSpan.FromDays(1) + TimeSpan.FromSeconds(1));
        Assert.False(store.IsAllowed(Bob, Nvr, 1, Privilege.LiveView));
    }

    [Fact]
    public void Snapshot_Applies_AndRaisesChanged()
    {
        var store = NewStore();
        var changed = 0;
        store.Changed += () => changed++;
        var r = store.Apply(GrantMessageKind.Snapshot, Sign(Snapshot(5, [BobLive()])));
        Assert.Equal(GrantApplyOutcome.Applied, r.Outcome);
        Assert.Equal(5, store.Version);
        Assert.Equal(1, changed);
        Assert.Equal("mqtt", store.Source);
        Assert.True(store.IsAllowed(Bob, Nvr, 1, Privilege.LiveView));
    }

    [Fact]
    public void Snapshot_AtOrBelowHeldVersion_IsIgnoredAsReplay()
    {
        var store = NewStore();
        store.Apply(GrantMessageKind.Snapshot, Sign(Snapshot(5, [BobLive()])));
        Assert.Equal(GrantApplyOutcome.Stale, store.Apply(GrantMessageKind.Snapshot, Sign(Snapshot(5, []))).Outcome);
        Assert.Equal(GrantApplyOutcome.Stale, store.Apply(GrantMessageKind.Snapshot, Sign(Snapshot(3, []))).Outcome);
        Assert.True(store.IsAllowed(Bob, Nvr, 1, Privilege.LiveView));
        Assert.Equal(GrantApplyOutcome.Applied, store.Apply(GrantMessageKind.Snapshot, Sign(Snapshot(6, []))).Outcome);
        Assert.False(store.IsAllowed(Bob, Nvr, 1, Privilege.LiveView));
    }

    [Fact]
    public void Delta_WithBaseEqualToHeld_Applies()
    {
        var store = NewStore();
        store.Apply(GrantMessageKind.Snapshot, Sign(Snapshot(5, [BobLive()])));
        var r = store.Apply(GrantMessageKind.Delta, Sign(Delta(5, 6, upsertShares: [Share("sh-2", Carol, ShareState.Accepted, On(Nvr, Privilege.Playback))])));
        Assert.Equal(GrantApplyOutcome.Applied, r.Outcome);
        Assert.Equal(6, store.Version);
        Assert.True(store.IsAllowed(Carol, Nvr, 7, Privilege.Playback));
        Assert.True(store.IsAllowed(Bob, Nvr, 1, Privilege.LiveView));
    }

    [Fact]
    public void Delta_WithGap_KeepsGrantsAndAsksForAResyncAtTheHeldVersion()
    {
        var store = NewStore();
        store.Apply(GrantMessageKind.Snapshot, Sign(Snapshot(5, [BobLive()])));
        var r = store.Apply(GrantMessageKind.Delta, Sign(Delta(6, 7, removeShares: ["sh-1"])));
        Assert.Equal(GrantApplyOutcome.Gap, r.Outcome);
        Assert.Equal(5, store.Version);
        Assert.True(store.IsAllowed(Bob, Nvr, 1, Privilege.LiveView));
        // The store publishes nothing: the cloud link publishes grants/resync {"version":5} (MqttCloudClientTests).
        Assert.True(r.ResyncNeeded);
        Assert.Equal(5, r.HeldVersion);
        Assert.Equal(new GrantsReceipt(5, ResyncNeeded: true), ((IGrantsInbox)store).Receive(GrantMessageKind.Delta, Sign(Delta(6, 7))));
    }

    [Fact]
    public void LongDeltaChain_RequestsAFreshSnapshot_AndASnapshotResetsIt()
    {
        var store = new GrantsStore(new GrantsStoreSettings(GatewayId, null), Keys, _time, NullLogger<GrantsStore>.Instance); // no fsync per delta
        _stores.Add(store);
        store.Apply(GrantMessageKind.Snapshot, Sign(Snapshot(1, [])));
        var resyncs = new List<long>();
        for (var v = 1; v <= GrantsStore.DeltasBeforeResync; v++)
        {
            Assert.Empty(resyncs);
            var r = store.Apply(GrantMessageKind.Delta, Sign(Delta(v, v + 1)));
            if (r.ResyncNeeded)
            {
                resyncs.Add(r.HeldVersion);
            }
        }
        Assert.Equal(GrantsStore.DeltasBeforeResync + 1, Assert.Single(resyncs));
        store.Apply(GrantMessageKind.Snapshot, Sign(Snapshot(1000, [])));
        Assert.Equal(0, store.DeltaCount);
    }

    [Fact]
    public void Delta_ReplayedOrOld_IsIgnored()
    {
        var store = NewStore();
        store.Apply(GrantMessageKind.Snapshot, Sign(Snapshot(5, [])));
        var delta = Sign(Delta(5, 6, upsertShares: [BobLive()]));
        Assert.Equal(GrantApplyOutcome.Applied, store.Apply(GrantMessageKind.Delta, delta).Outcome);
        Assert.Equal(GrantApplyOutcome.Stale, store.Apply(GrantMessageKind.Delta, delta).Outcome);
        Assert.Equal(GrantApplyOutcome.Stale, store.Apply(GrantMessageKind.Delta, Sign(Delta(4, 5, removeShares: ["sh-1"]))).Outcome);
        Assert.Equal(6, store.Version);
        Assert.True(store.IsAllowed(Bob, Nvr, 1, Privilege.LiveView));
        Assert.False(store.Apply(GrantMessageKind.Delta, delta).ResyncNeeded);
    }

    [Fact]
    public void Delta_BeforeAnySnapshot_WithBaseZero_Applies()
    {
        var store = NewStore();
        var r = store.Apply(GrantMessageKind.Delta, Sign(Delta(0, 1, upsertDevices: [new GrantDevice(Nvr, Owner)])));
        Assert.Equal(GrantApplyOutcome.Applied, r.Outcome);
        Assert.True(store.IsAllowed(Owner, Nvr, 1, Privilege.Ptz));
    }

    public static TheoryData<string, byte[]> BadMessages()
    {
        var snap = Snapshot(9, [BobLive()]);
        var good = Encoding.ASCII.GetString(Sign(snap));
        var parts = good.Split('.');
        return new TheoryData<string, byte[]>
        {
            { "bad-signature", Sign(snap, Stranger) },
            { "unknown-kid", Sign(snap, OtherKey) },
            { "unsupported-alg", SignWithHeader("{\"alg\":\"HS256\",\"kid\":\"cloud-1\"}", GrantsJson.Write(snap)) },
            { "malformed", Encoding.ASCII.GetBytes(Base64UrlStrictEncode("{\"alg\":\"none\"}") + "." + parts[1] + ".") }, // unsigned
            { "wrong-gateway", Sign(Snapshot(9, [BobLive()], gatewayId: "gw-other")) },
            { "malformed", Encoding.ASCII.GetBytes(parts[0] + "." + parts[1] + "!." + parts[2]) },
            { "malformed", Encoding.ASCII.GetBytes(good + ".extra.part") },
            { "malformed", Encoding.UTF8.GetBytes("{\"typ\":\"grants.snapshot\"}") },
            { "malformed", [] },
            { "invalid-payload", SignRaw("{\"typ\":\"grants.snapshot\",\"gatewayId\":\"gw-test\",\"version\":9") },
            { "invalid-payload", SignRaw("{\"typ\":\"grants.snapshot\",\"gatewayId\":\"gw-test\",\"version\":9,\"devices\":\"x\",\"shares\":[]}") },
            { "invalid-payload", Sign(Delta(8, 9)) }, // a delta on the snapshot topic
        };
    }

    private static string Base64UrlStrictEncode(string s) => HikShareGateway.Access.Jose.Base64UrlStrict.Encode(Encoding.UTF8.GetBytes(s));

    [Theory]
    [MemberData(nameof(BadMessages), DisableDiscoveryEnumeration = true)]
    public void BadMessage_IsRejected_CountedAndChangesNothing(string reason, byte[] message)
    {
        var metrics = TestMeterFactory.NewMetrics();
        var store = NewStore(metrics: metrics);
        store.Apply(GrantMessageKind.Snapshot, Sign(Snapshot(5, [Share("sh-0", Carol, ShareState.Accepted, On(Nvr, Privilege.LiveView))])));
        var changed = 0;
        store.Changed += () => changed++;
        var fileBefore = File.ReadAllBytes(Path.Combine(_dir, GrantsStoreSettings.StateFileName));
        long rejected = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (i, l) => { if (ReferenceEquals(i.Meter, metrics.Meter) && i.Name == "hikshare_grant_messages_rejected") { l.EnableMeasurementEvents(i); } };
        listener.SetMeasurementEventCallback<long>((i, v, tags, _) =>
        {
            foreach (var t in tags)
            {
                if (t.Key == "reason" && ((string)t.Value!).StartsWith(reason, StringComparison.Ordinal))
                {
                    Interlocked.Add(ref rejected, v);
                }
            }
        });
        listener.Start();

        var r = store.Apply(GrantMessageKind.Snapshot, message);

        Assert.Equal(GrantApplyOutcome.Rejected, r.Outcome);
        Assert.StartsWith(reason, r.Reason);
        Assert.Equal(1, Interlocked.Read(ref rejected)); // this store's meter only: no other test's rejections
        Assert.Equal(0, changed);
        Assert.Equal(5, store.Version);
        Assert.True(store.IsAllowed(Carol, Nvr, 1, Privilege.LiveView));
        Assert.False(store.IsAllowed(Bob, Nvr, 1, Privilege.LiveView));
        Assert.Equal(fileBefore, File.ReadAllBytes(Path.Combine(_dir, GrantsStoreSettings.StateFileName)));
    }

    [Fact]
    public void OversizedMessage_IsRejectedUnread()
    {
        var store = NewStore(maxBytes: 4096);
        store.Apply(GrantMessageKind.Snapshot, Sign(Snapshot(5, [BobLive()])));
        var big = Sign(Snapshot(9, [BobLive() with { Remark = new string('x', 5000) }]));
        var r = store.Apply(GrantMessageKind.Snapshot, big);
        Assert.Equal(GrantApplyOutcome.Rejected, r.Outcome);
        Assert.Equal("too-large", r.Reason);
        Assert.Equal(5, store.Version);
    }

    [Fact]
    public void Persistence_SurvivesRestartWithoutBroker_SnapshotPlusDeltas()
    {
        var first = NewStore();
        first.Apply(GrantMessageKind.Snapshot, Sign(Snapshot(5, [BobLive()])));
        first.Apply(GrantMessageKind.Delta, Sign(Delta(5, 6, upsertShares: [Share("sh-2", Carol, ShareState.Accepted, On(Nvr, Privilege.Ptz, 4))])));
        first.Apply(GrantMessageKind.Delta, Sign(Delta(6, 7, removeShares: ["sh-1"])));
        first.Dispose();

        var second = NewStore();
        Assert.True(second.Load());
        Assert.Equal(7, second.Version);
        Assert.Equal("state-file", second.Source);
        Assert.False(second.IsAllowed(Bob, Nvr, 1, Privilege.LiveView));
        Assert.True(second.IsAllowed(Carol, Nvr, 4, Privilege.Ptz));
        Assert.True(second.IsAllowed(Owner, Nvr, 1, Privilege.LiveView));
        // Version rules continue from what was loaded.
        Assert.Equal(GrantApplyOutcome.Stale, second.Apply(GrantMessageKind.Snapshot, Sign(Snapshot(7, []))).Outcome);
        Assert.Equal(GrantApplyOutcome.Applied, second.Apply(GrantMessageKind.Delta, Sign(Delta(7, 8, removeShares: ["sh-2"]))).Outcome);
    }

    [Fact]
    public void Persistence_WritesAtomicallyWithNoTempFileLeft()
    {
        var store = NewStore();
        store.Apply(GrantMessageKind.Snapshot, Sign(Snapshot(5, [BobLive()])));
        Assert.Equal([GrantsStoreSettings.StateFileName], Directory.GetFiles(_dir).Select(Path.GetFileName));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, OperatingSystem.IsWindows() ? UnixFileMode.UserRead | UnixFileMode.UserWrite : File.GetUnixFileMode(Path.Combine(_dir, GrantsStoreSettings.StateFileName)));
    }

    [Theory]
    [InlineData("{ not json")]
    [InlineData("{\"Format\":2}")]
    [InlineData("")]
    public void CorruptStateFile_IsReportedAndIgnored_DenyByDefault(string content)
    {
        File.WriteAllText(Path.Combine(_dir, GrantsStoreSettings.StateFileName), content);
        var store = NewStore();
        Assert.False(store.Load());
        Assert.Equal(0, store.Version);
        Assert.False(store.IsAllowed(Owner, Nvr, 1, Privilege.LiveView));
    }

    [Fact]
    public void TamperedStateFile_FailsReverification_DenyByDefault()
    {
        var first = NewStore();
        first.Apply(GrantMessageKind.Snapshot, Sign(Snapshot(5, [BobLive()])));
        var path = Path.Combine(_dir, GrantsStoreSettings.StateFileName);
        var text = File.ReadAllText(path);
        // Swap the signed snapshot for one signed by an untrusted key with the same kid.
        var forged = Encoding.ASCII.GetString(Sign(Snapshot(5, [Share("sh-1", Bob, ShareState.Accepted, On(Nvr, Privilege.All))]), Stranger));
        var start = text.IndexOf("\"Snapshot\": \"", StringComparison.Ordinal) + 13;
        var end = text.IndexOf('"', start);
        File.WriteAllText(path, text[..start] + forged + text[end..]);

        var second = NewStore();
        Assert.False(second.Load());
        Assert.False(second.IsAllowed(Bob, Nvr, 1, Privilege.LiveView));
        Assert.False(second.IsAllowed(Owner, Nvr, 1, Privilege.LiveView));
    }

    [Fact]
    public void StateFileWithAValidSnapshotButACorruptDelta_IsIgnoredAsAWhole()
    {
        var first = NewStore();
        first.Apply(GrantMessageKind.Snapshot, Sign(Snapshot(5, [BobLive()])));
        first.Apply(GrantMessageKind.Delta, Sign(Delta(5, 6, upsertShares: [Share("sh-2", Carol, ShareState.Accepted, On(Nvr, Privilege.LiveView))])));
        var path = Path.Combine(_dir, GrantsStoreSettings.StateFileName);
        var text = File.ReadAllText(path);
        var at = text.LastIndexOf('.') + 3; // inside the delta's signature
        File.WriteAllText(path, text[..at] + (text[at] == 'A' ? 'B' : 'A') + text[(at + 1)..]);

        var second = NewStore();
        Assert.False(second.Load());
        Assert.Equal(0, second.Version);
        Assert.Equal("none", second.Source);
        Assert.False(second.IsAllowed(Bob, Nvr, 1, Privilege.LiveView));
    }

    [Fact]
    public void StateFileForAnotherGateway_IsIgnored()
    {
        var other = new GrantsStore(new GrantsStoreSettings("gw-other", _dir), Keys, _time, NullLogger<GrantsStore>.Instance);
        _stores.Add(other);
        other.Apply(GrantMessageKind.Snapshot, Sign(Snapshot(5, [BobLive()], gatewayId: "gw-other")));
        var mine = NewStore();
        Assert.False(mine.Load());
        Assert.Equal(0, mine.Version);
    }

    [Fact]
    public void Expiry_TakesEffectAtItsInstant_WithoutAMessage()
    {
        var store = NewStore();
        var expiresAt = _time.GetUtcNow().AddMinutes(10);
        store.Apply(GrantMessageKind.Snapshot, Sign(Snapshot(5, [BobLive() with { ExpiresAt = expiresAt }])));
        var changed = 0;
        store.Changed += () => changed++;

        _time.Advance(TimeSpan.FromMinutes(10) - TimeSpan.FromMilliseconds(1));
        Assert.True(store.IsAllowed(Bob, Nvr, 1, Privilege.LiveView));
        Assert.Equal(0, changed);

        _time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.False(store.IsAllowed(Bob, Nvr, 1, Privilege.LiveView));
        Assert.Equal(1, changed);
        Assert.Equal(5, store.Version);
    }

    [Fact]
    public void Expiry_SeveralShares_EachAtItsOwnInstant()
    {
        var store = NewStore();
        var now = _time.GetUtcNow();
        store.Apply(GrantMessageKind.Snapshot, Sign(Snapshot(5, [
            Share("sh-1", Bob, ShareState.Accepted, On(Nvr, Privilege.LiveView)) with { ExpiresAt = now.AddMinutes(1) },
            Share("sh-2", Carol, ShareState.Accepted, On(Nvr, Privilege.LiveView)) with { ExpiresAt = now.AddMinutes(2) }])));
        _time.Advance(TimeSpan.FromMinutes(1));
        Assert.False(store.IsAllowed(Bob, Nvr, 1, Privilege.LiveView));
        Assert.True(store.IsAllowed(Carol, Nvr, 1, Privilege.LiveView));
        _time.Advance(TimeSpan.FromMinutes(1));
        Assert.False(store.IsAllowed(Carol, Nvr, 1, Privilege.LiveView));
    }

    [Fact]
    public void LoadedShareAlreadyExpired_GivesNothing()
    {
        var first = NewStore();
        first.Apply(GrantMessageKind.Snapshot, Sign(Snapshot(5, [BobLive() with { ExpiresAt = _time.GetUtcNow().AddMinutes(1) }])));
        first.Dispose();
        _time.Advance(TimeSpan.FromHours(1));
        var second = NewStore();
        Assert.True(second.Load());
        Assert.False(second.IsAllowed(Bob, Nvr, 1, Privilege.LiveView));
    }
}
