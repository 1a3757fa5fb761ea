using System.Buffers.Binary;

namespace HikShareGateway.Mp4.Rtp;

/// <summary>The AU-header layout of an RFC 3640 (mpeg4-generic) stream, from its fmtp (sizelength, indexlength, indexdeltalength).</summary>
public readonly record struct AacAuLayout(int SizeLength, int IndexLength, int IndexDeltaLength)
{
    /// <summary>AAC-hbr (RFC 3640 §3.3.6): 13-bit sizes, 3-bit indexes: what cameras send.</summary>
    public static readonly AacAuLayout Hbr = new(13, 3, 3);

    /// <summary>False when the lengths cannot describe AU headers this reader takes (size 1–16 bits, indexes 0–8).</summary>
    public bool IsValid => SizeLength is >= 1 and <= 16 && IndexLength is >= 0 and <= 8 && IndexDeltaLength is >= 0 and <= 8;
}

/// <summary>
/// Splits one RFC 3640 RTP payload (§3.2: AU-headers-length, AU headers, then the access units back to back) into its
/// AAC access units. Pure, no allocation. Only complete access units are returned: a fragment of a larger one (an
/// AU header whose size passes the payload's end) ends the list, as do interleaved streams (a non-zero index delta).
/// </summary>
public static class AacAuHeaders
{
    /// <summary>
    /// Fills <paramref name="units"/> with the payload's access units (ranges into <paramref name="payload"/>); returns
    /// how many (0 when the payload is malformed). At most <paramref name="units"/>' length are read.
    /// </summary>
    public static int Split(ReadOnlySpan<byte> payload, AacAuLayout layout, Span<Range> units)
    {
        if (!layout.IsValid || payload.Length < 2)
        {
            return 0;
        }
        int headerBits = BinaryPrimitives.ReadUInt16BigEndian(payload);
        int headerBytes = (headerBits + 7) / 8;
        if (headerBits == 0 || 2 + headerBytes > payload.Length)
        {
            return 0;
        }
        ReadOnlySpan<byte> headers = payload.Slice(2, headerBytes);
        int data = 2 + headerBytes;
        int bit = 0;
        int count = 0;
        bool first = true;
        while (count < units.Length)
        {
            int indexBits = first ? layout.IndexLength : layout.IndexDeltaLength;
            if (bit + layout.SizeLength + indexBits > headerBits)
            {
                break;
            }
            int size = (int)ReadBits(headers, bit, layout.SizeLength);
            int index = (int)ReadBits(headers, bit + layout.SizeLength, indexBits);
            bit += layout.SizeLength + indexBits;
            if (index != 0 || size == 0 || size > payload.Length - data)
            {
                break;
            }
            units[count++] = new Range(data, data + size);
            data += size;
            first = false;
        }
        return count;
    }

    private static uint ReadBits(ReadOnlySpan<byte> bytes, int offset, int length)
    {
        uint value = 0;
        for (int i = 0; i < length; i++)
        {
            int b = offset + i;
            value = (value << 1) | (uint)((bytes[b >> 3] >> (7 - (b & 7))) & 1);
        }
        return value;
    }
}
