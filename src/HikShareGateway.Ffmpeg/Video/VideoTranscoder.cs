using System.Buffers;
using HikShareGateway.Ffmpeg.Native;

namespace HikShareGateway.Ffmpeg.Video;

/// <summary>Settings of an H.265 (or H.264) → H.264 transcoder for browsers (WebRTC, MSE without H.265).</summary>
public sealed record VideoTranscoderOptions
{
    /// <summary>Output width cap; narrower sources keep their size. Height follows the aspect ratio.</summary>
    public int MaxWidth { get; init; } = 1280;

    /// <summary>Target and maximum bitrate (VBV, one second of buffer).</summary>
    public int BitrateKbps { get; init; } = 2000;

    /// <summary>Frames between keyframes (x264 keyint).</summary>
    public int KeyframeInterval { get; init; } = 50;

    /// <summary>Nominal frame rate, for x264's rate control; timestamps still come from the input.</summary>
    public int FrameRate { get; init; } = 25;

    /// <summary>"baseline" (constrained baseline: every browser's WebRTC) or "main"; B-frames are always off.</summary>
    public string Profile { get; init; } = "baseline";

    /// <summary>x264 preset; veryfast is the choice for a small box.</summary>
    public string Preset { get; init; } = "veryfast";

    /// <summary>x264 threads; 0 lets x264 choose (one per core and a half).</summary>
    public int Threads { get; init; } = 0;

    /// <summary>Every problem at once, empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (MaxWidth is < 16 or > 7680) errors.Add($"MaxWidth must be 16..7680 (got {MaxWidth})");
        if (BitrateKbps is < 50 or > 100_000) errors.Add($"BitrateKbps must be 50..100000 (got {BitrateKbps})");
        if (KeyframeInterval is < 1 or > 1000) errors.Add($"KeyframeInterval must be 1..1000 frames (got {KeyframeInterval})");
        if (FrameRate is < 1 or > 120) errors.Add($"FrameRate must be 1..120 (got {FrameRate})");
        if (Profile is not ("baseline" or "main")) errors.Add($"Profile must be baseline or main (got {Profile})");
        if (Preset is not ("ultrafast" or "superfast" or "veryfast" or "faster" or "fast" or "medium")) errors.Add($"Preset must be an x264 preset from ultrafast to medium (got {Preset})");
        if (Threads is < 0 or > 16) errors.Add($"Threads must be 0..16 (got {Threads})");
        return errors;
    }
}

/// <summary>Receives one encoded H.264 access unit (Annex B, SPS/PPS in front of every keyframe). The span is valid
/// only during the call.</summary>
public delegate void EncodedVideoHandler(ReadOnlySpan<byte> accessUnit, long pts, bool keyframe);

/// <summary>
/// Decodes H.265/H.264 access units, scales to the width cap (swscale, aspect kept) and encodes H.264 with libx264
/// (tune zerolatency: no lookahead, no B-frames, one access unit out per access unit in).
/// </summary>
/// <remarks>
/// Not thread-safe: one owner feeds it (a transcoding worker, off the packet path). Memory: one decoder's reference
/// frames, one scaled picture, x264 without lookahead. The encoder opens at the first decoded picture (its size is
/// not known before); <see cref="SequenceParameterSet"/>/<see cref="PictureParameterSet"/> are set from then on.
/// Timestamps pass through in the caller's clock (90 kHz for RTP). A source that changes size mid-stream is scaled to
/// the size the encoder opened with.
/// </remarks>
public sealed class VideoTranscoder : IDisposable
{
    private readonly VideoTranscoderOptions _options;
    private readonly VideoDecoder _decoder;
    private readonly FrameHandle _decoded = FrameHandle.Allocate();
    private readonly FrameScaler _scaler = new();
    private readonly PacketHandle _packet = PacketHandle.Allocate();
    private readonly ArrayBufferWriter<byte> _input = new(256 * 1024);
    private CodecContextHandle? _encoder;
    private bool _keyframeRequested;

    public VideoTranscoder(VideoCodec input, VideoTranscoderOptions options)
    {
        var errors = options.Validate();
        if (errors.Count > 0)
        {
            throw new ArgumentException("invalid transcoder options: " + string.Join("; ", errors), nameof(options));
        }
        _options = options;
        FfmpegLibraries.EnsureAvailable();
        Codecs.FindEncoder("libx264");
        _decoder = new VideoDecoder(input);
    }

    public int OutputWidth { get; private set; }
    public int OutputHeight { get; private set; }

    /// <summary>The encoder's SPS (NAL without start code), once the first picture was encoded.</summary>
    public byte[]? SequenceParameterSet { get; private set; }

    /// <summary>The encoder's PPS (NAL without start code), once the first picture was encoded.</summary>
    public byte[]? PictureParameterSet { get; private set; }

    /// <summary>Access units the decoder rejected (skipped).</summary>
    public int DecodeErrors => _decoder.Errors;

