namespace HikShareGateway.WebRtc.Stun;

/// <summary>CRC-32 (ISO-HDLC, reflected polynomial 0xEDB88320) as STUN's FINGERPRINT uses it (RFC 8489 §14.7).
/// System.IO.Hashing is a separate package; twenty lines are cheaper than a dependency.</summary>
internal static class Crc32
{
    private static readonly uint[] Table = BuildTable();

    private static uint[] BuildTable()
    {
        var table = new uint[256];
        for (uint n = 0; n < 256; n++)
        {
            var c = n;
            for (var k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            table[n] = c;
        }
        return table;
    }

    public static uint Append(uint crc, ReadOnlySpan<byte> data)
    {
        var c = ~crc;
        var table = Table;
        foreach (var b in data) c = table[(c ^ b) & 0xFF] ^ (c >> 8);
        return ~c;
    }

    public static uint Compute(ReadOnlySpan<byte> data) => Append(0, data);
}
