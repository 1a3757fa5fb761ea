using System.Runtime.InteropServices;

namespace HikShareGateway.Ffmpeg.Native;

/// <summary>
/// The FFmpeg 5.1 entry points we call, by soname (Debian 12: libavcodec59, libavutil57, libswscale6,
/// libswresample4). The logical names below are mapped to <c>libavcodec.so.59</c> etc. by
/// <see cref="FfmpegLibraries"/>' resolver, so the unversioned <c>.so</c> links of the -dev packages are never needed.
/// Only <see cref="FfmpegLibraries"/> and the wrappers in this project call these; nothing here is public.
/// </summary>
internal static unsafe partial class AvUtil
{
    internal const string Lib = "hikshare-avutil";

    [LibraryImport(Lib)] internal static partial uint avutil_version();
    [LibraryImport(Lib)] internal static partial int av_strerror(int errnum, byte* errbuf, nuint errbufSize);
    [LibraryImport(Lib)] internal static partial void av_log_set_level(int level);

    [LibraryImport(Lib)] internal static partial nint av_frame_alloc();
    [LibraryImport(Lib)] internal static partial void av_frame_free(ref nint frame);
    [LibraryImport(Lib)] internal static partial void av_frame_unref(nint frame);
    [LibraryImport(Lib)] internal static partial void av_frame_move_ref(nint dst, nint src);
    [LibraryImport(Lib)] internal static partial int av_frame_get_buffer(nint frame, int align);
    [LibraryImport(Lib)] internal static partial int av_frame_make_writable(nint frame);

    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int av_opt_set(nint obj, string name, string val, int searchFlags);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int av_opt_set_int(nint obj, string name, long val, int searchFlags);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int av_opt_set_q(nint obj, string name, AVRational val, int searchFlags);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int av_opt_set_image_size(nint obj, string name, int w, int h, int searchFlags);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int av_opt_set_pixel_fmt(nint obj, string name, int fmt, int searchFlags);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int av_opt_set_sample_fmt(nint obj, string name, int fmt, int searchFlags);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int av_opt_set_chlayout(nint obj, string name, nint layout, int searchFlags);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int av_opt_get_int(nint obj, string name, int searchFlags, out long val);

    [LibraryImport(Lib)] internal static partial nint av_mallocz(nuint size);
    [LibraryImport(Lib)] internal static partial void av_channel_layout_default(nint layout, int nbChannels);
    [LibraryImport(Lib)] internal static partial void av_channel_layout_uninit(nint layout);

    /// <summary>av_opt_* flag: also search the codec's private options (libx264's preset/tune/profile).</summary>
    internal const int AV_OPT_SEARCH_CHILDREN = 1;
    internal const int AV_LOG_FATAL = 8;
}

internal static unsafe partial class AvCodec
{
    internal const string Lib = "hikshare-avcodec";

    [LibraryImport(Lib)] internal static partial uint avcodec_version();
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] internal static partial nint avcodec_find_decoder_by_name(string name);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] internal static partial nint avcodec_find_encoder_by_name(string name);
    [LibraryImport(Lib)] internal static partial nint avcodec_alloc_context3(nint codec);
    [LibraryImport(Lib)] internal static partial void avcodec_free_context(ref nint ctx);
    [LibraryImport(Lib)] internal static partial int avcodec_open2(nint ctx, nint codec, nint options);
    [LibraryImport(Lib)] internal static partial int avcodec_send_packet(nint ctx, nint packet);
    [LibraryImport(Lib)] internal static partial int avcodec_receive_frame(nint ctx, nint frame);
    [LibraryImport(Lib)] internal static partial int avcodec_send_frame(nint ctx, nint frame);
    [LibraryImport(Lib)] internal static partial int avcodec_receive_packet(nint ctx, nint packet);

    [LibraryImport(Lib)] internal static partial nint av_packet_alloc();
    [LibraryImport(Lib)] internal static partial void av_packet_free(ref nint packet);
    [LibraryImport(Lib)] internal static partial int av_new_packet(nint packet, int size);
    [LibraryImport(Lib)] internal static partial void av_packet_unref(nint packet);
}

internal static unsafe partial class SwScale
{
    internal const string Lib = "hikshare-swscale";

    [LibraryImport(Lib)] internal static partial uint swscale_version();
    [LibraryImport(Lib)]
    internal static partial nint sws_getContext(int srcW, int srcH, int srcFormat, int dstW, int dstH, int dstFormat,
        int flags, nint srcFilter, nint dstFilter, nint param);
    [LibraryImport(Lib)]
    internal static partial int sws_scale(nint ctx, nint srcSlice, nint srcStride, int srcSliceY, int srcSliceH, nint dst, nint dstStride);
    [LibraryImport(Lib)] internal static partial void sws_freeContext(nint ctx);

    internal const int SWS_BILINEAR = 2;
}

internal static unsafe partial class SwResample
{
    internal const string Lib = "hikshare-swresample";

    [LibraryImport(Lib)] internal static partial uint swresample_version();
    [LibraryImport(Lib)] internal static partial nint swr_alloc();
    [LibraryImport(Lib)] internal static partial int swr_init(nint ctx);
    [LibraryImport(Lib)] internal static partial void swr_free(ref nint ctx);
    [LibraryImport(Lib)] internal static partial int swr_convert(nint ctx, byte** output, int outCount, byte** input, int inCount);
    [LibraryImport(Lib)] internal static partial int swr_get_out_samples(nint ctx, int inSamples);
}

[StructLayout(LayoutKind.Sequential)]
internal readonly record struct AVRational(int Num, int Den);
