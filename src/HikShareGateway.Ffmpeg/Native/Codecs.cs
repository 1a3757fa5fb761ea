namespace HikShareGateway.Ffmpeg.Native;

/// <summary>Finding and opening codecs: every context comes back in a <see cref="CodecContextHandle"/>.</summary>
internal static class Codecs
{
    internal static nint FindDecoder(string name)
    {
        FfmpegLibraries.EnsureAvailable();
        var codec = AvCodec.avcodec_find_decoder_by_name(name);
        return codec != 0 ? codec : throw new MediaProcessingException(MediaError.CodecMissing, $"this FFmpeg has no {name} decoder");
    }

    internal static nint FindEncoder(string name)
    {
        FfmpegLibraries.EnsureAvailable();
        var codec = AvCodec.avcodec_find_encoder_by_name(name);
        return codec != 0 ? codec : throw new MediaProcessingException(MediaError.CodecMissing, $"this FFmpeg has no {name} encoder");
    }

    /// <summary>Allocates a context for <paramref name="codec"/>, lets <paramref name="configure"/> set options, opens it.</summary>
    internal static CodecContextHandle Open(nint codec, string name, Action<nint> configure)
    {
        var ctx = CodecContextHandle.Allocate(codec);
        try
        {
            configure(ctx.Ptr);
            FfmpegError.Check(AvCodec.avcodec_open2(ctx.Ptr, codec, 0), $"avcodec_open2({name})");
            return ctx;
        }
        catch
        {
            ctx.Dispose();
            throw;
        }
    }

    internal static void Set(nint obj, string option, string value) =>
        FfmpegError.Check(AvUtil.av_opt_set(obj, option, value, AvUtil.AV_OPT_SEARCH_CHILDREN), $"av_opt_set({option}={value})");

    internal static void Set(nint obj, string option, long value) =>
        FfmpegError.Check(AvUtil.av_opt_set_int(obj, option, value, AvUtil.AV_OPT_SEARCH_CHILDREN), $"av_opt_set_int({option}={value})");

    internal static void SetRational(nint obj, string option, int num, int den) =>
        FfmpegError.Check(AvUtil.av_opt_set_q(obj, option, new AVRational(num, den), AvUtil.AV_OPT_SEARCH_CHILDREN), $"av_opt_set_q({option}={num}/{den})");

    internal static void SetVideoSize(nint ctx, int width, int height) =>
        FfmpegError.Check(AvUtil.av_opt_set_image_size(ctx, "video_size", width, height, 0), $"av_opt_set_image_size({width}x{height})");

    internal static void SetPixelFormat(nint ctx, int format) =>
        FfmpegError.Check(AvUtil.av_opt_set_pixel_fmt(ctx, "pixel_format", format, 0), "av_opt_set_pixel_fmt");

    /// <summary>Extradata of an opened encoder (SPS/PPS, AudioSpecificConfig, OpusHead), copied out.</summary>
    internal static unsafe byte[] Extradata(nint ctx)
    {
        var p = Layout.Read<nint>(ctx, Layout.CodecExtradata);
        var n = Layout.Read<int>(ctx, Layout.CodecExtradataSize);
        return p == 0 || n <= 0 ? [] : new ReadOnlySpan<byte>((void*)p, n).ToArray();
    }
}
