using System.Buffers.Binary;
using HikShareGateway.Media;

namespace HikShareGateway.Tests.Media;

/// <summary>Pooled RTP packets built by hand, as a source would commit them.</summary>
internal static class MediaTestKit
{
    public const byte Sps = 0x67, Pps = 0x68, Idr = 0x65, Slice = 0x41;

    /// <summary>An RTP packet (version 2, PT 96) with <paramref name="payload"/>, committed on <paramref name="track"/>.</summary>
    public static RtpBuffer Packet(RtpBufferPool pool, ushort sequence, int track = 0, bool rtcp = false, long receivedAt = 1, bool marker = false, params byte[] payload)
    {
        var length = 12 + payload.Length;
        var b = pool.Rent();
        var span = b.Prepare(length);
        span[..12].Clear();
        span[0] = 0x80;
        span[1] = (byte)(96 | (marker ? 0x80 : 0));
        BinaryPrimitives.WriteUInt16BigEndian(span[2..], sequence);
        BinaryPrimitives.WriteUInt32BigEndian(span[8..], 0x1234);
        payload.CopyTo(span[12..]);
        b.Commit(length, track, rtcp, receivedAt);
        return b;
    }

    /// <summary>The first fragment of an FU-A (RFC 6184 §5.8) of a NAL of <paramref name="nalType"/>.</summary>
    public static byte[] FuAStart(int nalType) => [0x7C, (byte)(0x80 | nalType), 0xAA];

    /// <summary>A middle fragment of an FU-A.</summary>
    public static byte[] FuAMiddle(int nalType) => [0x7C, (byte)nalType, 0xBB];

    /// <summary>The last fragment of an FU-A (send it with the marker bit when it ends the access unit).</summary>
    public static byte[] FuAEnd(int nalType) => [0x7C, (byte)(0x40 | nalType), 0xCC];

    public static ushort SequenceOf(RtpBuffer b) => BinaryPrimitives.ReadUInt16BigEndian(b.PacketSpan[2..]);

    public static MediaTrack H264Track { get; } = new() { Type = "video", EncodingName = "H264", ClockRate = 90000, PayloadType = 96, Formats = ["96"] };

    public static MediaTrack PcmaTrack { get; } = new() { Type = "audio", EncodingName = "PCMA", ClockRate = 8000, PayloadType = 8, Formats = ["8"] };
}
