namespace HikShareGateway.Mp4.Audio;

/// <summary>
/// G.711 decoding (ITU-T G.711 Tables 1a/2a): µ-law (PCMU, RTP payload type 0) and A-law (PCMA, 8) bytes to
/// 16-bit linear PCM, by two 256-entry tables built once. µ-law gives 14-bit values and A-law 13-bit values,
/// scaled here to the 16-bit range as decoders commonly do (µ-law ×4, A-law ×8).
/// </summary>
public static class G711
{
    private static readonly short[] MuLawTable = BuildMuLaw();
    private static readonly short[] ALawTable = BuildALaw();

    public static short DecodeMuLaw(byte value) => MuLawTable[value];

    public static short DecodeALaw(byte value) => ALawTable[value];

    /// <summary>Decodes <paramref name="encoded"/> into the first encoded.Length samples of <paramref name="pcm"/>.</summary>
    public static void Decode(ReadOnlySpan<byte> encoded, Span<short> pcm, bool aLaw)
    {
        if (pcm.Length < encoded.Length)
        {
            throw new ArgumentException("the PCM buffer is shorter than the G.711 bytes", nameof(pcm));
        }

        short[] table = aLaw ? ALawTable : MuLawTable;
        for (int i = 0; i < encoded.Length; i++)
        {
            pcm[i] = table[encoded[i]];
        }
    }

    private static short[] BuildMuLaw()
    {
        var table = new short[256];
        for (int i = 0; i < 256; i++)
        {
            // The code is sent inverted; 3 exponent bits and 4 mantissa bits, biased by 0x84 (33 << 2).
            int u = ~i & 0xFF;
            int magnitude = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4);
            table[i] = (short)((u & 0x80) != 0 ? 0x84 - magnitude : magnitude - 0x84);
        }

        return table;
    }

    private static short[] BuildALaw()
    {
        var table = new short[256];
        for (int i = 0; i < 256; i++)
        {
            // Even bits are inverted on the line (xor 0x55); segment 0 is linear, the others have an implied 1.
            int a = i ^ 0x55;
            int magnitude = (a & 0x0F) << 4;
            int segment = (a & 0x70) >> 4;
            magnitude = segment == 0 ? magnitude + 8 : (magnitude + 0x108) << (segment - 1);
            table[i] = (short)((a & 0x80) != 0 ? magnitude : -magnitude);
        }

        return table;
    }
}
