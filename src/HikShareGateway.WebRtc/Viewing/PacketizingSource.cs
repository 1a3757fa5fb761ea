using System.Buffers.Binary;
using HikShareGateway.Media;
using HikShareGateway.WebRtc.Rtp;

namespace HikShareGateway.WebRtc.Viewing;

/// <summary>
/// The source of a WebRTC-packetized stream (<see cref="PacketizedStreams"/>): one subscriber on a live stream that
/// re-cuts its video to the WebRTC payload size once (<see cref="VideoRepacketizer"/>) and hands the result, as new
/// pooled packets, to a second <see cref="LiveStream"/> whose subscribers are the WebRTC viewers. Every viewer then
/// shares those packets by reference; per viewer only the RTP header and SRTP remain.
/// <para>
/// :: Step 1: subscribed at the source's cached GOP (from a keyframe start); video before the first keyframe start is
///    not passed, so the NAL units start clean.
/// :: Step 2: <see cref="IMediaSubscriber.Enqueue(RtpBuffer, long)"/> (the source stream's delivery) only queues a reference;
///    <see cref="IMediaSubscriber.Flush"/> (after each complete frame) re-cuts the queue on the flushing thread, one
///    drainer at a time, and ends with the sink's batch end, which wakes the viewers' writers.
/// :: Step 3: audio packets are copied once into packets of their own (the stream renumbers packets in place, and
///    the source's are shared); RTCP is not passed (each session writes its own sender reports).
/// :: Step 4: the source stream ending for good (tracks changed, a transcoder failing) ends this one with the same
///    reason, so its viewers leave as they did on the source.
/// </para>
/// </summary>
internal sealed class PacketizingSource : IMediaSource, IMediaSubscriber, IRepacketizerTarget
{
    private const int MaxQueued = 8192;

    private readonly LiveStreamLease _source;
    private readonly VideoRepacketizer? _video;
    private readonly int _videoTrack;
    private readonly Lock _gate = new();
    private readonly SubscriberRing<NoTag> _ring = new(64, MaxQueued);
    private readonly TaskCompletionSource _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private IMediaSink? _sink;
    private string? _endReason;
    private int _pending, _draining;
    private bool _completed;

    // Drainer state (one drainer at a time).
    private bool _started;
    private RtpBuffer? _out;
    private ushort _sequence = (ushort)Random.Shared.Next(0, 0x8000);
    private byte _payloadType;
    private uint _timestamp, _ssrc;
    private long _receivedAt;

    public PacketizingSource(LiveStreamLease source, MediaDescription media, int maxPayload)
    {
        _source = source;
        Media = media;
        _videoTrack = media.VideoTrack;
        var codec = media.VideoCodec;
        if (codec is VideoCodec.H264 or VideoCodec.H265)
        {
            _video = new VideoRepacketizer(codec == VideoCodec.H265, maxPayload);
        }
    }

    public MediaDescription Media { get; }

    /// <summary>Video packets in, packets out (the figure behind "packets per camera packet").</summary>
    public long VideoIn { get; private set; }
    public long VideoOut { get; private set; }

    public async Task RunAsync(IMediaSink sink, CancellationToken ct)
    {
        _sink = sink;
        var stream = _source.Stream;
        stream.Invalidated += OnInvalidated;
        stream.Subscribe(this);
        try
        {
            await _ended.Task.WaitAsync(ct).ConfigureAwait(false);
        }
        finally
        {
            stream.Unsubscribe(this);
            stream.Invalidated -= OnInvalidated;
            lock (_gate)
            {
                _completed = true;
                _ring.Clear();
            }
        }
        throw new MediaSourceEndedException(_endReason ?? "the stream ended");
    }

    private void OnInvalidated(string reason)
    {
        _endReason = reason;
        _ended.TrySetResult();
    }

    void IMediaSubscriber.WaitForKeyframe(bool hasVideo)
    {
        lock (_gate)
        {
            _ring.Clear();
        }
    }

