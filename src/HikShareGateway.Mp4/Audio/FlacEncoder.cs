using System.Buffers.Binary;

namespace HikShareGateway.Mp4.Audio;

/// <summary>
/// A small FLAC encoder for mono 16-bit PCM (decoded G.711), one FLAC frame per call, for FLAC in ISO BMFF
/// (browsers' MSE play "flac" in MP4 but not G.711). Each subframe is CONSTANT, VERBATIM or FIXED (orders
/// 0–4, one Rice partition, wasted bits), whichever is smallest, so a frame is never bigger than the PCM plus its headers.
/// No allocation per frame: the residuals live on the stack (blocks of at most <see cref="MaxBlockSize"/>).
/// </summary>
/// <remarks>
/// Layout from the FLAC format specification (RFC 9639): frame header §9.1, subframes §9.2, footer §9.3. The stream is
/// variable-blocksize (§9.1.1): every frame holds one RTP packet's samples, and cameras send packets of any length
/// (160, 320, 1024 samples...), so frames carry their first sample's number and STREAMINFO bounds the block size by
/// 16 and <see cref="MaxBlockSize"/>. A fixed-blocksize stream with the nominal size made decoders refuse a longer
/// packet ("blocksize 1024 > 160").
/// </remarks>
public sealed class FlacEncoder
{
    /// <summary>Far above one RTP packet of G.711 (1500 bytes = 1500 samples); keeps the residuals on the stack.</summary>
    public const int MaxBlockSize = 4096;

    private const int BitsPerSample = 16;
    private const int MaxFixedOrder = 4;
    private const int MaxRiceParameter = 14;

    private ulong _sampleNumber;
    /// <summary>The smallest block STREAMINFO may announce (§8.2).</summary>
    public const int MinBlockSize = 16;

