namespace HikShareGateway.Rtsp.Transport;

/// <summary>
/// A cancellation that fires when the caller's token does or when a delay on the injected <see cref="TimeProvider"/>
/// runs out, so that tests drive timeouts with a fake clock (<see cref="CancellationTokenSource.CancelAfter(TimeSpan)"/>
/// on a linked source would use the system timer instead). <see cref="Reset"/> moves the deadline, also on that clock.
/// </summary>
public sealed class Deadline : IDisposable
{
    private readonly CancellationTokenSource _timer;
    private readonly CancellationTokenSource _linked;

    public Deadline(TimeSpan delay, TimeProvider time, CancellationToken ct)
    {
        _timer = new CancellationTokenSource(delay, time);
        _linked = CancellationTokenSource.CreateLinkedTokenSource(ct, _timer.Token);
    }

    public CancellationToken Token => _linked.Token;

    /// <summary>True once the delay ran out (as opposed to the caller's token firing).</summary>
    public bool Expired => _timer.IsCancellationRequested;

    /// <summary>A new deadline <paramref name="delay"/> from now (<see cref="Timeout.InfiniteTimeSpan"/>: none).</summary>
    public void Reset(TimeSpan delay) => _timer.CancelAfter(delay);

    public void Dispose()
    {
        _linked.Dispose();
        _timer.Dispose();
    }
}
