using HikShareGateway.Rtsp.Server;
using Microsoft.Extensions.Time.Testing;

namespace HikShareGateway.Tests.Rtsp.Server;

/// <summary>The viewer connection's wait for its next request, on a fake clock.</summary>
[Trait("Category", "Unit")]
public sealed class RequestDeadlineTests
{
    [Fact]
    public void Fires_WhenOnExpiryAnswersZero_ButIsAskedAgainWhileItAnswersADelay()
    {
        var time = new FakeTimeProvider();
        var asked = 0;
        var answer = TimeSpan.FromSeconds(5);
        using var deadline = new RequestDeadline(TimeSpan.FromSeconds(5), time, CancellationToken.None, () => { asked++; return answer; });
        time.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal(1, asked);
        Assert.False(deadline.Token.IsCancellationRequested);
        time.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal(2, asked);
        answer = TimeSpan.Zero;
        time.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal(3, asked);
        Assert.True(deadline.Token.IsCancellationRequested);
    }

    [Fact]
    public void ResetAfterFiring_GivesAFreshToken_SoAnOutlastingRequestDoesNotCancelTheNextRead()
    {
        var time = new FakeTimeProvider();
        using var deadline = new RequestDeadline(TimeSpan.FromSeconds(5), time, CancellationToken.None, () => TimeSpan.Zero);
        // A request is being handled (a DESCRIBE waiting for a slow camera) when the budget runs out.
        time.Advance(TimeSpan.FromSeconds(6));
        Assert.True(deadline.Token.IsCancellationRequested);
        // Handled: the connection resets its wait for the next request, which is not cancelled.
        deadline.Reset(TimeSpan.FromSeconds(60));
        Assert.False(deadline.Token.IsCancellationRequested);
        time.Advance(TimeSpan.FromSeconds(59));
        Assert.False(deadline.Token.IsCancellationRequested);
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(deadline.Token.IsCancellationRequested);
    }

    [Fact]
    public void Reset_MovesTheDeadline_AndInfiniteStopsIt()
    {
        var time = new FakeTimeProvider();
        using var deadline = new RequestDeadline(TimeSpan.FromSeconds(5), time, CancellationToken.None, () => TimeSpan.Zero);
        time.Advance(TimeSpan.FromSeconds(4));
        deadline.Reset(TimeSpan.FromSeconds(5));
        time.Advance(TimeSpan.FromSeconds(4));
        Assert.False(deadline.Token.IsCancellationRequested);
        deadline.Reset(Timeout.InfiniteTimeSpan);
        time.Advance(TimeSpan.FromHours(1));
        Assert.False(deadline.Token.IsCancellationRequested);
    }

    [Fact]
    public void TheCallersToken_CancelsIt()
    {
        var time = new FakeTimeProvider();
        using var cts = new CancellationTokenSource();
        using var deadline = new RequestDeadline(TimeSpan.FromSeconds(5), time, cts.Token, () => TimeSpan.Zero);
        cts.Cancel();
        Assert.True(deadline.Token.IsCancellationRequested);
        deadline.Reset(TimeSpan.FromSeconds(5));
        Assert.True(deadline.Token.IsCancellationRequested);
    }
}
