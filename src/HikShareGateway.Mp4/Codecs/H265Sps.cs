namespace HikShareGateway.Mp4.Codecs;

/// <summary>
/// What hvcC (ISO/IEC 14496-15 §8.3.3) and the MSE codec string need from an H.265 sequence parameter set
/// (H.265 §7.3.2.2): the general profile_tier_level, chroma format, bit depths and the cropped picture size.
/// </summary>
public sealed record H265Sps
{
    public required int ProfileSpace { get; init; }

    public required bool TierFlag { get; init; }

    public required int ProfileIdc { get; init; }

    public required uint ProfileCompatibilityFlags { get; init; }

    /// <summary>The 48 bits of general_progressive_source_flag … general_inbld/reserved, in the low bits.</summary>
    public required ulong ConstraintIndicatorFlags { get; init; }

    public required byte LevelIdc { get; init; }

    public required int MaxSubLayers { get; init; }

    public required bool TemporalIdNesting { get; init; }

    public required int ChromaFormatIdc { get; init; }

    public required int BitDepthLuma { get; init; }

    public required int BitDepthChroma { get; init; }

    public required int Width { get; init; }

    public required int Height { get; init; }

    /// <summary>
    /// ISO/IEC 14496-15 Annex E.3: "hvc1." profile space (A/B/C) and idc, the compatibility flags bit-reversed in
    /// hex, L or H and the level, then the constraint bytes in hex without trailing zero bytes.
    /// </summary>
    public string CodecString
    {
        get
        {
            string space = ProfileSpace == 0 ? string.Empty : ((char)('A' + ProfileSpace - 1)).ToString();
            uint reversed = 0;
            for (int i = 0; i < 32; i++)
            {
                reversed |= ((ProfileCompatibilityFlags >> i) & 1) << (31 - i);
            }

            var text = new System.Text.StringBuilder($"hvc1.{space}{ProfileIdc}.{reversed:X}.{(TierFlag ? 'H' : 'L')}{LevelIdc}");
            int bytes = 6;
            while (bytes > 0 && ((ConstraintIndicatorFlags >> ((6 - bytes) * 8)) & 0xFF) == 0)
            {
                bytes--;
            }

            for (int i = 0; i < bytes; i++)
            {
                text.Append('.').Append(((ConstraintIndicatorFlags >> ((5 - i) * 8)) & 0xFF).ToString("X"));
            }

            return text.ToString();
        }
    }

    public static bool TryParse(ReadOnlySpan<byte> nal, out H265Sps? sps)
    {
        sps = null;
        if (nal.Length < 16 || ((nal[0] >> 1) & 0x3F) != 33)
        {
            return false;
        }

        Span<byte> rbsp = stackalloc byte[Math.Min(nal.Length, 1024)];
        var bits = new BitReader(rbsp[..BitReader.Unescape(nal[2..], rbsp)]);

        bits.Skip(4); // sps_video_parameter_set_id
        int maxSubLayersMinus1 = (int)bits.ReadBits(3);
        bool nesting = bits.ReadFlag();
        if (maxSubLayersMinus1 > 6)
        {
            return false;
        }

        // profile_tier_level(1, sps_max_sub_layers_minus1), §7.3.3.
        int space = (int)bits.ReadBits(2);
        bool tier = bits.ReadFlag();
        int profile = (int)bits.ReadBits(5);
        uint compatibility = bits.ReadBits(32);
        ulong constraints = ((ulong)bits.ReadBits(16) << 32) | bits.ReadBits(32);
        byte level = (byte)bits.ReadBits(8);
        Span<bool> profilePresent = stackalloc bool[8];
        Span<bool> levelPresent = stackalloc bool[8];
        for (int i = 0; i < maxSubLayersMinus1; i++)
        {
            profilePresent[i] = bits.ReadFlag();
            levelPresent[i] = bits.ReadFlag();
        }

        if (maxSubLayersMinus1 > 0)
        {
            bits.Skip(2 * (8 - maxSubLayersMinus1)); // reserved_zero_2bits
        }

        for (int i = 0; i < maxSubLayersMinus1; i++)
        {
            bits.Skip((profilePresent[i] ? 88 : 0) + (levelPresent[i] ? 8 : 0));
        }

        if (bits.ReadUe() > 15)
        {
            return false; // sps_seq_parameter_set_id
        }

        uint chromaFormat = bits.ReadUe();
        if (chromaFormat > 3)
        {
            return false;
        }

        bool separateColourPlanes = chromaFormat == 3 && bits.ReadFlag();
        uint width = bits.ReadUe();
        uint height = bits.ReadUe();
        uint left = 0, right = 0, top = 0, bottom = 0;
        if (bits.ReadFlag())
        {
            left = bits.ReadUe();
            right = bits.ReadUe();
            top = bits.ReadUe();
            bottom = bits.ReadUe();
        }

        uint bitDepthLuma = 8 + bits.ReadUe();
        uint bitDepthChroma = 8 + bits.ReadUe();
        if (bits.Overrun || width is 0 or > 16888 || height is 0 or > 16888 || bitDepthLuma > 16 || bitDepthChroma > 16)
        {
            return false;
        }

        // §7.4.3.2.1, conf_win_*_offset: in units of SubWidthC / SubHeightC (Table 6-1).
        int chromaArrayType = separateColourPlanes ? 0 : (int)chromaFormat;
        int subWidth = chromaArrayType is 1 or 2 ? 2 : 1;
        int subHeight = chromaArrayType == 1 ? 2 : 1;
        long croppedWidth = width - (subWidth * ((long)left + right));
        long croppedHeight = height - (subHeight * ((long)top + bottom));
        if (croppedWidth <= 0 || croppedHeight <= 0)
        {
            return false;
        }

        sps = new H265Sps
        {
            ProfileSpace = space,
            TierFlag = tier,
            ProfileIdc = profile,
            ProfileCompatibilityFlags = compatibility,
            ConstraintIndicatorFlags = constraints,
            LevelIdc = level,
            MaxSubLayers = maxSubLayersMinus1 + 1,
            TemporalIdNesting = nesting,
            ChromaFormatIdc = (int)chromaFormat,
            BitDepthLuma = (int)bitDepthLuma,
            BitDepthChroma = (int)bitDepthChroma,
            Width = (int)croppedWidth,
            Height = (int)croppedHeight,
        };
        return true;
    }
}
