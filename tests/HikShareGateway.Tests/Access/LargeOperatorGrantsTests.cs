using System.Diagnostics;
using HikShareGateway.Access;
using HikShareGateway.Access.Grants;
using HikShareGateway.Core.Access;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Xunit.Abstractions;
using static HikShareGateway.Tests.Access.AccessTestKit;

namespace HikShareGateway.Tests.Access;

/// <summary>
/// Issue 17 point 5: the default grants limit must hold a large operator's snapshot. 100,000 shares over 500
/// recorders, realistic ids and addresses, signed and applied through the store with the default limit.
/// </summary>
[Trait("Category", "Unit")]
public sealed class LargeOperatorGrantsTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = TempDirectory();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void HundredThousandShares_ApplyWithTheDefaultLimit_AndEnforceTheLastOne()
    {
        const int shares = 100_000, devices = 500;
        var deviceList = Enumerable.Range(0, devices).Select(d => new GrantDevice($"nvr-{d:D4}-2f9c41", $"owner{d % 200}@operator.example")).ToList();
        var list = new List<Share>(shares);
        for (var i = 0; i < shares; i++)
        {
            var d = deviceList[i % devices];
            list.Add(new Share($"sh-{i:D6}-7c1e", d.Owner, $"viewer{i}@customer{i % 977}.example", "front door and yard", ShareState.Accepted,
                DateTimeOffset.Parse("2027-06-30T00:00:00Z"),
                [new ShareDevice(d.DeviceId, [1 + i % 4, 5 + i % 4], Privilege.LiveView | Privilege.Playback | (i % 3 == 0 ? Privilege.AlarmPush : 0))]));
        }
        var signed = Sign(Snapshot(7, list, deviceList));
        var defaultLimit = new CloudTrustOptions().MaxGrantMessageBytes;
        using var store = new GrantsStore(new GrantsStoreSettings(GatewayId, _dir, defaultLimit), Keys, new FakeTimeProvider(DateTimeOffset.Parse("2026-11-25T10:00:00Z")), NullLogger<GrantsStore>.Instance);

        var watch = Stopwatch.StartNew();
        var allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        var result = store.Apply(GrantMessageKind.Snapshot, signed);
        watch.Stop();

        output.WriteLine($"100k-share snapshot: {signed.Length / (1024.0 * 1024):F1} MiB signed, applied in {watch.ElapsedMilliseconds} ms, {(GC.GetAllocatedBytesForCurrentThread() - allocatedBefore) / (1024.0 * 1024):F0} MiB allocated; limit {defaultLimit / (1024 * 1024)} MiB");
        Assert.Equal(GrantApplyOutcome.Applied, result.Outcome);
        Assert.True(signed.Length <= defaultLimit, $"the default limit {defaultLimit} must hold the snapshot of {signed.Length} bytes");
        Assert.True(store.IsAllowed("viewer99999@customer345.example", "nvr-0499-2f9c41", 8, Privilege.Playback));
        Assert.False(store.IsAllowed("viewer99999@customer345.example", "nvr-0499-2f9c41", 8, Privilege.Ptz));
    }
}
