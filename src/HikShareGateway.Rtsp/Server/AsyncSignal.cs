using System.Threading.Tasks.Sources;

namespace HikShareGateway.Rtsp.Server;

/// <summary>
/// An allocation-free auto-reset signal for exactly one waiter (a viewer's writer loop). <see cref="Set"/> runs a
/// waiting writer inline, on the caller's thread: its sends are non-blocking (<see cref="Transport.GatherSend"/>; a full socket
/// makes the writer continue asynchronously), so the caller gets its thread back at once, and the relay spreads
/// its viewers' flushes over a few threads (<c>LiveStream.OnBatchEnd</c>) instead of one thread-pool hop per viewer.
/// Callers must not hold a lock the writer takes.
/// </summary>
internal sealed class AsyncSignal : IValueTaskSource
{
    private const int Idle = 0, Signaled = 1, Waiting = 2;
    private ManualResetValueTaskSourceCore<bool> _core = new() { RunContinuationsAsynchronously = false };
    private int _state;

    public ValueTask WaitAsync()
    {
        if (Interlocked.CompareExchange(ref _state, Idle, Signaled) == Signaled)
        {
            return default;
        }
        _core.Reset();
        if (Interlocked.CompareExchange(ref _state, Waiting, Idle) == Idle)
        {
            return new ValueTask(this, _core.Version);
        }
        // Set ran between the two exchanges: consume it.
        Volatile.Write(ref _state, Idle);
        return default;
    }

    public void Set()
    {
        while (true)
        {
            switch (Volatile.Read(ref _state))
            {
                case Signaled:
                    return;
                case Idle:
                    if (Interlocked.CompareExchange(ref _state, Signaled, Idle) == Idle)
                    {
                        return;
                    }
                    break;
                default:
                    if (Interlocked.CompareExchange(ref _state, Idle, Waiting) == Waiting)
                    {
                        _core.SetResult(true);
                        return;
                    }
                    break;
            }
        }
    }

    void IValueTaskSource.GetResult(short token) => _core.GetResult(token);
    ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _core.GetStatus(token);
    void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
        => _core.OnCompleted(continuation, state, token, flags);
}
