namespace HikShareGateway.Mp4.Codecs;

/// <summary>
/// Reads bits MSB first from an RBSP (emulation prevention already removed), with the exp-Golomb codes of
/// H.264 §9.1 / H.265 §9.2. Reading past the end never throws: it yields zeros and sets <see cref="Overrun"/>,
/// which the parsers check once at the end.
/// </summary>
internal ref struct BitReader(ReadOnlySpan<byte> data)
{
    private readonly ReadOnlySpan<byte> _data = data;
    private int _bit;

    public bool Overrun { get; private set; }

    public readonly int BitsLeft => Math.Max(0, (_data.Length * 8) - _bit);

    public uint ReadBits(int count)
    {
        uint value = 0;
        for (int i = 0; i < count; i++)
        {
            value = (value << 1) | ReadBit();
        }

        return value;
    }

    public uint ReadBit()
    {
        if (_bit >= _data.Length * 8)
        {
            Overrun = true;
            return 0;
        }

        uint bit = (uint)(_data[_bit >> 3] >> (7 - (_bit & 7))) & 1;
        _bit++;
        return bit;
    }

    public bool ReadFlag() => ReadBit() != 0;

    public void Skip(int bits)
    {
        _bit += bits;
        if (_bit > _data.Length * 8)
        {
            Overrun = true;
        }
    }

    /// <summary>ue(v). More than 31 leading zeros is not a valid code: it sets <see cref="Overrun"/>.</summary>
    public uint ReadUe()
    {
        int zeros = 0;
        while (ReadBit() == 0)
        {
            if (Overrun || ++zeros > 31)
            {
                Overrun = true;
                return 0;
            }
        }

        return zeros == 0 ? 0 : (uint)((1L << zeros) - 1 + ReadBits(zeros));
    }

    /// <summary>se(v): 1, 2, 3, 4 … map to 1, −1, 2, −2 ….</summary>
    public int ReadSe()
    {
        uint code = ReadUe();
        return (code & 1) != 0 ? (int)((code + 1) / 2) : -(int)(code / 2);
    }

    /// <summary>
    /// Copies <paramref name="nal"/> without its emulation prevention bytes (00 00 03 → 00 00, H.264 §7.4.1,
    /// H.265 §7.4.2) into <paramref name="rbsp"/>; returns the length written (truncated to the destination).
    /// </summary>
    public static int Unescape(ReadOnlySpan<byte> nal, Span<byte> rbsp)
    {
        int written = 0;
        int zeros = 0;
        foreach (byte b in nal)
        {
            if (written == rbsp.Length)
            {
                break;
            }

            if (zeros >= 2 && b == 3)
            {
                zeros = 0;
                continue;
            }

            zeros = b == 0 ? zeros + 1 : 0;
            rbsp[written++] = b;
        }

        return written;
    }
}