    void IMediaSubscriber.Enqueue(RtpBuffer buffer, long now)
    {
        if (buffer.IsRtcp)
        {
            return;
        }
        lock (_gate)
        {
            if (_completed)
            {
                return;
            }
            if (!_ring.TryAppend(buffer, now))
            {
                // Never expected (the drain runs at every frame): start again at the next keyframe.
                _ring.Clear();
                Volatile.Write(ref _restart, 1);
                return;
            }
            Volatile.Write(ref _pending, 1);
        }
    }

    private int _restart;

    void IMediaSubscriber.Flush()
    {
        if (Interlocked.Exchange(ref _pending, 0) == 0)
        {
            return;
        }
        while (Interlocked.CompareExchange(ref _draining, 1, 0) == 0)
        {
            var any = false;
            try
            {
                while (TryTake(out var buffer))
                {
                    any = true;
                    try
                    {
                        Process(buffer);
                    }
                    finally
                    {
                        buffer.Release();
                    }
                }
                if (any)
                {
                    _sink?.OnBatchEnd();
                }
            }
            finally
            {
                Volatile.Write(ref _draining, 0);
            }
            lock (_gate)
            {
                if (_ring.Count == 0)
                {
                    return;
                }
            }
        }
    }

    private bool TryTake(out RtpBuffer buffer)
    {
        lock (_gate)
        {
            var taken = _ring.TryTake(out var slot);
            buffer = slot.Buffer!;
            return taken;
        }
    }

    private void Process(RtpBuffer buffer)
    {
        if (_sink is not { } sink || !RtpPacket.TryParse(buffer.PacketSpan, out var rtp))
        {
            return;
        }
        if (buffer.Track != _videoTrack || _video is null)
        {
            // Audio (or a video codec we do not cut): one copy per stream, never per viewer.
            var copy = RtpBufferPool.Shared.Rent();
            buffer.PacketSpan.CopyTo(copy.Prepare(buffer.Length));
            copy.Commit(buffer.Length, buffer.Track, rtcp: false, buffer.ReceivedAt);
            sink.OnPacket(copy);
            return;
        }
        if (Interlocked.Exchange(ref _restart, 0) != 0)
        {
            _started = false;
        }
        if (!_started)
        {
            if (!buffer.IsKeyframeStart)
            {
                return;
            }
            _started = true;
            _video.Reset();
        }
        VideoIn++;
        _payloadType = (byte)rtp.PayloadType;
        _timestamp = rtp.Timestamp;
        _ssrc = rtp.Ssrc;
        _receivedAt = buffer.ReceivedAt;
        _video.Push(rtp.Payload, rtp.SequenceNumber, rtp.Marker, this);
    }

    Span<byte> IRepacketizerTarget.BeginPayload()
    {
        _out = RtpBufferPool.Shared.Rent();
        return _out.Prepare(RtpStreamWriter.HeaderLength + _video!.MaxPayload)[RtpStreamWriter.HeaderLength..];
    }

    void IRepacketizerTarget.EndPayload(int length, bool marker)
    {
        var packet = _out!;
        _out = null;
        // RFC 3550 §5.1: the source's SSRC and timestamp, our own sequence (the stream renumbers it in place anyway).
        var header = packet.Prepare(RtpStreamWriter.HeaderLength + length);
        header[0] = 0x80;
        header[1] = (byte)((marker ? 0x80 : 0) | _payloadType);
        BinaryPrimitives.WriteUInt16BigEndian(header[2..], _sequence++);
        BinaryPrimitives.WriteUInt32BigEndian(header[4..], _timestamp);
        BinaryPrimitives.WriteUInt32BigEndian(header[8..], _ssrc);
        packet.Commit(RtpStreamWriter.HeaderLength + length, _videoTrack, rtcp: false, _receivedAt);
        VideoOut++;
        _sink!.OnPacket(packet);
    }

    public ValueTask DisposeAsync()
    {
        _source.Dispose();
        return ValueTask.CompletedTask;
    }
}
