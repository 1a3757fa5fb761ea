using HikShareGateway.Rtsp.Transport;
using Microsoft.Extensions.Time.Testing;

namespace HikShareGateway.Tests.Rtsp.Transport;

/// <summary>The RTSP timeouts run on the injected clock: a fake one decides when they fire.</summary>
[Trait("Category", "Unit")]
public sealed class DeadlineTests
{
    private readonly FakeTimeProvider _time = new();

    [Fact]
    public void Deadline_FakeClock_FiresOnlyWhenTheClockPassesIt()
    {
        using var deadline = new Deadline(TimeSpan.FromSeconds(10), _time, CancellationToken.None);
        _time.Advance(TimeSpan.FromSeconds(9.9));
        Assert.False(deadline.Token.IsCancellationRequested);
        _time.Advance(TimeSpan.FromSeconds(0.1));
        Assert.True(deadline.Token.IsCancellationRequested);
        Assert.True(deadline.Expired);
    }

    [Fact]
    public void Reset_MovesTheDeadlineOnTheSameClock()
    {
        using var deadline = new Deadline(TimeSpan.FromSeconds(10), _time, CancellationToken.None);
        _time.Advance(TimeSpan.FromSeconds(8));
        deadline.Reset(TimeSpan.FromSeconds(10));
        _time.Advance(TimeSpan.FromSeconds(8));
        Assert.False(deadline.Token.IsCancellationRequested);
        _time.Advance(TimeSpan.FromSeconds(2));
        Assert.True(deadline.Expired);
    }

    [Fact]
    public void Reset_Infinite_NeverFires()
    {
        using var deadline = new Deadline(TimeSpan.FromSeconds(1), _time, CancellationToken.None);
        deadline.Reset(Timeout.InfiniteTimeSpan);
        _time.Advance(TimeSpan.FromDays(1));
        Assert.False(deadline.Token.IsCancellationRequested);
    }

    [Fact]
    public void CallerToken_CancelsWithoutExpiring()
    {
        using var caller = new CancellationTokenSource();
        using var deadline = new Deadline(TimeSpan.FromSeconds(10), _time, caller.Token);
        caller.Cancel();
        Assert.True(deadline.Token.IsCancellationRequested);
        Assert.False(deadline.Expired);
    }
}