    /// <summary>Makes the next encoded picture a keyframe (a new viewer, a PLI/FIR from WebRTC).</summary>
    public void RequestKeyframe() => _keyframeRequested = true;

    /// <summary>Transcodes one access unit; returns how many H.264 access units <paramref name="output"/> received.</summary>
    public int Push(ReadOnlySpan<byte> accessUnit, long pts, EncodedVideoHandler output, NalFraming framing = NalFraming.AnnexB)
    {
        var data = accessUnit;
        if (framing == NalFraming.LengthPrefixed)
        {
            _input.Clear();
            if (!AnnexB.TryConvertLengthPrefixed(accessUnit, _input))
            {
                return 0;
            }
            data = _input.WrittenSpan;
        }
        return _decoder.Decode(data, pts, _decoded) > 0 ? Encode(_decoded, output) : 0;
    }

    /// <summary>End of input: drains decoder and encoder. The transcoder is finished afterwards.</summary>
    public int Flush(EncodedVideoHandler output)
    {
        int n = 0;
        if (_decoder.Flush(_decoded) > 0)
        {
            n += Encode(_decoded, output);
        }
        if (_encoder is not null)
        {
            AvCodec.avcodec_send_frame(_encoder.Ptr, 0);
            n += Drain(output);
        }
        return n;
    }

    // The decoder gives one picture per call with threads=1 and no reordering in the caller's streams; if it gave
    // several, the newest is kept (the others were moved over), which is the right choice for live viewing.
    private int Encode(FrameHandle picture, EncodedVideoHandler output)
    {
        _encoder ??= OpenEncoder(picture);
        var frame = _scaler.Scale(picture, OutputWidth, OutputHeight, PixelFormat.Yuv420P);
        Layout.Write(frame.Ptr, Layout.FramePictType, _keyframeRequested ? PictureType.I : PictureType.None);
        _keyframeRequested = false;
        FfmpegError.Check(AvCodec.avcodec_send_frame(_encoder.Ptr, frame.Ptr), "avcodec_send_frame(libx264)");
        return Drain(output);
    }

    private int Drain(EncodedVideoHandler output)
    {
        int n = 0;
        while (true)
        {
            int r = AvCodec.avcodec_receive_packet(_encoder!.Ptr, _packet.Ptr);
            if (r == AvErrors.EAGAIN || r == AvErrors.EOF)
            {
                return n;
            }
            FfmpegError.Check(r, "avcodec_receive_packet(libx264)");
            try
            {
                output(_packet.Data, _packet.Pts, _packet.IsKey);
                n++;
            }
            finally
            {
                AvCodec.av_packet_unref(_packet.Ptr);
            }
        }
    }

    private CodecContextHandle OpenEncoder(FrameHandle first)
    {
        OutputWidth = Math.Min(first.Width, _options.MaxWidth) & ~1;
        OutputHeight = FrameScaler.HeightFor(first.Width, first.Height, OutputWidth);
        var o = _options;
        long bitrate = o.BitrateKbps * 1000L;
        var ctx = Codecs.Open(Codecs.FindEncoder("libx264"), "libx264", c =>
        {
            Codecs.SetVideoSize(c, OutputWidth, OutputHeight);
            Codecs.SetPixelFormat(c, PixelFormat.Yuv420P);
            Codecs.SetRational(c, "time_base", 1, 90_000);
            Layout.Write(c, Layout.CodecFramerate, new AVRational(o.FrameRate, 1));
            Codecs.Set(c, "b", bitrate);
            Codecs.Set(c, "maxrate", bitrate);
            Codecs.Set(c, "bufsize", bitrate);
            Codecs.Set(c, "g", o.KeyframeInterval);
            Codecs.Set(c, "bf", 0);
            Codecs.Set(c, "threads", o.Threads);
            Codecs.Set(c, "preset", o.Preset);
            Codecs.Set(c, "tune", "zerolatency");
            Codecs.Set(c, "profile", o.Profile);
            // SPS/PPS both in extradata (for SDP sprop-parameter-sets and avcC) and in front of every keyframe (late
            // joiners, decoders that lost them).
            Codecs.Set(c, "flags", "+global_header");
            Codecs.Set(c, "x264-params", "repeat-headers=1");
        });
        ReadParameterSets(Codecs.Extradata(ctx.Ptr));
        return ctx;
    }

    private void ReadParameterSets(ReadOnlySpan<byte> extradata)
    {
        while (AnnexB.TryReadNal(ref extradata, out var nal))
        {
            switch (AnnexB.NalType(VideoCodec.H264, nal))
            {
                case 7: SequenceParameterSet = nal.ToArray(); break;
                case 8: PictureParameterSet = nal.ToArray(); break;
            }
        }
    }

    public void Dispose()
    {
        _encoder?.Dispose();
        _packet.Dispose();
        _scaler.Dispose();
        _decoded.Dispose();
        _decoder.Dispose();
    }
}
