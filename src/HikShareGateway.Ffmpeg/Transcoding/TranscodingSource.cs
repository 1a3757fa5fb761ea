using System.Buffers;
using System.Threading.Channels;
using HikShareGateway.Core.Devices;
using HikShareGateway.Ffmpeg.Snapshots;
using HikShareGateway.Ffmpeg.Video;
using HikShareGateway.Media;
using Microsoft.Extensions.Logging;
using FfmpegCodec = HikShareGateway.Ffmpeg.Video.VideoCodec;

namespace HikShareGateway.Ffmpeg.Transcoding;

/// <summary>
/// One H.264 transcoder over a live stream, as the source of a derived <see cref="LiveStream"/>: subscribes to the base
/// stream, reassembles its video access units, transcodes them on its own worker (<see cref="VideoTranscoder"/>) and
/// delivers the H.264 as RTP to the derived stream, which shares it with every subscriber. Audio packets are copied
/// across unchanged (the derived stream renumbers what it receives, so it must own its buffers).
/// </summary>
/// <remarks>
/// :: Step 1 (the base stream's delivery, one call at a time, never waits): video payloads → Annex B access unit in a
///    reused buffer; a complete one is copied into a pooled array and queued (bounded); audio → a pooled RtpBuffer.
///    A full queue drops what comes until the next keyframe: the base stream's other viewers never wait for us.
/// :: Step 2 (worker): decode → scale → libx264 → RTP (FU-A), one batch per access unit.
/// :: Step 3: a failure of the decoder or encoder ends <see cref="RunAsync"/> with <see cref="MediaSourceEndedException"/>:
///    the derived stream logs the reason, invalidates (its viewers, and only they, are disconnected) and stops. The base
///    stream changing its tracks is a <see cref="DeviceException"/>: retried with backoff while the viewers stay.
/// </remarks>
internal sealed partial class TranscodingSource : IMediaSource, IMediaSubscriber
{
    // One second at 25 fps: a transcoder that falls behind adds at most this much latency, then skips to a keyframe.
    private const int QueueCapacity = 25;

    private static readonly RentPacket<TranscodingSource> RentVideo = static (s, length) =>
    {
        s._packet = RtpBufferPool.Shared.Rent();
        return s._packet.Prepare(length);
    };

    private static readonly EmitPacket<TranscodingSource> EmitVideo = static (s, length) =>
    {
        var b = s._packet!;
        s._packet = null;
        b.Commit(length, s._videoTrack, rtcp: false, s._time.GetTimestamp());
        s._sink!.OnPacket(b);
    };

