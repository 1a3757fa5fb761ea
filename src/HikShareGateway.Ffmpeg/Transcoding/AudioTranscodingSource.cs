using System.Buffers;
using System.Buffers.Binary;
using System.Threading.Channels;
using HikShareGateway.Core.Devices;
using HikShareGateway.Ffmpeg.Audio;
using HikShareGateway.Media;
using HikShareGateway.Mp4.Rtp;
using Microsoft.Extensions.Logging;

namespace HikShareGateway.Ffmpeg.Transcoding;

/// <summary>
/// AAC → Opus over a live stream, as the source of a derived <see cref="LiveStream"/> (WebRTC cannot play AAC): the
/// stream's AAC track (RFC 3640) is decoded, resampled to 48 kHz and encoded with libopus (20 ms frames, RFC 7587 RTP);
/// every other track (the video) is copied across unchanged. One transcoder per stream, shared by its viewers.
/// </summary>
/// <remarks>
/// :: Step 1 (the base stream's delivery, never waits): AAC payload → its access units, each copied into a pooled array and queued;
///    other RTP → a pooled <see cref="RtpBuffer"/> copy, queued. A full queue drops (the base stream's other viewers
///    never wait for us). :: Step 2 (worker): AAC → <see cref="AudioTranscoder"/> → Opus RTP to the derived stream.
/// :: Step 3: an encoder failure ends <see cref="RunAsync"/> with <see cref="MediaSourceEndedException"/>: only this
///    stream's viewers are disconnected, with the reason.
/// </remarks>
internal sealed partial class AudioTranscodingSource : IMediaSource, IMediaSubscriber
{
    /// <summary>RFC 7587 §7: opus/48000/2 whatever is sent; the dynamic type WebRTC offers usually use.</summary>
    public const int OpusPayloadType = 111;

    // Video packets pass through the same queue: ~2 s of a 2 Mbit/s stream.
    private const int QueueCapacity = 512;

