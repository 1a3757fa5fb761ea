using System.Buffers.Binary;

namespace HikShareGateway.WebRtc.Rtp;

/// <summary>Receives what a browser's RTCP says about our streams (RFC 4585 §6, RFC 5104 §4.3.1, RFC 3550 §6.4.2).</summary>
public interface IRtcpFeedbackHandler
{
    /// <summary>Generic NACK: one lost packet of <paramref name="mediaSsrc"/>.</summary>
    void OnNack(uint mediaSsrc, ushort sequence);

    /// <summary>Picture Loss Indication: send a keyframe.</summary>
    void OnPli(uint mediaSsrc);

    /// <summary>Full Intra Request: send a keyframe (the sequence number dedups repeated requests).</summary>
    void OnFir(uint mediaSsrc, byte sequenceNumber);

    /// <summary>A report block of a receiver report about <paramref name="sourceSsrc"/>.</summary>
    void OnReceiverReport(uint sourceSsrc, byte fractionLost, int cumulativeLost, uint jitter);
}

/// <summary>Why an RTCP compound packet was not read to its end.</summary>
public enum RtcpError { None, TooShort, BadVersion, LengthOverrun }

/// <summary>
/// Reads a (decrypted) compound RTCP packet and reports feedback to a handler. Pure, bounds-checked, never throws;
/// packets of types it does not use (SDES, BYE, REMB, transport-cc, XR) are skipped by their length.
/// </summary>
public static class RtcpFeedbackParser
{
    public const byte SenderReport = 200, ReceiverReport = 201, Sdes = 202, Bye = 203, RtpFeedback = 205, PayloadFeedback = 206;

    public static bool TryParse(ReadOnlySpan<byte> compound, IRtcpFeedbackHandler handler, out RtcpError error)
    {
        if (compound.Length < 4) { error = RtcpError.TooShort; return false; }
        while (!compound.IsEmpty)
        {
            if (compound.Length < 4) { error = RtcpError.TooShort; return false; }
            if (compound[0] >> 6 != 2) { error = RtcpError.BadVersion; return false; }
            var count = compound[0] & 0x1F;
            var type = compound[1];
            var length = (BinaryPrimitives.ReadUInt16BigEndian(compound[2..]) + 1) * 4;
            if (length > compound.Length) { error = RtcpError.LengthOverrun; return false; }
            var packet = compound[..length];
            switch (type)
            {
                case SenderReport when packet.Length >= 28:
                    ReadReportBlocks(packet[28..], count, handler);
                    break;
                case ReceiverReport when packet.Length >= 8:
                    ReadReportBlocks(packet[8..], count, handler);
                    break;
                case RtpFeedback when count == 1 && packet.Length >= 12: // generic NACK, RFC 4585 §6.2.1
                    var nackSsrc = BinaryPrimitives.ReadUInt32BigEndian(packet[8..]);
                    for (var fci = packet[12..]; fci.Length >= 4; fci = fci[4..])
                    {
                        var pid = BinaryPrimitives.ReadUInt16BigEndian(fci);
                        var blp = BinaryPrimitives.ReadUInt16BigEndian(fci[2..]);
                        handler.OnNack(nackSsrc, pid);
                        for (var bit = 0; bit < 16; bit++)
                        {
                            if ((blp & (1 << bit)) != 0) handler.OnNack(nackSsrc, unchecked((ushort)(pid + bit + 1)));
                        }
                    }
                    break;
                case PayloadFeedback when count == 1 && packet.Length >= 12: // PLI, RFC 4585 §6.3.1
                    handler.OnPli(BinaryPrimitives.ReadUInt32BigEndian(packet[8..]));
                    break;
                case PayloadFeedback when count == 4 && packet.Length >= 12: // FIR, RFC 5104 §4.3.1: FCI entries of 8 bytes
                    for (var fci = packet[12..]; fci.Length >= 8; fci = fci[8..])
                    {
                        handler.OnFir(BinaryPrimitives.ReadUInt32BigEndian(fci), fci[4]);
                    }
                    break;
            }
            compound = compound[length..];
        }
        error = RtcpError.None;
        return true;
    }

    private static void ReadReportBlocks(ReadOnlySpan<byte> blocks, int count, IRtcpFeedbackHandler handler)
    {
        for (var i = 0; i < count && blocks.Length >= 24; i++, blocks = blocks[24..])
        {
            var lost = (blocks[5] << 16) | (blocks[6] << 8) | blocks[7];
            if ((lost & 0x800000) != 0) lost -= 0x1000000; // 24-bit signed
            handler.OnReceiverReport(BinaryPrimitives.ReadUInt32BigEndian(blocks), blocks[4], lost, BinaryPrimitives.ReadUInt32BigEndian(blocks[12..]));
        }
    }
}

/// <summary>Writes our RTCP: a sender report with an SDES CNAME (RFC 3550 §6.4.1, §6.5; a compound starts with SR).</summary>
public static class RtcpWriter
{
    /// <summary>NTP format (RFC 3550 §4): seconds since 1900 in the high word, fraction in the low.</summary>
    public static ulong NtpTimestamp(DateTimeOffset time)
    {
        var sinceEpoch = time - new DateTimeOffset(1900, 1, 1, 0, 0, 0, TimeSpan.Zero);
        var seconds = (ulong)(sinceEpoch.Ticks / TimeSpan.TicksPerSecond);
        var fraction = (ulong)(sinceEpoch.Ticks % TimeSpan.TicksPerSecond) * 0x1_0000_0000UL / TimeSpan.TicksPerSecond;
        return (seconds << 32) | fraction;
    }

    /// <summary>Writes SR (no report blocks: we receive no media) + SDES CNAME; returns the length.</summary>
    public static int WriteSenderReport(Span<byte> destination, uint ssrc, ulong ntp, uint rtpTimestamp, uint packetCount, uint octetCount, ReadOnlySpan<byte> cname)
    {
        if (cname.Length > 255) throw new ArgumentException("A CNAME is at most 255 bytes.", nameof(cname));
        destination[0] = 0x80;
        destination[1] = 200;
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], 6);
        BinaryPrimitives.WriteUInt32BigEndian(destination[4..], ssrc);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], ntp);
        BinaryPrimitives.WriteUInt32BigEndian(destination[16..], rtpTimestamp);
        BinaryPrimitives.WriteUInt32BigEndian(destination[20..], packetCount);
        BinaryPrimitives.WriteUInt32BigEndian(destination[24..], octetCount);
        // SDES: one chunk, CNAME item, then a null item padding the chunk to 32 bits.
        var sdes = destination[28..];
        var chunk = 4 + 2 + cname.Length + 1;
        var padded = (chunk + 3) & ~3;
        sdes[0] = 0x81;
        sdes[1] = 202;
        BinaryPrimitives.WriteUInt16BigEndian(sdes[2..], (ushort)(padded / 4));
        BinaryPrimitives.WriteUInt32BigEndian(sdes[4..], ssrc);
        sdes[8] = 1; // CNAME
        sdes[9] = (byte)cname.Length;
        cname.CopyTo(sdes[10..]);
        sdes.Slice(10 + cname.Length, padded - (chunk - 1)).Clear();
        return 28 + 4 + padded;
    }
}