    private readonly LiveStreamLease _base;
    private readonly TranscoderLease _slot;
    private readonly VideoTranscoderOptions _options;
    private readonly FfmpegCodec _codec;
    private readonly int _videoTrack;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly RtpNalAssembler _assembler;
    private readonly ArrayBufferWriter<byte> _accessUnit = new(256 * 1024);
    private readonly Channel<Work> _queue = Channel.CreateBounded<Work>(new BoundedChannelOptions(QueueCapacity) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
    private readonly H264RtpPacketizer _packetizer = new((uint)Random.Shared.Next());
    private readonly EncodedVideoHandler _onEncoded;
    private bool _started;
    private bool _dropping;
    private uint _auTimestamp;
    private ushort _nextSequence;
    private uint _lastTimestamp;
    private long _extendedTimestamp = -1;
    private IMediaSink? _sink;
    private RtpBuffer? _packet;
    private long _dropped;

    internal TranscodingSource(LiveStreamLease baseLease, MediaDescription baseMedia, TranscoderLease slot, VideoTranscoderOptions options, TimeProvider time, ILogger logger)
    {
        _base = baseLease;
        _slot = slot;
        _options = options;
        _time = time;
        _logger = logger;
        _videoTrack = baseMedia.VideoTrack;
        _codec = baseMedia.VideoCodec == HikShareGateway.Media.VideoCodec.H264 ? FfmpegCodec.H264 : FfmpegCodec.H265;
        _assembler = new RtpNalAssembler(_codec);
        _onEncoded = OnEncoded;
        var tracks = baseMedia.Tracks.ToArray();
        tracks[_videoTrack] = H264Track(baseMedia.Tracks[_videoTrack]);
        Media = new MediaDescription(tracks);
    }

    public MediaDescription Media { get; }

    /// <summary>Access units the queue could not take (the worker fell behind): skipped to the next keyframe.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    private static MediaTrack H264Track(MediaTrack source) => new()
    {
        Type = "video",
        EncodingName = "H264",
        ClockRate = 90_000,
        PayloadType = 96,
        Formats = ["96"],
        // Constrained baseline 3.1: what every browser decodes; SPS/PPS travel in band before every keyframe.
        FormatParameters = "packetization-mode=1;profile-level-id=42e01f",
        Attributes = [new("rtpmap", "96 H264/90000"), new("fmtp", "96 packetization-mode=1;profile-level-id=42e01f")],
        Bandwidths = source.Bandwidths,
    };

    public async Task RunAsync(IMediaSink sink, CancellationToken ct)
    {
        _sink = sink;
        using var transcoder = new VideoTranscoder(_codec, _options);
        var stream = _base.Stream;
        void OnInvalidated(string reason) => _queue.Writer.TryComplete(new DeviceException(DeviceErrorKind.Failed, "the source stream " + reason));
        stream.Invalidated += OnInvalidated;
        stream.Subscribe(this);
        try
        {
            await foreach (var work in _queue.Reader.ReadAllAsync(ct).ConfigureAwait(false))
            {
                // ReadAllAsync checks the token only when the queue is empty: a transcoder that cannot keep up (its
                // queue never empties) must still stop when its stream does.
                if (ct.IsCancellationRequested)
                {
                    Return(work);
                    ct.ThrowIfCancellationRequested();
                }
                if (work.Audio is { } audio)
                {
                    sink.OnPacket(audio);
                    sink.OnBatchEnd();
                    continue;
                }
                try
                {
                    transcoder.Push(work.Data.AsSpan(0, work.Length), work.Pts, _onEncoded);
                }
                catch (MediaProcessingException e)
                {
                    LogFailed(_logger, stream.Key, e.Message);
                    // Not an upstream loss to retry: the derived stream's viewers (only they) are told and leave.
                    throw new MediaSourceEndedException("the transcoder failed: " + e.Message, e);
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(work.Data!);
                }
                sink.OnBatchEnd();
            }
        }
        finally
        {
            stream.Unsubscribe(this);
            stream.Invalidated -= OnInvalidated;
            _packet?.Release();
            _packet = null;
        }
    }

    private void OnEncoded(ReadOnlySpan<byte> accessUnit, long pts, bool keyframe) =>
        _packetizer.Packetize(accessUnit, (uint)pts, this, RentVideo, EmitVideo);

    void IMediaSubscriber.WaitForKeyframe(bool hasVideo) => _started = false;

    /// <summary>:: Step 1. On the base stream's read loop (its delivery, under its lock): copy and queue, never wait.</summary>
    void IMediaSubscriber.Enqueue(RtpBuffer buffer, long now)
    {
        if (buffer.IsRtcp)
        {
            return;
        }
        if (buffer.Track != _videoTrack)
        {
            var copy = RtpBufferPool.Shared.Rent();
            buffer.PacketSpan.CopyTo(copy.Prepare(buffer.Length));
            copy.Commit(buffer.Length, buffer.Track, rtcp: false, buffer.ReceivedAt);
            if (!_queue.Writer.TryWrite(new Work(null, 0, 0, copy)))
            {
                copy.Release();
            }
            return;
        }
        if (!RtpPacket.TryParse(buffer.PacketSpan, out var rtp))
        {
            return;
        }
        if (!_started || _dropping)
        {
            // Decoding starts at a keyframe: the cached GOP starts with one, and so does the resumption after a drop.
            if (!buffer.IsKeyframeStart)
            {
                return;
            }
            _started = true;
            _dropping = false;
            _accessUnit.Clear();
            _assembler.Reset();
            _auTimestamp = rtp.Timestamp;
        }
        else if (rtp.SequenceNumber != _nextSequence)
        {
            // A lost packet: the access unit in progress is incomplete; the decoder conceals what is missing.
            _accessUnit.Clear();
            _assembler.Reset();
        }
        _nextSequence = (ushort)(rtp.SequenceNumber + 1);
        if (rtp.Timestamp != _auTimestamp)
        {
            QueueAccessUnit();
            _auTimestamp = rtp.Timestamp;
        }
        if (!_assembler.Append(rtp.Payload, _accessUnit))
        {
            _accessUnit.Clear();
            return;
        }
        if (rtp.Marker)
        {
            QueueAccessUnit();
        }
    }

    private void QueueAccessUnit()
    {
        int length = _accessUnit.WrittenCount;
        if (length == 0)
        {
            return;
        }
        var data = ArrayPool<byte>.Shared.Rent(length);
        _accessUnit.WrittenSpan.CopyTo(data);
        _accessUnit.Clear();
        if (!_queue.Writer.TryWrite(new Work(data, length, Extend(_auTimestamp), null)))
        {
            ArrayPool<byte>.Shared.Return(data);
            _dropping = true;
            Interlocked.Increment(ref _dropped);
        }
    }

    /// <summary>RTP timestamps wrap at 2^32; the encoder wants them increasing.</summary>
    private long Extend(uint timestamp)
    {
        if (_extendedTimestamp < 0)
        {
            _extendedTimestamp = timestamp;
        }
        else
        {
            _extendedTimestamp += (int)(timestamp - _lastTimestamp);
        }
        _lastTimestamp = timestamp;
        return _extendedTimestamp;
    }

    void IMediaSubscriber.Flush()
    {
    }

    public ValueTask DisposeAsync()
    {
        _base.Stream.Unsubscribe(this);
        _queue.Writer.TryComplete();
        while (_queue.Reader.TryRead(out var w))
        {
            Return(w);
        }
        _base.Dispose();
        _slot.Dispose();
        return ValueTask.CompletedTask;
    }

    private static void Return(Work w)
    {
        if (w.Data is not null)
        {
            ArrayPool<byte>.Shared.Return(w.Data);
        }
        w.Audio?.Release();
    }

    private readonly record struct Work(byte[]? Data, int Length, long Pts, RtpBuffer? Audio);

    [LoggerMessage(EventId = 7830, Level = LogLevel.Warning, Message = "Transcoder of {Stream} failed: {Reason}; its viewers are disconnected")]
    private static partial void LogFailed(ILogger logger, string stream, string reason);
}
