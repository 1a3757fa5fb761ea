using System.Buffers;
using System.Buffers.Binary;

namespace HikShareGateway.WebRtc.Stun;

/// <summary>
/// Framing of STUN and TURN ChannelData on a stream (TURN over TCP/TLS, RFC 8656 §11.5; RFC 6544 ICE-TCP
/// uses RFC 4571's length prefix instead). A pure cursor: false means "need more bytes" and consumes nothing.
/// </summary>
public static class StunFraming
{
    public enum FrameKind { Stun, ChannelData }

    public enum Result { NeedMore, Frame, Invalid }

    /// <summary>Largest frame accepted on a stream (a TURN Data indication of one MTU-sized datagram fits easily).</summary>
    public const int MaxFrameLength = 4096;

    /// <summary>
    /// Reads one frame: a STUN message (20-byte header + length) or a ChannelData message (4-byte header +
    /// length, padded to 4 on streams). <see cref="Result.Invalid"/> when the stream is not STUN or TURN:
    /// the caller closes the connection.
    /// </summary>
    public static Result TryReadFrame(ref SequenceReader<byte> reader, out ReadOnlySequence<byte> frame, out FrameKind kind)
    {
        frame = default;
        kind = default;
        Span<byte> head = stackalloc byte[4];
        if (!reader.TryCopyTo(head)) return Result.NeedMore;
        var first = head[0];
        int length = BinaryPrimitives.ReadUInt16BigEndian(head[2..]);
        int total;
        if (first < 4)
        {
            // RFC 7983: STUN starts with 0..3; the cookie tells it from anything else that does.
            Span<byte> cookie = stackalloc byte[8];
            if (!reader.TryCopyTo(cookie)) return Result.NeedMore;
            if ((length & 3) != 0 || BinaryPrimitives.ReadUInt32BigEndian(cookie[4..]) != StunMessage.MagicCookie) return Result.Invalid;
            total = StunMessage.HeaderLength + length;
            kind = FrameKind.Stun;
        }
        else if (first is >= 0x40 and <= 0x4F)
        {
            // Channel numbers are 0x4000-0x4FFF (RFC 8656 §12). RFC 8656 §12.5: over TCP the ChannelData message is padded to a multiple of four bytes.
            total = 4 + ((length + 3) & ~3);
            kind = FrameKind.ChannelData;
        }
        else
        {
            return Result.Invalid;
        }
        if (total > MaxFrameLength) return Result.Invalid;
        if (reader.Remaining < total) return Result.NeedMore;
        frame = reader.UnreadSequence.Slice(0, total);
        reader.Advance(total);
        return Result.Frame;
    }
}
