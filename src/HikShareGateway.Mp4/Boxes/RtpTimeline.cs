namespace HikShareGateway.Mp4.Boxes;

/// <summary>
/// Turns 32-bit RTP timestamps (RFC 3550 §5.1, wrapping) into a 64-bit media time that starts at 0 with the
/// first timestamp and stays continuous across wraps. A timestamp behind the latest one (reordering) gives
/// the same time as the latest, so decode times never go backwards.
/// </summary>
public struct RtpTimeline
{
    private bool _started;
    private uint _last;
    private ulong _time;

    public readonly bool IsStarted => _started;

    public ulong Extend(uint timestamp)
    {
        if (!_started)
        {
            _started = true;
            _last = timestamp;
            _time = 0;
            return 0;
        }

        int delta = (int)(timestamp - _last);
        if (delta > 0)
        {
            _time += (ulong)delta;
            _last = timestamp;
        }

        return _time;
    }
}