    private readonly LiveStreamLease _base;
    private readonly TranscoderLease _slot;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly int _audioTrack;
    private readonly AacAuLayout _layout;
    private readonly AudioFormat _input;
    private readonly int _bitrateKbps;
    private readonly Channel<Work> _queue = Channel.CreateBounded<Work>(new BoundedChannelOptions(QueueCapacity) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
    private readonly uint _ssrc = (uint)Random.Shared.Next();
    private readonly uint _timestampBase = (uint)Random.Shared.Next();
    private readonly EncodedAudioHandler _onEncoded;
    private IMediaSink? _sink;
    private ushort _sequence = (ushort)Random.Shared.Next();
    private long _dropped;

    private AudioTranscodingSource(LiveStreamLease baseLease, MediaDescription media, int audioTrack, AacAuLayout layout, AudioFormat input,
        TranscoderLease slot, int bitrateKbps, TimeProvider time, ILogger logger)
    {
        _base = baseLease;
        _slot = slot;
        _time = time;
        _logger = logger;
        _audioTrack = audioTrack;
        _layout = layout;
        _input = input;
        _bitrateKbps = bitrateKbps;
        _onEncoded = OnEncoded;
        var tracks = media.Tracks.ToArray();
        tracks[audioTrack] = OpusTrack;
        Media = new MediaDescription(tracks);
    }

    public MediaDescription Media { get; }

    /// <summary>Items the queue could not take (the worker fell behind).</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    private static readonly MediaTrack OpusTrack = new()
    {
        Type = "audio",
        EncodingName = "OPUS",
        ClockRate = 48_000,
        PayloadType = OpusPayloadType,
        Formats = ["111"],
        FormatParameters = "minptime=10;useinbandfec=1",
        Attributes = [new("rtpmap", "111 opus/48000/2"), new("fmtp", "111 minptime=10;useinbandfec=1")],
    };

    /// <summary>The stream's AAC track (index, AU layout, decoder format), or false when it has none this can decode.</summary>
    public static bool TryFindAac(MediaDescription media, out int track, out AacAuLayout layout, out AudioFormat? input)
    {
        for (var i = 0; i < media.Tracks.Count; i++)
        {
            var t = media.Tracks[i];
            if (t.Type == "audio" && string.Equals(t.EncodingName, "MPEG4-GENERIC", StringComparison.OrdinalIgnoreCase)
                && SdpAacFormat.TryParse(t.FormatParameters, out var config, out layout)
                && Mp4.Codecs.AudioSpecificConfig.TryParse(config, out var asc))
            {
                track = i;
                input = new AudioFormat(AudioCodec.Aac, asc.SampleRate, asc.Channels, config);
                return true;
            }
        }
        track = -1;
        layout = default;
        input = null;
        return false;
    }

    public static AudioTranscodingSource Create(LiveStreamLease baseLease, MediaDescription media, TranscoderLease slot, int bitrateKbps, TimeProvider time, ILogger logger) =>
        TryFindAac(media, out var track, out var layout, out var input)
            ? new AudioTranscodingSource(baseLease, media, track, layout, input!, slot, bitrateKbps, time, logger)
            : throw new DeviceException(DeviceErrorKind.NotSupported, "the stream has no AAC audio to transcode");

    public async Task RunAsync(IMediaSink sink, CancellationToken ct)
    {
        _sink = sink;
        AudioTranscoder transcoder;
        try
        {
            transcoder = new AudioTranscoder(_input, new AudioFormat(AudioCodec.Opus, 48_000, 1), _bitrateKbps);
        }
        catch (MediaProcessingException e)
        {
            throw new MediaSourceEndedException("the AAC → Opus transcoder could not start: " + e.Message, e);
        }
        using var _ = transcoder;
        var stream = _base.Stream;
        void OnInvalidated(string reason) => _queue.Writer.TryComplete(new DeviceException(DeviceErrorKind.Failed, "the source stream " + reason));
        stream.Invalidated += OnInvalidated;
        stream.Subscribe(this);
        try
        {
            await foreach (var work in _queue.Reader.ReadAllAsync(ct).ConfigureAwait(false))
            {
                if (ct.IsCancellationRequested)
                {
                    Return(work);
                    ct.ThrowIfCancellationRequested();
                }
                if (work.Packet is { } packet)
                {
                    sink.OnPacket(packet);
                    sink.OnBatchEnd();
                    continue;
                }
                try
                {
                    transcoder.Push(work.Data.AsSpan(0, work.Length), _onEncoded);
                }
                catch (MediaProcessingException e)
                {
                    LogFailed(_logger, stream.Key, e.Message);
                    throw new MediaSourceEndedException("the AAC → Opus transcoder failed: " + e.Message, e);
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
        }
    }

    /// <summary>:: Step 2. One Opus packet → one RTP packet (RFC 7587: timestamp on 48 kHz, marker unused).</summary>
    private void OnEncoded(ReadOnlySpan<byte> opus, long pts)
    {
        var b = RtpBufferPool.Shared.Rent();
        var span = b.Prepare(12 + opus.Length);
        span[0] = 0x80;
        span[1] = OpusPayloadType;
        BinaryPrimitives.WriteUInt16BigEndian(span[2..], _sequence++);
        BinaryPrimitives.WriteUInt32BigEndian(span[4..], _timestampBase + (uint)pts);
        BinaryPrimitives.WriteUInt32BigEndian(span[8..], _ssrc);
        opus.CopyTo(span[12..]);
        b.Commit(12 + opus.Length, _audioTrack, rtcp: false, _time.GetTimestamp());
        _sink!.OnPacket(b);
    }

    void IMediaSubscriber.WaitForKeyframe(bool hasVideo)
    {
    }

    /// <summary>:: Step 1. On the base stream's read loop (its delivery, under its lock): copy and queue, never wait.</summary>
    void IMediaSubscriber.Enqueue(RtpBuffer buffer, long now)
    {
        if (buffer.IsRtcp)
        {
            return;
        }
        if (buffer.Track != _audioTrack)
        {
            var copy = RtpBufferPool.Shared.Rent();
            buffer.PacketSpan.CopyTo(copy.Prepare(buffer.Length));
            copy.Commit(buffer.Length, buffer.Track, rtcp: false, buffer.ReceivedAt);
            if (!_queue.Writer.TryWrite(new Work(null, 0, copy)))
            {
                copy.Release();
                Interlocked.Increment(ref _dropped);
            }
            return;
        }
        if (!RtpPacket.TryParse(buffer.PacketSpan, out var rtp))
        {
            return;
        }
        var payload = rtp.Payload;
        Span<Range> units = stackalloc Range[16];
        var count = AacAuHeaders.Split(payload, _layout, units);
        for (var i = 0; i < count; i++)
        {
            var unit = payload[units[i]];
            var data = ArrayPool<byte>.Shared.Rent(unit.Length);
            unit.CopyTo(data);
            if (!_queue.Writer.TryWrite(new Work(data, unit.Length, null)))
            {
                ArrayPool<byte>.Shared.Return(data);
                Interlocked.Increment(ref _dropped);
            }
        }
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
        w.Packet?.Release();
    }

    private readonly record struct Work(byte[]? Data, int Length, RtpBuffer? Packet);

    [LoggerMessage(EventId = 7835, Level = LogLevel.Warning, Message = "AAC → Opus transcoder of {Stream} failed: {Reason}; its viewers are disconnected")]
    private static partial void LogFailed(ILogger logger, string stream, string reason);
}
