using HikShareGateway.Media;

namespace HikShareGateway.WebRtc.Viewing;

/// <summary>What a <see cref="WebRtcOutput"/> sends to: one viewer's session (a seam, so the output is tested without DTLS).</summary>
public interface IWebRtcMediaSender
{
    /// <summary>One camera video RTP payload (H.264 single NAL, STAP-A or FU-A), re-packetized by the session to its MTU.</summary>
    void SendVideoRtpPayload(ReadOnlySpan<byte> payload, uint timestamp, bool marker);

    /// <summary>One G.711 payload as the camera sent it.</summary>
    void SendAudio(ReadOnlySpan<byte> payload, uint timestamp, bool marker);
}

/// <summary>
/// The WebRTC output of the media core: one <see cref="IMediaSubscriber"/> per viewer on the shared
/// <see cref="LiveStream"/> (no second upstream). The stream's read loop enqueues shared, reference-counted packets
/// (never copied here); <see cref="Flush"/> drains them on the flushing thread into the viewer's session, which writes
/// its own header (SSRC, sequence, timestamp base) and SRTP-protects into its own buffer.
/// <para>
/// :: Step 1: subscribed once DTLS-SRTP is up, the stream replays its cached GOP first (starts with a keyframe), so the
///    first picture comes at once.
/// :: Step 2: the bounded queue follows the media core's <see cref="SubscriberQueuePolicy"/>, as RTSP viewers: over its
///    byte or age bound the queue is dropped and the viewer resumes at the next keyframe; too many overflows disconnect.
/// :: Step 3: a keyframe request (PLI/FIR) re-subscribes, which replays the cached GOP; timestamps are shifted so that
///    the replayed frames continue our timeline instead of going back (the browser would drop them as old).
/// :: Step 4: timestamps and sequence numbers of the source are already continuous across upstream reconnects
///    (<see cref="RtpContinuity"/> in the stream); the session renumbers per viewer on top.
/// </para>
/// No allocation per packet: the media core's SubscriberRing (allocates only when it grows), a ref struct RTP view, spans to the session.
/// </summary>
public sealed class WebRtcOutput : IMediaSubscriber
{
    private const int InitialRingCapacity = 64;
    private const int MaxRingCapacity = 8192;
    /// <summary>One frame at 25 fps in 90 kHz: the gap put between the last frame sent and a replayed GOP.</summary>
    private const uint ReplayGap = 3600;

    private readonly IWebRtcMediaSender _sender;
    private readonly SubscriberQueuePolicy _policy;
    private readonly TimeProvider _time;
    private readonly Action<string> _disconnect;
    private readonly int _videoTrack, _audioTrack, _audioClockRate;
    private readonly Lock _gate = new();
    // Beside each packet: whether it starts a replayed GOP (timestamps to rebase).
    private readonly SubscriberRing<bool> _ring = new(InitialRingCapacity, MaxRingCapacity);
    private bool _rebaseNext, _completed;
    private int _pending, _draining;

    // Drainer state (one drainer at a time).
    private bool _sentVideo;
    private uint _lastVideoOut;
    private uint _videoOffset, _audioOffset;

    /// <param name="videoTrack">The stream's video track the session negotiated, or -1.</param>
    /// <param name="audioTrack">The stream's audio track the session negotiated (G.711), or -1.</param>
    /// <param name="disconnect">Called (once, outside locks) when the policy disconnects a viewer that stays too slow.</param>
    public WebRtcOutput(IWebRtcMediaSender sender, int videoTrack, int audioTrack, int audioClockRate, SubscriberQueueLimits limits, TimeProvider time, Action<string> disconnect)
    {
        _sender = sender;
        _videoTrack = videoTrack;
        _audioTrack = audioTrack;
        _audioClockRate = audioClockRate <= 0 ? 8000 : audioClockRate;
        _policy = new SubscriberQueuePolicy(limits, time);
        _time = time;
        _disconnect = disconnect;
    }

    public long PacketsSent { get; private set; }
    public long PacketsDropped { get; private set; }

    /// <summary>Starting (or replaying the GOP on a keyframe request): the queue restarts at the next keyframe start.</summary>
    public void WaitForKeyframe(bool hasVideo)
    {
        lock (_gate)
        {
            DropQueuedLocked();
            _policy.WaitForKeyframe(hasVideo && _videoTrack >= 0);
            _rebaseNext = true;
        }
    }

    public void Enqueue(RtpBuffer buffer, long now)
    {
        string? disconnect;
        lock (_gate)
        {
            disconnect = EnqueueLocked(buffer, now);
        }
        if (disconnect is not null)
        {
            _disconnect(disconnect);
        }
    }

