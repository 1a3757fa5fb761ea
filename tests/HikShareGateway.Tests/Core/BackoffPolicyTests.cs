using HikShareGateway.Core.Resilience;
using HikShareGateway.Tests.Infrastructure;
using Microsoft.Extensions.Time.Testing;

namespace HikShareGateway.Tests.Core;

[Trait("Category", "Unit")]
public sealed class BackoffPolicyTests
{
    [Fact]
    public void Delay_DoublesFromFirst_CappedAtMax_WithoutJitterByDefault()
    {
        var p = new BackoffPolicy(TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(30));
        Assert.Equal([2, 4, 8, 16, 30, 30], Enumerable.Range(0, 6).Select(a => p.Delay(a).TotalSeconds));
        Assert.Equal(30, p.Delay(int.MaxValue).TotalSeconds);
        Assert.Equal(2, p.Delay(-1).TotalSeconds);
    }

    [Fact]
    public void Delay_Jitter_ScalesTheCappedDelayWithinItsBounds()
    {
        var p = BackoffPolicy.WithJitter(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(60));
        Assert.Equal(0.8, p.Delay(0, 0).TotalSeconds, 3);
        Assert.Equal(1.2, p.Delay(0, 1).TotalSeconds, 3);
        Assert.Equal(72, p.Delay(100, 1).TotalSeconds, 3);
        for (var i = 0; i < 100; i++)
        {
            var d = p.Delay(2).TotalSeconds;
            Assert.InRange(d, 3.2, 4.8);
        }
    }

    [Fact]
    public void Delay_MaxBelowFirst_IsAlwaysMax()
    {
        var p = new BackoffPolicy(TimeSpan.FromSeconds(2), TimeSpan.FromMilliseconds(500));
        Assert.Equal(0.5, p.Delay(0).TotalSeconds);
        Assert.Equal(0.5, p.Delay(5).TotalSeconds);
    }

    [Fact]
    public async Task RetryForever_WaitsEachDelayOnTheInjectedClock_ThenSucceeds()
    {
        var time = new TimerCountingTime();
        var policy = new BackoffPolicy(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(10));
        var delays = new List<TimeSpan>();
        var attempts = 0;
        var pipeline = policy.RetryForever(time, e => e is InvalidOperationException, (_, d, _) => { lock (delays) { delays.Add(d); } });

        var run = pipeline.ExecuteAsync(_ => ++attempts <= 3 ? throw new InvalidOperationException("down") : ValueTask.CompletedTask, CancellationToken.None).AsTask();

        await Wait.UntilAsync(() => Volatile.Read(ref attempts) == 1, "first attempt");
        foreach (var (after, wait) in new[] { (2, 1), (3, 2), (4, 4) })
        {
            // The retry's delay timer exists before the clock moves (else it would start from the moved clock).
            await Wait.UntilAsync(() => time.Timers >= after - 1, $"the delay timer before attempt {after}");
            // Nothing happens until the fake clock reaches the delay.
            time.Advance(TimeSpan.FromSeconds(wait) - TimeSpan.FromMilliseconds(1));
            Assert.Equal(after - 1, Volatile.Read(ref attempts));
            time.Advance(TimeSpan.FromMilliseconds(1));
            await Wait.UntilAsync(() => Volatile.Read(ref attempts) == after, $"attempt {after}");
        }
        await run;
        Assert.Equal([1, 2, 4], delays.Select(d => d.TotalSeconds));
    }

    [Fact]
    public async Task RetryForever_FailureItShouldNotRetry_OrCancellation_EndsIt()
    {
        var time = new FakeTimeProvider();
        var pipeline = new BackoffPolicy(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(10)).RetryForever(time, e => e is InvalidOperationException);

        await Assert.ThrowsAsync<FormatException>(async () => await pipeline.ExecuteAsync(_ => throw new FormatException(), CancellationToken.None));

        using var cts = new CancellationTokenSource();
        var attempts = 0;
        var run = pipeline.ExecuteAsync(_ => { attempts++; throw new InvalidOperationException(); }, cts.Token).AsTask();
        await Wait.UntilAsync(() => Volatile.Read(ref attempts) == 1, "first attempt");
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);
        Assert.Equal(1, attempts);
    }

    /// <summary>A fake clock that counts the timers made on it: Polly makes one per retry delay.</summary>
    private sealed class TimerCountingTime : FakeTimeProvider
    {
        private int _timers;
        public int Timers => Volatile.Read(ref _timers);

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            var timer = base.CreateTimer(callback, state, dueTime, period);
            Interlocked.Increment(ref _timers);
            return timer;
        }
    }
}
