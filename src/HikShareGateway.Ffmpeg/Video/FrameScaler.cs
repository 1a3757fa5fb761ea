using HikShareGateway.Ffmpeg.Native;

namespace HikShareGateway.Ffmpeg.Video;

/// <summary>
/// swscale from whatever the decoder gives to a size and pixel format; keeps its SwsContext and output frame while
/// the geometry stays the same. One thread at a time.
/// </summary>
internal sealed class FrameScaler : IDisposable
{
    private SwsContextHandle? _sws;
    private FrameHandle? _output;
    private (int SrcW, int SrcH, int SrcFmt, int DstW, int DstH, int DstFmt) _geometry;

    /// <summary>Output height for <paramref name="width"/> keeping the source's aspect ratio, rounded to even (4:2:0).</summary>
    internal static int HeightFor(int srcWidth, int srcHeight, int width)
    {
        long h = ((long)srcHeight * width + srcWidth / 2) / srcWidth;
        return (int)Math.Max(2, (h + 1) & ~1L);
    }

    /// <summary>Scales <paramref name="source"/>; the returned frame belongs to this scaler and is overwritten by the next call.</summary>
    internal FrameHandle Scale(FrameHandle source, int width, int height, int pixelFormat)
    {
        var geometry = (source.Width, source.Height, source.Format, width, height, pixelFormat);
        if (_sws is null || _output is null || geometry != _geometry)
        {
            _sws?.Dispose();
            _output?.Dispose();
            _sws = SwsContextHandle.Create(source.Width, source.Height, source.Format, width, height, pixelFormat);
            _output = AllocateVideoFrame(width, height, pixelFormat);
            _geometry = geometry;
        }
        FfmpegError.Check(AvUtil.av_frame_make_writable(_output.Ptr), "av_frame_make_writable");
        var src = source.Ptr;
        var dst = _output.Ptr;
        FfmpegError.Check(
            SwScale.sws_scale(_sws.Ptr, src + Layout.FrameData, src + Layout.FrameLinesize, 0, source.Height, dst + Layout.FrameData, dst + Layout.FrameLinesize),
            "sws_scale");
        Layout.Write(dst, Layout.FramePts, source.Pts);
        return _output;
    }

    internal static FrameHandle AllocateVideoFrame(int width, int height, int pixelFormat)
    {
        var frame = FrameHandle.Allocate();
        Layout.Write(frame.Ptr, Layout.FrameWidth, width);
        Layout.Write(frame.Ptr, Layout.FrameHeight, height);
        Layout.Write(frame.Ptr, Layout.FrameFormat, pixelFormat);
        int r = AvUtil.av_frame_get_buffer(frame.Ptr, 0);
        if (r < 0)
        {
            frame.Dispose();
            FfmpegError.Check(r, "av_frame_get_buffer");
        }
        return frame;
    }

    public void Dispose()
    {
        _sws?.Dispose();
        _output?.Dispose();
    }
}