    /// <summary>A frame's packets (or a read's audio) under one lock; each as <see cref="Enqueue(RtpBuffer, long)"/>.</summary>
    public void Enqueue(ReadOnlySpan<RtpBuffer> packets)
    {
        string? disconnect = null;
        lock (_gate)
        {
            foreach (var buffer in packets)
            {
                if ((disconnect = EnqueueLocked(buffer, buffer.ReceivedAt)) is not null)
                {
                    break;
                }
            }
        }
        if (disconnect is not null)
        {
            _disconnect(disconnect);
        }
    }

    /// <returns>Why the viewer must be disconnected (it then takes nothing more), or null.</returns>
    private string? EnqueueLocked(RtpBuffer buffer, long now)
    {
        if (buffer.IsRtcp || (buffer.Track != _videoTrack && buffer.Track != _audioTrack))
        {
            return null; // the camera's RTCP is not forwarded: the session writes its own sender reports
        }
        if (_completed)
        {
            return null;
        }
        var room = _ring.EnsureRoom();
        switch (_policy.Offer(buffer, now, _ring.QueuedBytes, _ring.OldestPacketAge(_time, now), room, 0, out var disconnect))
        {
            case SubscriberQueuePolicy.Decision.Accept:
                AppendLocked(buffer, now);
                break;
            case SubscriberQueuePolicy.Decision.SkipToKeyframe:
                PacketsDropped++;
                break;
            case SubscriberQueuePolicy.Decision.Overflow:
                DropQueuedLocked();
                if (disconnect is null && buffer.IsKeyframeStart)
                {
                    AppendLocked(buffer, now);
                }
                else
                {
                    PacketsDropped++;
                }
                break;
            case SubscriberQueuePolicy.Decision.Stalled:
                break;
        }
        if (disconnect is not null)
        {
            _completed = true;
            DropQueuedLocked();
        }
        return disconnect;
    }

    public void Flush()
    {
        if (Interlocked.Exchange(ref _pending, 0) != 0)
        {
            Drain();
        }
    }

    /// <summary>Stops delivery and releases every queued packet (the session ended).</summary>
    public void Complete()
    {
        lock (_gate)
        {
            _completed = true;
            DropQueuedLocked();
        }
    }

    /// <summary>Sends the queue on the calling thread; a concurrent flush leaves it to the drainer already running.</summary>
    private void Drain()
    {
        while (Interlocked.CompareExchange(ref _draining, 1, 0) == 0)
        {
            try
            {
                while (TryDequeue(out var buffer, out var rebase))
                {
                    try
                    {
                        Send(buffer, rebase);
                    }
                    finally
                    {
                        buffer.Release();
                    }
                }
            }
            finally
            {
                Volatile.Write(ref _draining, 0);
            }
            // An enqueue that came after our last dequeue and whose flush saw us draining: take it too.
            lock (_gate)
            {
                if (_ring.Count == 0)
                {
                    return;
                }
            }
        }
    }

    private bool TryDequeue(out RtpBuffer buffer, out bool rebase)
    {
        lock (_gate)
        {
            var taken = _ring.TryTake(out var slot);
            buffer = slot.Buffer!;
            rebase = slot.Tag;
            return taken;
        }
    }

    private void Send(RtpBuffer buffer, bool rebase)
    {
        if (!RtpPacket.TryParse(buffer.PacketSpan, out var rtp))
        {
            return;
        }
        if (rebase && _sentVideo && buffer.Track == _videoTrack)
        {
            // RFC 3550 §5.1: timestamps must not go back; move the replayed GOP after the last frame sent, audio by the same time.
            var newOffset = unchecked(_lastVideoOut + ReplayGap - rtp.Timestamp);
            var delta = unchecked((int)(newOffset - _videoOffset));
            _videoOffset = newOffset;
            _audioOffset = unchecked(_audioOffset + (uint)(int)((long)delta * _audioClockRate / 90000));
        }
        if (buffer.Track == _videoTrack)
        {
            var ts = unchecked(rtp.Timestamp + _videoOffset);
            _sender.SendVideoRtpPayload(rtp.Payload, ts, rtp.Marker);
            _lastVideoOut = ts;
            _sentVideo = true;
        }
        else
        {
            _sender.SendAudio(rtp.Payload, unchecked(rtp.Timestamp + _audioOffset), rtp.Marker);
        }
        PacketsSent++;
    }

    private void AppendLocked(RtpBuffer buffer, long now)
    {
        _ring.TryAppend(buffer, now, _rebaseNext);
        _rebaseNext = false;
        Volatile.Write(ref _pending, 1);
    }

    private void DropQueuedLocked() => PacketsDropped += _ring.Clear();
}
