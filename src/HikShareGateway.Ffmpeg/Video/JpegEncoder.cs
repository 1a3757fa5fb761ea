using System.Buffers;
using HikShareGateway.Ffmpeg.Native;

namespace HikShareGateway.Ffmpeg.Video;

/// <summary>
/// libavcodec's mjpeg encoder for one size, full-range 4:2:0 (YUVJ420P), fixed quantiser (no rate control, so a
/// single picture gets the asked quality). One thread at a time.
/// </summary>
internal sealed class JpegEncoder : IDisposable
{
    private readonly CodecContextHandle _ctx;
    private readonly PacketHandle _packet = PacketHandle.Allocate();
    private readonly int _lambda;

    /// <param name="quality">mjpeg qscale, 2 (best) .. 31.</param>
    internal JpegEncoder(int width, int height, int quality)
    {
        Width = width;
        Height = height;
        _lambda = Math.Clamp(quality, 2, 31) * AvErrors.QP2Lambda;
        _ctx = Codecs.Open(Codecs.FindEncoder("mjpeg"), "mjpeg", ctx =>
        {
            Codecs.SetVideoSize(ctx, width, height);
            Codecs.SetPixelFormat(ctx, PixelFormat.Yuvj420P);
            Codecs.SetRational(ctx, "time_base", 1, 25);
            Codecs.Set(ctx, "flags", "+qscale");
            Codecs.Set(ctx, "global_quality", _lambda);
        });
    }

    internal int Width { get; }
    internal int Height { get; }

    /// <summary>Encodes a YUVJ420P frame of this encoder's size; returns the JPEG's length written to <paramref name="output"/>.</summary>
    internal int Encode(FrameHandle frame, IBufferWriter<byte> output)
    {
        // With AV_CODEC_FLAG_QSCALE the mpegvideo encoders take the quantiser from the frame (as the ffmpeg CLI does for -q:v).
        Layout.Write(frame.Ptr, Layout.FrameQuality, _lambda);
        FfmpegError.Check(AvCodec.avcodec_send_frame(_ctx.Ptr, frame.Ptr), "avcodec_send_frame(mjpeg)");
        FfmpegError.Check(AvCodec.avcodec_receive_packet(_ctx.Ptr, _packet.Ptr), "avcodec_receive_packet(mjpeg)");
        try
        {
            var jpeg = _packet.Data;
            jpeg.CopyTo(output.GetSpan(jpeg.Length));
            output.Advance(jpeg.Length);
            return jpeg.Length;
        }
        finally
        {
            AvCodec.av_packet_unref(_packet.Ptr);
        }
    }

    public void Dispose()
    {
        _packet.Dispose();
        _ctx.Dispose();
    }
}
