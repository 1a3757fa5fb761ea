using HikShareGateway.Core.Access;
using HikShareGateway.Tests.Infrastructure;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace HikShareGateway.Tests.Access;

/// <summary>The per-account session counter shared by RTSP and fMP4 (<c>Limits:SessionsPerAccount</c>, issue 17).</summary>
[Trait("Category", "Unit")]
public sealed class AccountSessionLimiterTests
{
    private readonly FakeTimeProvider _time = new();
    private readonly RecordingLogger<AccountSessionLimiter> _log = new();

    [Fact]
    public void Cap_OneAccountRefusedPastIt_AnotherAccountStillAdmitted_ReleaseGivesTheSlotBack_SecondDisposeDoesNothing()
    {
        var limits = new AccountSessionLimiter(2, _time, _log);
        Assert.True(limits.TryAcquire("bob", "rtsp", out var a));
        Assert.True(limits.TryAcquire("bob", "fmp4", out var b));
        Assert.False(limits.TryAcquire("bob", "rtsp", out var refused));
        Assert.Null(refused);
        Assert.True(limits.TryAcquire("carol", "rtsp", out var c));
        Assert.Equal(2, limits.Held("bob"));
        Assert.Equal(1, limits.Refused);

        a!.Dispose();
        a.Dispose(); // a lease gives back one slot, however often it is disposed
        Assert.Equal(1, limits.Held("bob"));
        Assert.True(limits.TryAcquire("bob", "rtsp", out var d));
        Assert.False(limits.TryAcquire("bob", "rtsp", out _));
        b!.Dispose();
        d!.Dispose();
        c!.Dispose();
        Assert.Equal(0, limits.Held("bob"));
        Assert.Equal(0, limits.Held("carol"));
    }

    [Fact]
    public async Task ConcurrentAcquires_NeverMoreThanTheCapHeld_AndEveryRefusalCounted()
    {
        var limits = new AccountSessionLimiter(10, _time, _log);
        var granted = 0;
        var leases = new System.Collections.Concurrent.ConcurrentBag<IDisposable>();
        await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() =>
        {
            for (var i = 0; i < 100; i++)
            {
                if (limits.TryAcquire("bob", "rtsp", out var lease))
                {
                    Interlocked.Increment(ref granted);
                    leases.Add(lease!);
                }
            }
        })));
        Assert.Equal(10, granted);
        Assert.Equal(10, limits.Held("bob"));
        Assert.Equal(800 - 10, limits.Refused);
        foreach (var lease in leases)
        {
            lease.Dispose();
        }
        Assert.Equal(0, limits.Held("bob"));
    }

    [Fact]
    public void Refusals_OneAggregatedWarningPerInterval_WithTheCountAndTheAccountRefusedMost()
    {
        var limits = new AccountSessionLimiter(1, _time, _log) { ReportInterval = TimeSpan.FromSeconds(10) };
        Assert.True(limits.TryAcquire("bob", "rtsp", out _));
        Assert.True(limits.TryAcquire("carol", "rtsp", out _));
        for (var i = 0; i < 50; i++)
        {
            limits.TryAcquire("bob", "rtsp", out _);
        }
        limits.TryAcquire("carol", "fmp4", out _);
        // The first refusal is reported at once; the other 50 wait for the interval.
        var first = Assert.Single(_log.Entries);
        Assert.Equal(LogLevel.Warning, first.Level);
        Assert.Equal(1100, first.EventId.Id);
        Assert.Contains("Refused 1 viewing session(s)", first.Message);

        _time.Advance(TimeSpan.FromSeconds(10));
        limits.TryAcquire("carol", "rtsp", out _);
        Assert.Equal(2, _log.Entries.Count);
        var second = _log.Entries[1];
        Assert.Contains("Refused 51 viewing session(s) over the last 10 s at the cap of 1 per account", second.Message);
        Assert.Contains("from 2 account(s); most from bob (49)", second.Message);
    }
}
