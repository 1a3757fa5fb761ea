using System.Buffers.Binary;

namespace HikShareGateway.Mp4.Rtp;

/// <summary>
/// The fields of one RTP packet (RFC 3550 §5.1) read in place: nothing is copied. This project references only
/// Core, so it reads the fixed header itself; CSRCs, the extension (§5.3.1) and padding (§5.1 P bit) are skipped.
/// </summary>
public readonly ref struct RtpView
{
    public bool Marker { get; }
    public byte PayloadType { get; }
    public ushort SequenceNumber { get; }
    public uint Timestamp { get; }
    public uint Ssrc { get; }
    public ReadOnlySpan<byte> Payload { get; }

    private RtpView(bool marker, byte payloadType, ushort sequence, uint timestamp, uint ssrc, ReadOnlySpan<byte> payload)
    {
        Marker = marker;
        PayloadType = payloadType;
        SequenceNumber = sequence;
        Timestamp = timestamp;
        Ssrc = ssrc;
        Payload = payload;
    }

    /// <summary>False for anything that is not a well-formed RTP version 2 packet.</summary>
    public static bool TryRead(ReadOnlySpan<byte> packet, out RtpView view)
    {
        view = default;
        if (packet.Length < 12 || (packet[0] >> 6) != 2)
        {
            return false;
        }

        int offset = 12 + ((packet[0] & 0x0F) * 4);
        if ((packet[0] & 0x10) != 0)
        {
            if (packet.Length < offset + 4)
            {
                return false;
            }

            offset += 4 + (BinaryPrimitives.ReadUInt16BigEndian(packet.Slice(offset + 2)) * 4);
        }

        int end = packet.Length;
        if ((packet[0] & 0x20) != 0)
        {
            end -= packet[^1];
        }

        if (offset > end)
        {
            return false;
        }

        view = new RtpView(
            (packet[1] & 0x80) != 0,
            (byte)(packet[1] & 0x7F),
            BinaryPrimitives.ReadUInt16BigEndian(packet.Slice(2)),
            BinaryPrimitives.ReadUInt32BigEndian(packet.Slice(4)),
            BinaryPrimitives.ReadUInt32BigEndian(packet.Slice(8)),
            packet[offset..end]);
        return true;
    }
}
