using System.Runtime.CompilerServices;

namespace HikShareGateway.Ffmpeg.Native;

/// <summary>
/// The few struct fields we must touch directly, everything else goes through AVOptions (av_opt_set*). Offsets are
/// those of FFmpeg 5.1 on x86-64/aarch64 LP64 (libavcodec 59.37, libavutil 57.28); <see cref="FfmpegLibraries"/>
/// refuses any other major version, which is when FFmpeg may move them.
/// </summary>
/// <remarks>
/// Checked with this program against Debian 12's libavcodec-dev/libavutil-dev 7:5.1.9-0+deb12u1 (the -dev packages
/// are not needed to build or test):
/// <code>
/// #include &lt;stdio.h&gt;
/// #include &lt;stddef.h&gt;
/// #include &lt;libavcodec/avcodec.h&gt;
/// #define P(T,f) printf("%s.%s = %zu\n", #T, #f, offsetof(T,f))
/// int main(void) { P(AVFrame,data); P(AVFrame,linesize); ... }   // gcc off.c $(pkg-config --cflags --libs libavcodec libavutil)
/// </code>
/// Its output:
/// <code>
/// AVFrame.data = 0                 AVPacket.pts = 8               AVCodecContext.extradata = 88
/// AVFrame.linesize = 64            AVPacket.dts = 16              AVCodecContext.extradata_size = 96
/// AVFrame.width = 104              AVPacket.data = 24             AVCodecContext.time_base = 100
/// AVFrame.height = 108             AVPacket.size = 32             AVCodecContext.width = 116
/// AVFrame.nb_samples = 112         AVPacket.flags = 40            AVCodecContext.height = 120
/// AVFrame.format = 116                                            AVCodecContext.pix_fmt = 136
/// AVFrame.key_frame = 120          AVChannelLayout.nb_channels = 4 AVCodecContext.sample_rate = 352
/// AVFrame.pict_type = 124        AV_PICTURE_TYPE_I = 1
/// AVFrame.pts = 136                sizeof(AVChannelLayout) = 24   AVCodecContext.sample_fmt = 360
/// AVFrame.quality = 168                                           AVCodecContext.frame_size = 364
/// AVFrame.sample_rate = 208                                       AVCodecContext.framerate = 712
/// AVFrame.ch_layout = 448
/// AV_PIX_FMT_YUV420P=0 YUVJ420P=12 RGB24=2 AV_SAMPLE_FMT_S16=1 FLT=3 FLTP=8 S16P=6
/// AVERROR(EAGAIN)=-11 AVERROR_EOF=-541478725 AV_PKT_FLAG_KEY=1 AV_CODEC_FLAG_GLOBAL_HEADER=4194304
/// AV_INPUT_BUFFER_PADDING_SIZE=64
/// </code>
/// AVCodecContext has no AVOption for sample_fmt, framerate or extradata (checked with av_opt_find), hence those three.
/// </remarks>
internal static unsafe class Layout
{
    internal const int FrameData = 0;          // uint8_t *data[8]
    internal const int FrameLinesize = 64;     // int linesize[8]
    internal const int FrameWidth = 104;
    internal const int FrameHeight = 108;
    internal const int FrameNbSamples = 112;
    internal const int FrameFormat = 116;
    internal const int FrameKeyFrame = 120;
    internal const int FramePictType = 124;
    internal const int FramePts = 136;
    internal const int FrameQuality = 168;
    internal const int FrameSampleRate = 208;
    internal const int FrameChLayout = 448;     // AVChannelLayout (24 bytes)
    internal const int ChLayoutNbChannels = 4;

    internal const int PacketPts = 8;
    internal const int PacketDts = 16;
    internal const int PacketData = 24;
    internal const int PacketSize = 32;
    internal const int PacketFlags = 40;

    internal const int CodecExtradata = 88;
    internal const int CodecExtradataSize = 96;
    internal const int CodecSampleFmt = 360;
    internal const int CodecFrameSize = 364;
    internal const int CodecFramerate = 712;

    internal static T Read<T>(nint obj, int offset) where T : unmanaged => Unsafe.ReadUnaligned<T>((byte*)obj + offset);

    internal static void Write<T>(nint obj, int offset, T value) where T : unmanaged => Unsafe.WriteUnaligned((byte*)obj + offset, value);
}

internal static class PictureType
{
    internal const int None = 0;
    internal const int I = 1;
}

internal static class PixelFormat
{
    internal const int Yuv420P = 0;
    internal const int Rgb24 = 2;
    internal const int Yuvj420P = 12;
}

internal static class SampleFormat
{
    internal const int S16 = 1;
    internal const int Flt = 3;
    internal const int S16P = 6;
    internal const int FltP = 8;
}

internal static class AvErrors
{
    internal const int EAGAIN = -11;
    internal const int EOF = -541478725;  // FFERRTAG('E','O','F',' ')
    internal const int ENOMEM = -12;
    internal const int EINVAL = -22;
    internal const int PacketFlagKey = 1;
    internal const int PaddingSize = 64;  // AV_INPUT_BUFFER_PADDING_SIZE
    internal const int QP2Lambda = 118;   // FF_QP2LAMBDA
}
