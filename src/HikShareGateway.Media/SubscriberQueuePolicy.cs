namespace HikShareGateway.Media;

/// <summary>Bounds of one subscriber's queue (for RTSP viewers: section <c>Rtsp</c>).</summary>
/// <param name="MaxBytes">Queued packet bytes above which the queue overflows.</param>
/// <param name="MaxDelay">Age of the oldest queued packet above which the queue overflows.</param>
/// <param name="MaxOverflows">An overflow that comes after this many within <paramref name="OverflowWindow"/> disconnects the subscriber.</param>
/// <param name="StalledSend">A send that makes no progress this long disconnects the subscriber.</param>
public sealed record SubscriberQueueLimits(int MaxBytes, TimeSpan MaxDelay, int MaxOverflows, TimeSpan OverflowWindow, TimeSpan StalledSend);

/// <summary>
/// The slow-consumer policy of one subscriber's bounded queue, for any output (the RTSP viewer output uses it; a
/// WebRTC or fMP4 output would too). Backpressure is a decision, never a wait: when the queue is over
/// <see cref="SubscriberQueueLimits.MaxBytes"/> or its oldest packet older than <see cref="SubscriberQueueLimits.MaxDelay"/>,
/// the output drops its queued packets and the subscriber resumes at the next keyframe (it sees a jump, not a smear);
/// <see cref="SubscriberQueueLimits.MaxOverflows"/> overflows within the window, or a send stalled for
/// <see cref="SubscriberQueueLimits.StalledSend"/>, disconnect it. Holds no packets itself; the owner calls it under
/// its queue's lock and does no allocation on the packet path.
/// </summary>
public sealed class SubscriberQueuePolicy
{
    private readonly SubscriberQueueLimits _limits;
    private readonly TimeProvider _time;
    private readonly long[] _overflowTimes;
    private int _overflowIndex;
    private bool _waitingForKeyframe;

    public SubscriberQueuePolicy(SubscriberQueueLimits limits, TimeProvider time)
    {
        _limits = limits;
        _time = time;
        _overflowTimes = new long[Math.Max(1, limits.MaxOverflows)];
    }

    public SubscriberQueueLimits Limits => _limits;

    /// <summary>Starting or resuming delivery: with video, nothing is queued before a keyframe start.</summary>
    public void WaitForKeyframe(bool hasVideo) => _waitingForKeyframe = hasVideo;

    /// <summary>What to do with one packet offered to the queue.</summary>
    public enum Decision
    {
        /// <summary>Queue it.</summary>
        Accept,
        /// <summary>Drop it: the subscriber waits for a keyframe start.</summary>
        SkipToKeyframe,
        /// <summary>
        /// The queue overflowed: drop every queued packet (keeping control messages); then, unless
        /// <c>disconnect</c> is set, queue this one if it is a <see cref="RtpBuffer.IsKeyframeStart"/>.
        /// </summary>
        Overflow,
        /// <summary>The send stalled: disconnect.</summary>
        Stalled,
    }

    /// <param name="queuedBytes">Packet bytes queued now.</param>
    /// <param name="oldestAge">How long the oldest queued packet has waited.</param>
    /// <param name="roomLeft">False when the queue cannot take one more entry.</param>
    /// <param name="sendStartedAt">When the send in progress began (timestamp), 0 if none.</param>
    /// <param name="disconnect">Why the subscriber must be disconnected, with <see cref="Decision.Stalled"/> and the overflow that was one too many.</param>
    public Decision Offer(RtpBuffer buffer, long now, long queuedBytes, TimeSpan oldestAge, bool roomLeft, long sendStartedAt, out string? disconnect)
    {
        disconnect = null;
        if (_waitingForKeyframe)
        {
            if (!buffer.IsKeyframeStart)
            {
                return Decision.SkipToKeyframe;
            }
            _waitingForKeyframe = false;
        }
        if (sendStartedAt != 0 && _time.GetElapsedTime(sendStartedAt, now) > _limits.StalledSend)
        {
            disconnect = $"no send progress for {_limits.StalledSend.TotalSeconds:0} s";
            return Decision.Stalled;
        }
        if (!roomLeft || queuedBytes + buffer.Length > _limits.MaxBytes || oldestAge > _limits.MaxDelay)
        {
            if (RecordOverflow(now))
            {
                disconnect = $"fell behind {_limits.MaxOverflows} times within {_limits.OverflowWindow.TotalSeconds:0} s";
            }
            else if (buffer.IsKeyframeStart)
            {
                _waitingForKeyframe = false;
            }
            return Decision.Overflow;
        }
        return Decision.Accept;
    }

    /// <summary>Counts an overflow and skips to the next keyframe; true when the oldest of the MaxOverflows before it is within the window.</summary>
    private bool RecordOverflow(long now)
    {
        _waitingForKeyframe = true;
        var oldest = _overflowTimes[_overflowIndex];
        _overflowTimes[_overflowIndex] = now;
        _overflowIndex = (_overflowIndex + 1) % _overflowTimes.Length;
        return oldest != 0 && _time.GetElapsedTime(oldest, now) < _limits.OverflowWindow;
    }
}
