using System.Buffers.Binary;

namespace HikShareGateway.WebRtc.Dtls;

/// <summary>
/// A cheap look at a datagram before it reaches the DTLS stack: every record header plausible (content type
/// 20–25, version DTLS 1.0/1.2, length inside the datagram). Garbage is counted and dropped here instead of
/// making BouncyCastle parse it. Pure; never throws.
/// </summary>
public static class DtlsRecordCheck
{
    public const int RecordHeaderLength = 13;

    public static bool IsPlausible(ReadOnlySpan<byte> datagram)
    {
        if (datagram.Length < RecordHeaderLength) return false;
        var pos = 0;
        while (pos < datagram.Length)
        {
            var rest = datagram[pos..];
            if (rest.Length < RecordHeaderLength) return false;
            var type = rest[0];
            if (type is < 20 or > 25) return false;
            if (rest[1] != 0xFE || (rest[2] != 0xFF && rest[2] != 0xFD)) return false;
            int length = BinaryPrimitives.ReadUInt16BigEndian(rest[11..]);
            if (length == 0 || length > rest.Length - RecordHeaderLength) return false;
            pos += RecordHeaderLength + length;
        }
        return true;
    }
}
