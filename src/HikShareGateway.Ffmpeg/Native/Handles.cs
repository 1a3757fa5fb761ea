using System.Runtime.InteropServices;

namespace HikShareGateway.Ffmpeg.Native;

/// <summary>
/// One SafeHandle per FFmpeg object kind: the object is freed exactly once, by its owner's Dispose or, if an owner
/// forgot, by the finalizer. Handles are not thread-safe; the type that holds one is the only thread using it.
/// </summary>
internal abstract class FfmpegHandle : SafeHandle
{
    // Every FFmpeg object starts here, so no native call can come before the libraries are loaded (and the resolver
    // installed): a missing FFmpeg is a MediaProcessingException(Unavailable), never a DllNotFoundException.
    protected FfmpegHandle() : base(0, ownsHandle: true) => FfmpegLibraries.EnsureAvailable();

    public override bool IsInvalid => handle == 0;

    /// <summary>
    /// Gives <paramref name="ptr"/> to <paramref name="owner"/>, or throws <paramref name="failure"/> when the allocation
    /// returned NULL. Call as <c>Own(new XHandle(), native_alloc(), …)</c>: the handle is made (and the libraries
    /// loaded) before the native call.
    /// </summary>
    protected static T Own<T>(T owner, nint ptr, string failure) where T : FfmpegHandle
    {
        owner.SetHandle(ptr);
        return owner.IsInvalid ? throw new MediaProcessingException(MediaError.Failed, failure) : owner;
    }

    /// <summary>The raw pointer for a native call; throws if disposed.</summary>
    internal nint Ptr => IsClosed || IsInvalid ? throw new ObjectDisposedException(GetType().Name) : handle;
}

/// <summary>AVCodecContext (avcodec_alloc_context3 / avcodec_free_context).</summary>
internal sealed class CodecContextHandle : FfmpegHandle
{
    internal static CodecContextHandle Allocate(nint codec)
        => Own(new CodecContextHandle(), AvCodec.avcodec_alloc_context3(codec), "avcodec_alloc_context3 returned NULL");

    protected override bool ReleaseHandle()
    {
        var p = handle;
        AvCodec.avcodec_free_context(ref p);
        return true;
    }
}

/// <summary>AVFrame (av_frame_alloc / av_frame_free).</summary>
internal sealed class FrameHandle : FfmpegHandle
{
    internal static FrameHandle Allocate()
        => Own(new FrameHandle(), AvUtil.av_frame_alloc(), "av_frame_alloc returned NULL");

    internal int Width => Layout.Read<int>(Ptr, Layout.FrameWidth);
    internal int Height => Layout.Read<int>(Ptr, Layout.FrameHeight);
    internal int Format => Layout.Read<int>(Ptr, Layout.FrameFormat);
    internal int NbSamples => Layout.Read<int>(Ptr, Layout.FrameNbSamples);
    internal long Pts => Layout.Read<long>(Ptr, Layout.FramePts);
    internal nint Data(int plane) => Layout.Read<nint>(Ptr, Layout.FrameData + plane * IntPtr.Size);
    internal int Linesize(int plane) => Layout.Read<int>(Ptr, Layout.FrameLinesize + plane * sizeof(int));

    protected override bool ReleaseHandle()
    {
        var p = handle;
        AvUtil.av_frame_free(ref p);
        return true;
    }
}

/// <summary>AVPacket (av_packet_alloc / av_packet_free).</summary>
internal sealed class PacketHandle : FfmpegHandle
{
    internal static PacketHandle Allocate()
        => Own(new PacketHandle(), AvCodec.av_packet_alloc(), "av_packet_alloc returned NULL");

    /// <summary>Replaces the packet's content with a padded copy of <paramref name="data"/> (FFmpeg owns the copy).</summary>
    internal unsafe void SetData(ReadOnlySpan<byte> data, long pts)
    {
        var p = Ptr;
        AvCodec.av_packet_unref(p);
        FfmpegError.Check(AvCodec.av_new_packet(p, data.Length), "av_new_packet");
        data.CopyTo(new Span<byte>((void*)Layout.Read<nint>(p, Layout.PacketData), data.Length));
        Layout.Write(p, Layout.PacketPts, pts);
        Layout.Write(p, Layout.PacketDts, pts);
    }

    internal unsafe ReadOnlySpan<byte> Data => new((void*)Layout.Read<nint>(Ptr, Layout.PacketData), Layout.Read<int>(Ptr, Layout.PacketSize));
    internal long Pts => Layout.Read<long>(Ptr, Layout.PacketPts);
    internal bool IsKey => (Layout.Read<int>(Ptr, Layout.PacketFlags) & AvErrors.PacketFlagKey) != 0;

    protected override bool ReleaseHandle()
    {
        var p = handle;
        AvCodec.av_packet_free(ref p);
        return true;
    }
}

/// <summary>SwsContext (sws_getContext / sws_freeContext).</summary>
internal sealed class SwsContextHandle : FfmpegHandle
{
    internal static SwsContextHandle Create(int srcW, int srcH, int srcFormat, int dstW, int dstH, int dstFormat)
        => Own(new SwsContextHandle(), SwScale.sws_getContext(srcW, srcH, srcFormat, dstW, dstH, dstFormat, SwScale.SWS_BILINEAR, 0, 0, 0), $"sws_getContext refused {srcW}x{srcH} format {srcFormat} -> {dstW}x{dstH} format {dstFormat}");

    protected override bool ReleaseHandle()
    {
        SwScale.sws_freeContext(handle);
        return true;
    }
}

/// <summary>SwrContext (swr_alloc / swr_free).</summary>
internal sealed class SwrContextHandle : FfmpegHandle
{
    internal static SwrContextHandle Allocate()
        => Own(new SwrContextHandle(), SwResample.swr_alloc(), "swr_alloc returned NULL");

    protected override bool ReleaseHandle()
    {
        var p = handle;
        SwResample.swr_free(ref p);
        return true;
    }
}