    /// <param name="sampleRate">Hz, as STREAMINFO and the frame headers carry it.</param>
    /// <param name="blockSize">The usual samples per frame (one RTP packet); frames may hold 1 to <see cref="MaxBlockSize"/>.</param>
    public FlacEncoder(int sampleRate, int blockSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(sampleRate, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(sampleRate, 655_350);
        ArgumentOutOfRangeException.ThrowIfLessThan(blockSize, 16);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(blockSize, MaxBlockSize);
        SampleRate = sampleRate;
        BlockSize = blockSize;
    }

    public int SampleRate { get; }

    public int BlockSize { get; }

    /// <summary>The largest frame for <paramref name="samples"/> samples: header ≤ 16 bytes, subframe header with
    /// wasted bits ≤ 3 bytes, verbatim PCM, CRC-16.</summary>
    public static int MaxFrameBytes(int samples) => 16 + 3 + (samples * 2) + 2;

    /// <summary>
    /// The STREAMINFO metadata block (§8.2) with its 4-byte block header, marked as the last metadata block: what
    /// dfLa holds, and what follows "fLaC" in a native FLAC file.
    /// </summary>
    public byte[] StreamInfoBlock()
    {
        var block = new byte[4 + 34];
        block[0] = 0x80; // last-metadata-block flag, type 0 STREAMINFO
        block[3] = 34;
        Span<byte> info = block.AsSpan(4);
        BinaryPrimitives.WriteUInt16BigEndian(info, MinBlockSize); // minimum block size
        BinaryPrimitives.WriteUInt16BigEndian(info.Slice(2), MaxBlockSize); // maximum block size
        // Minimum and maximum frame sizes (24 bits each) are 0: unknown for a live stream.
        // Sample rate (20 bits), channels − 1 (3 bits), bits per sample − 1 (5 bits), total samples (36 bits) 0.
        ulong packed = ((ulong)SampleRate << 44) | (0UL << 41) | ((ulong)(BitsPerSample - 1) << 36);
        BinaryPrimitives.WriteUInt64BigEndian(info.Slice(10), packed);
        // MD5 of the audio: 16 zero bytes, "not computed".
        return block;
    }

    /// <summary>Encodes one frame of <paramref name="pcm"/> into <paramref name="destination"/>; returns its length.</summary>
    public int EncodeFrame(ReadOnlySpan<short> pcm, Span<byte> destination)
    {
        if (pcm.Length is 0 or > MaxBlockSize)
        {
            throw new ArgumentOutOfRangeException(nameof(pcm), pcm.Length, "a FLAC frame holds 1 to MaxBlockSize samples");
        }

        if (destination.Length < MaxFrameBytes(pcm.Length))
        {
            throw new ArgumentException("the destination is shorter than MaxFrameBytes", nameof(destination));
        }

        int headerLength = WriteHeader(pcm.Length, destination);
        var bits = new FlacBitWriter(destination.Slice(headerLength));
        WriteSubframe(pcm, ref bits);
        bits.PadToByte();
        int length = headerLength + bits.BytePosition;
        BinaryPrimitives.WriteUInt16BigEndian(destination.Slice(length), FlacCrc.Crc16(destination[..length]));
        _sampleNumber = (_sampleNumber + (ulong)pcm.Length) & 0xF_FFFF_FFFF; // 36 bits
        return length + 2;
    }

    private int WriteHeader(int samples, Span<byte> destination)
    {
        bool shortBlock = samples <= 256;
        destination[0] = 0xFF;
        destination[1] = 0xF9; // sync code, reserved 0, variable-blocksize stream
        destination[2] = (byte)(((shortBlock ? 0b0110 : 0b0111) << 4) | SampleRateCode(SampleRate));
        destination[3] = (0b0000 << 4) | (0b100 << 1); // one channel, 16 bits per sample, reserved 0
        int p = 4 + WriteUtf8(_sampleNumber, destination.Slice(4));
        if (shortBlock)
        {
            destination[p++] = (byte)(samples - 1);
        }
        else
        {
            BinaryPrimitives.WriteUInt16BigEndian(destination.Slice(p), (ushort)(samples - 1));
            p += 2;
        }

        destination[p] = FlacCrc.Crc8(destination[..p]);
        return p + 1;
    }

    /// <summary>§9.1.2: the codes for common rates; 0 means "as in STREAMINFO".</summary>
    private static int SampleRateCode(int rate) => rate switch
    {
        88_200 => 0b0001,
        176_400 => 0b0010,
        192_000 => 0b0011,
        8_000 => 0b0100,
        16_000 => 0b0101,
        22_050 => 0b0110,
        24_000 => 0b0111,
        32_000 => 0b1000,
        44_100 => 0b1001,
        48_000 => 0b1010,
        96_000 => 0b1011,
        _ => 0b0000,
    };

    /// <summary>§9.1.5: the coded number (here the first sample's number, up to 36 bits) in the UTF-8-like code.</summary>
    private static int WriteUtf8(ulong value, Span<byte> destination)
    {
        if (value < 0x80)
        {
            destination[0] = (byte)value;
            return 1;
        }

        int extra = value < 0x800 ? 1 : value < 0x10000 ? 2 : value < 0x200000 ? 3 : value < 0x4000000 ? 4 : value < 0x80000000 ? 5 : 6;
        destination[0] = (byte)((uint)(0xFF00 >> (extra + 1)) | (uint)(value >> (6 * extra)));
        for (int i = 1; i <= extra; i++)
        {
            destination[i] = (byte)(0x80 | ((value >> (6 * (extra - i))) & 0x3F));
        }

        return extra + 1;
    }

    private static void WriteSubframe(ReadOnlySpan<short> pcm, ref FlacBitWriter bits)
    {
        if (IsConstant(pcm))
        {
            bits.Write(0b0_000000_0, 8);
            bits.Write((ushort)pcm[0], BitsPerSample);
            return;
        }

        // §9.2.2 wasted bits: decoded G.711 has low bits that are always zero (µ-law values are multiples of 4,
        // A-law values of 8), so the samples are coded shifted right with fewer bits each.
        int or = 0;
        foreach (short sample in pcm)
        {
            or |= (ushort)sample;
        }

        int wasted = Math.Min(System.Numerics.BitOperations.TrailingZeroCount(or), BitsPerSample - 1);
        int sampleBits = BitsPerSample - wasted;
        Span<short> shifted = stackalloc short[pcm.Length];
        for (int i = 0; i < pcm.Length; i++)
        {
            shifted[i] = (short)(pcm[i] >> wasted);
        }

        long verbatimBits = (long)pcm.Length * sampleBits;
        Span<int> residuals = stackalloc int[pcm.Length];
        int bestOrder = -1;
        int bestRice = 0;
        long bestBits = verbatimBits;
        for (int order = 0; order <= MaxFixedOrder && order < pcm.Length; order++)
        {
            Residuals(shifted, order, residuals);
            (int rice, long riceBits) = BestRiceParameter(residuals[..(pcm.Length - order)]);
            long total = (order * sampleBits) + 2 + 4 + 4 + riceBits;
            if (total < bestBits)
            {
                bestBits = total;
                bestOrder = order;
                bestRice = rice;
            }
        }

        int type = bestOrder < 0 ? 0b000001 : 0b001000 | bestOrder;
        bits.Write((uint)((type << 1) | (wasted > 0 ? 1 : 0)), 8);
        if (wasted > 0)
        {
            bits.WriteUnary((uint)(wasted - 1));
        }

        if (bestOrder < 0)
        {
            foreach (short sample in shifted)
            {
                bits.Write((uint)sample, sampleBits);
            }

            return;
        }

        for (int i = 0; i < bestOrder; i++)
        {
            bits.Write((uint)shifted[i], sampleBits); // warm-up samples
        }

        Residuals(shifted, bestOrder, residuals);
        bits.Write(0b00, 2); // residual coding: Rice with 4-bit parameters
        bits.Write(0, 4); // partition order 0: one partition
        bits.Write((uint)bestRice, 4);
        foreach (int residual in residuals[..(pcm.Length - bestOrder)])
        {
            uint folded = Fold(residual);
            bits.WriteUnary(folded >> bestRice);
            bits.Write(folded, bestRice);
        }
    }

    private static bool IsConstant(ReadOnlySpan<short> pcm)
    {
        for (int i = 1; i < pcm.Length; i++)
        {
            if (pcm[i] != pcm[0])
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>§9.2.5: the fixed predictors' residuals, for samples order … n − 1, written from index 0.</summary>
    private static void Residuals(ReadOnlySpan<short> s, int order, Span<int> residuals)
    {
        for (int i = order; i < s.Length; i++)
        {
            residuals[i - order] = order switch
            {
                0 => s[i],
                1 => s[i] - s[i - 1],
                2 => s[i] - (2 * s[i - 1]) + s[i - 2],
                3 => s[i] - (3 * s[i - 1]) + (3 * s[i - 2]) - s[i - 3],
                _ => s[i] - (4 * s[i - 1]) + (6 * s[i - 2]) - (4 * s[i - 3]) + s[i - 4],
            };
        }
    }

    /// <summary>Zigzag: 0, −1, 1, −2 … → 0, 1, 2, 3 … (§9.2.7.3).</summary>
    private static uint Fold(int value) => (uint)((value << 1) ^ (value >> 31));

    /// <summary>The Rice parameter near log2 of the mean, refined by exact cost on its neighbours.</summary>
    private static (int Rice, long Bits) BestRiceParameter(ReadOnlySpan<int> residuals)
    {
        ulong sum = 0;
        foreach (int residual in residuals)
        {
            sum += Fold(residual);
        }

        ulong mean = residuals.IsEmpty ? 0 : sum / (ulong)residuals.Length;
        int estimate = mean == 0 ? 0 : Math.Min(MaxRiceParameter, 63 - System.Numerics.BitOperations.LeadingZeroCount(mean));
        int best = estimate;
        long bestBits = long.MaxValue;
        for (int k = Math.Max(0, estimate - 1); k <= Math.Min(MaxRiceParameter, estimate + 1); k++)
        {
            long bits = (long)residuals.Length * (k + 1);
            foreach (int residual in residuals)
            {
                bits += Fold(residual) >> k;
            }

            if (bits < bestBits)
            {
                bestBits = bits;
                best = k;
            }
        }

        return (best, bestBits);
    }
}
