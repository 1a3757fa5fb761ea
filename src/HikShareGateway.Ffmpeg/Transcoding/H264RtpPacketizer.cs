using System.Buffers.Binary;
using HikShareGateway.Ffmpeg.Video;

namespace HikShareGateway.Ffmpeg.Transcoding;

/// <summary>
/// An H.264 access unit (Annex B) to RTP packets (RFC 6184, packetization-mode 1): single NAL unit packets up to the
/// payload limit, FU-A fragments above it; the marker bit on the access unit's last packet. Pure over the caller's
/// buffers: <see cref="Packetize"/> writes each packet into a span the caller provides (no allocation).
/// </summary>
public sealed class H264RtpPacketizer(uint ssrc, int payloadType = 96, int maxPayload = 1200)
{
    private ushort _sequence = (ushort)Random.Shared.Next(0, 65536);

    /// <summary>Largest packet <see cref="Packetize"/> writes: 12-byte header + payload limit.</summary>
    public int MaxPacket => 12 + maxPayload;

    /// <summary>Writes one packet of the access unit into the span given by <paramref name="rent"/> and hands it to
    /// <paramref name="emit"/> (its length); in order, the last one with the marker bit. Returns the packet count.</summary>
    public int Packetize<TState>(ReadOnlySpan<byte> accessUnit, uint timestamp, TState state, RentPacket<TState> rent, EmitPacket<TState> emit)
    {
        int count = 0;
        // Find the NAL units first so that the last packet of the last one gets the marker.
        var rest = accessUnit;
        scoped ReadOnlySpan<byte> nal = default;
        bool have = AnnexB.TryReadNal(ref rest, out nal);
        while (have)
        {
            var current = nal;
            have = AnnexB.TryReadNal(ref rest, out nal);
            while (have && nal.IsEmpty)
            {
                have = AnnexB.TryReadNal(ref rest, out nal);
            }
            if (current.IsEmpty)
            {
                continue;
            }
            bool lastNal = !have;
            if (current.Length <= maxPayload)
            {
                var packet = rent(state, 12 + current.Length);
                WriteHeader(packet, timestamp, lastNal);
                current.CopyTo(packet[12..]);
                emit(state, 12 + current.Length);
                count++;
                continue;
            }
            // RFC 6184 §5.8 FU-A: indicator (F, NRI, 28), header (S, E, type), fragment.
            byte indicator = (byte)((current[0] & 0xE0) | 28);
            byte type = (byte)(current[0] & 0x1F);
            var body = current[1..];
            bool first = true;
            while (body.Length > 0)
            {
                int take = Math.Min(body.Length, maxPayload - 2);
                bool end = take == body.Length;
                var packet = rent(state, 14 + take);
                WriteHeader(packet, timestamp, lastNal && end);
                packet[12] = indicator;
                packet[13] = (byte)((first ? 0x80 : 0) | (end ? 0x40 : 0) | type);
                body[..take].CopyTo(packet[14..]);
                emit(state, 14 + take);
                count++;
                body = body[take..];
                first = false;
            }
        }
        return count;
    }

    private void WriteHeader(Span<byte> p, uint timestamp, bool marker)
    {
        p[0] = 0x80;
        p[1] = (byte)((marker ? 0x80 : 0) | (payloadType & 0x7F));
        BinaryPrimitives.WriteUInt16BigEndian(p[2..], _sequence++);
        BinaryPrimitives.WriteUInt32BigEndian(p[4..], timestamp);
        BinaryPrimitives.WriteUInt32BigEndian(p[8..], ssrc);
    }
}

/// <summary>A writable span of at least <paramref name="length"/> bytes for the next packet.</summary>
public delegate Span<byte> RentPacket<TState>(TState state, int length);

/// <summary>The packet written into the last rented span is complete, <paramref name="length"/> bytes.</summary>
public delegate void EmitPacket<TState>(TState state, int length);
