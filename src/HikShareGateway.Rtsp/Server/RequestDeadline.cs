namespace HikShareGateway.Rtsp.Server;

/// <summary>
/// The viewer connection's wait for its next request: <see cref="Token"/> is cancelled when a delay on the injected
/// <see cref="TimeProvider"/> runs out, unless <c>onExpiry</c>, asked then, answers a further delay (it answers
/// <see cref="TimeSpan.Zero"/> to let it fire). <see cref="Reset"/> sets a new delay from now, and after a firing also
/// a new token: a request whose handling outlasted the delay (a DESCRIBE waiting for a slow camera) does not leave the
/// next read cancelled. Read <see cref="Token"/> again after each <see cref="Reset"/>.
/// </summary>
internal sealed class RequestDeadline : IDisposable
{
    private readonly Lock _gate = new();
    private readonly CancellationToken _outer;
    private readonly TimeProvider _time;
    private readonly ITimer _timer;
    private readonly Func<TimeSpan> _onExpiry;
    private CancellationTokenSource _cts;
    private long _due; // timestamp the current delay ends at; long.MaxValue: none
    private bool _disposed;

    public RequestDeadline(TimeSpan delay, TimeProvider time, CancellationToken ct, Func<TimeSpan> onExpiry)
    {
        _outer = ct;
        _time = time;
        _onExpiry = onExpiry;
        _cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        _due = Due(delay);
        _timer = time.CreateTimer(static s => ((RequestDeadline)s!).OnTimer(), this, delay, Timeout.InfiniteTimeSpan);
    }

    public CancellationToken Token
    {
        get
        {
            lock (_gate)
            {
                return _cts.Token;
            }
        }
    }

    /// <summary>A new deadline <paramref name="delay"/> from now (<see cref="Timeout.InfiniteTimeSpan"/>: none).</summary>
    public void Reset(TimeSpan delay)
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }
            if (_cts.IsCancellationRequested && !_outer.IsCancellationRequested)
            {
                _cts.Dispose();
                _cts = CancellationTokenSource.CreateLinkedTokenSource(_outer);
            }
            _due = Due(delay);
            _timer.Change(delay, Timeout.InfiniteTimeSpan);
        }
    }

    private long Due(TimeSpan delay) => delay == Timeout.InfiniteTimeSpan ? long.MaxValue : _time.GetTimestamp() + (long)(delay.TotalSeconds * _time.TimestampFrequency);

    private void OnTimer()
    {
        long armed;
        lock (_gate)
        {
            armed = _due;
            if (_disposed || armed == long.MaxValue)
            {
                return;
            }
            var early = armed - _time.GetTimestamp();
            if (early > 0)
            {
                // A callback of an earlier delay that raced a Reset: wait for the current one.
                _timer.Change(TimeSpan.FromSeconds((double)early / _time.TimestampFrequency), Timeout.InfiniteTimeSpan);
                return;
            }
        }
        var more = _onExpiry();
        CancellationTokenSource fired;
        lock (_gate)
        {
            if (_disposed || _due != armed)
            {
                return; // disposed, or Reset while onExpiry was asked: the new delay stands
            }
            if (more > TimeSpan.Zero)
            {
                _due = Due(more);
                _timer.Change(more, Timeout.InfiniteTimeSpan);
                return;
            }
            _due = long.MaxValue;
            fired = _cts;
        }
        try
        {
            fired.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Reset or disposed meanwhile.
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
            _timer.Dispose();
            _cts.Dispose();
        }
    }
}
