using HikShareGateway.Ffmpeg.Native;

namespace HikShareGateway.Ffmpeg.Video;

/// <summary>
/// H.264/H.265 decoder (libavcodec's h264/hevc) over Annex B access units. One thread at a time; owns its context,
/// packet and frames. Single-threaded decoding (threads=1): no frame-threading delay, one core at most per decoder.
/// </summary>
internal sealed class VideoDecoder : IDisposable
{
    private readonly CodecContextHandle _ctx;
    private readonly PacketHandle _packet = PacketHandle.Allocate();
    private readonly FrameHandle _scratch = FrameHandle.Allocate();

    internal VideoDecoder(VideoCodec codec)
        : this(codec == VideoCodec.H264 ? "h264" : "hevc")
    {
    }

    /// <summary>A decoder by libavcodec name (<c>mjpeg</c> for the devices' own pictures).</summary>
    internal VideoDecoder(string name)
    {
        _ctx = Codecs.Open(Codecs.FindDecoder(name), name, ctx => Codecs.Set(ctx, "threads", 1));
    }

    /// <summary>Decode errors seen (corrupt or undecodable access units are skipped, not thrown).</summary>
    internal int Errors { get; private set; }

    internal string? LastError { get; private set; }

    /// <summary>Sends one access unit; each decoded picture replaces the content of <paramref name="latest"/>.
    /// Returns how many pictures came out.</summary>
    internal int Decode(ReadOnlySpan<byte> annexB, long pts, FrameHandle latest)
    {
        if (annexB.IsEmpty)
        {
            return 0;   // size 0 means end of stream to avcodec_send_packet (EINVAL with data): nothing to decode, not an error
        }
        _packet.SetData(annexB, pts);
        int sent = AvCodec.avcodec_send_packet(_ctx.Ptr, _packet.Ptr);
        AvCodec.av_packet_unref(_packet.Ptr);
        if (sent < 0 && sent != AvErrors.EAGAIN)
        {
            Errors++;
            LastError = FfmpegError.Describe(sent);
            return 0;
        }
        return Receive(latest);
    }

    /// <summary>Drains the pictures the decoder still holds (end of input).</summary>
    internal int Flush(FrameHandle latest)
    {
        AvCodec.avcodec_send_packet(_ctx.Ptr, 0);
        return Receive(latest);
    }

    private int Receive(FrameHandle latest)
    {
        int n = 0;
        while (true)
        {
            int r = AvCodec.avcodec_receive_frame(_ctx.Ptr, _scratch.Ptr);
            if (r == AvErrors.EAGAIN || r == AvErrors.EOF)
            {
                return n;
            }
            if (r < 0)
            {
                Errors++;
                LastError = FfmpegError.Describe(r);
                return n;
            }
            AvUtil.av_frame_unref(latest.Ptr);
            AvUtil.av_frame_move_ref(latest.Ptr, _scratch.Ptr);
            n++;
        }
    }

    public void Dispose()
    {
        _scratch.Dispose();
        _packet.Dispose();
        _ctx.Dispose();
    }
}
