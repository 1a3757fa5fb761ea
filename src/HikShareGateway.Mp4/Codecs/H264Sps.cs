namespace HikShareGateway.Mp4.Codecs;

/// <summary>
/// What the MP4 writer needs from an H.264 sequence parameter set (H.264 §7.3.2.1.1): profile and level for
/// avcC and the MSE codec string, the picture size after cropping, and the VUI timing when present (§E.1.1).
/// </summary>
public sealed record H264Sps
{
    public required byte ProfileIdc { get; init; }

    /// <summary>constraint_set0..5 flags and the two reserved bits: avcC's profile_compatibility byte.</summary>
    public required byte Constraints { get; init; }

    public required byte LevelIdc { get; init; }

    public required int ChromaFormatIdc { get; init; }

    public required int BitDepthLuma { get; init; }

    public required int BitDepthChroma { get; init; }

    public required int Width { get; init; }

    public required int Height { get; init; }

    /// <summary>0 when the VUI has no timing_info.</summary>
    public uint NumUnitsInTick { get; init; }

    public uint TimeScale { get; init; }

    /// <summary>RFC 6381 §3.3: "avc1." and profile_idc, constraints, level_idc in hex.</summary>
    public string CodecString => $"avc1.{ProfileIdc:X2}{Constraints:X2}{LevelIdc:X2}";

    /// <summary>The profiles whose SPS carries chroma_format_idc and bit depths (and whose avcC has them too).</summary>
    public static bool IsHighProfile(int profileIdc) =>
        profileIdc is 100 or 110 or 122 or 244 or 44 or 83 or 86 or 118 or 128 or 138 or 139 or 134 or 135;

    /// <summary>Parses the SPS NAL unit (header byte included); false when it is not one or is malformed.</summary>
    public static bool TryParse(ReadOnlySpan<byte> nal, out H264Sps? sps)
    {
        sps = null;
        if (nal.Length < 4 || (nal[0] & 0x1F) != 7)
        {
            return false;
        }

        Span<byte> rbsp = stackalloc byte[Math.Min(nal.Length, 1024)];
        var bits = new BitReader(rbsp[..BitReader.Unescape(nal[1..], rbsp)]);

        byte profile = (byte)bits.ReadBits(8);
        byte constraints = (byte)bits.ReadBits(8);
        byte level = (byte)bits.ReadBits(8);
        if (bits.ReadUe() > 31)
        {
            return false;
        }

        uint chromaFormat = 1;
        uint bitDepthLuma = 8;
        uint bitDepthChroma = 8;
        bool separateColourPlanes = false;
        if (IsHighProfile(profile))
        {
            chromaFormat = bits.ReadUe();
            if (chromaFormat > 3)
            {
                return false;
            }

            if (chromaFormat == 3)
            {
                separateColourPlanes = bits.ReadFlag();
            }

            bitDepthLuma = 8 + bits.ReadUe();
            bitDepthChroma = 8 + bits.ReadUe();
            bits.Skip(1); // qpprime_y_zero_transform_bypass_flag
            if (bits.ReadFlag())
            {
                // seq_scaling_matrix_present_flag: the lists are read only to get past them (§7.3.2.1.1.1).
                int lists = chromaFormat != 3 ? 8 : 12;
                for (int i = 0; i < lists && !bits.Overrun; i++)
                {
                    if (bits.ReadFlag())
                    {
                        SkipScalingList(ref bits, i < 6 ? 16 : 64);
                    }
                }
            }
        }

        bits.ReadUe(); // log2_max_frame_num_minus4
        uint pocType = bits.ReadUe();
        if (pocType == 0)
        {
            bits.ReadUe(); // log2_max_pic_order_cnt_lsb_minus4
        }
        else if (pocType == 1)
        {
            bits.Skip(1); // delta_pic_order_always_zero_flag
            bits.ReadSe();
            bits.ReadSe();
            uint cycle = bits.ReadUe();
            if (cycle > 255)
            {
                return false;
            }

            for (uint i = 0; i < cycle; i++)
            {
                bits.ReadSe();
            }
        }
        else if (pocType != 2)
        {
            return false;
        }

        bits.ReadUe(); // max_num_ref_frames
        bits.Skip(1); // gaps_in_frame_num_value_allowed_flag
        uint widthInMbs = bits.ReadUe() + 1;
        uint heightInMapUnits = bits.ReadUe() + 1;
        bool frameMbsOnly = bits.ReadFlag();
        if (!frameMbsOnly)
        {
            bits.Skip(1); // mb_adaptive_frame_field_flag
        }

        bits.Skip(1); // direct_8x8_inference_flag
        uint cropLeft = 0, cropRight = 0, cropTop = 0, cropBottom = 0;
        if (bits.ReadFlag())
        {
            cropLeft = bits.ReadUe();
            cropRight = bits.ReadUe();
            cropTop = bits.ReadUe();
            cropBottom = bits.ReadUe();
        }

        uint unitsInTick = 0, timeScale = 0;
        if (bits.ReadFlag())
        {
            ReadVuiTiming(ref bits, out unitsInTick, out timeScale);
        }

        if (bits.Overrun || widthInMbs > 1024 || heightInMapUnits > 1024)
        {
            return false;
        }

        // §7.4.2.1.1, frame_crop_*_offset: units of chroma samples (Table 6-1), doubled for field coding.
        int chromaArrayType = separateColourPlanes ? 0 : (int)chromaFormat;
        int subWidth = chromaArrayType is 1 or 2 ? 2 : 1;
        int subHeight = chromaArrayType == 1 ? 2 : 1;
        int cropUnitX = chromaArrayType == 0 ? 1 : subWidth;
        int cropUnitY = (chromaArrayType == 0 ? 1 : subHeight) * (frameMbsOnly ? 1 : 2);
        long width = (widthInMbs * 16L) - (cropUnitX * ((long)cropLeft + cropRight));
        long height = (heightInMapUnits * 16L * (frameMbsOnly ? 1 : 2)) - (cropUnitY * ((long)cropTop + cropBottom));
        if (width <= 0 || height <= 0 || bitDepthLuma > 14 || bitDepthChroma > 14)
        {
            return false;
        }

        sps = new H264Sps
        {
            ProfileIdc = profile,
            Constraints = constraints,
            LevelIdc = level,
            ChromaFormatIdc = (int)chromaFormat,
            BitDepthLuma = (int)bitDepthLuma,
            BitDepthChroma = (int)bitDepthChroma,
            Width = (int)width,
            Height = (int)height,
            NumUnitsInTick = unitsInTick,
            TimeScale = timeScale,
        };
        return true;
    }

    private static void SkipScalingList(ref BitReader bits, int size)
    {
        int last = 8, next = 8;
        for (int j = 0; j < size && !bits.Overrun; j++)
        {
            if (next != 0)
            {
                next = (last + bits.ReadSe() + 256) % 256;
            }

            last = next == 0 ? last : next;
        }
    }

    private static void ReadVuiTiming(ref BitReader bits, out uint unitsInTick, out uint timeScale)
    {
        unitsInTick = timeScale = 0;
        if (bits.ReadFlag() && bits.ReadBits(8) == 255)
        {
            bits.Skip(32); // aspect_ratio_idc Extended_SAR: sar_width, sar_height
        }

        if (bits.ReadFlag())
        {
            bits.Skip(1); // overscan_appropriate_flag
        }

        if (bits.ReadFlag())
        {
            bits.Skip(4); // video_format, video_full_range_flag
            if (bits.ReadFlag())
            {
                bits.Skip(24); // colour_primaries, transfer_characteristics, matrix_coefficients
            }
        }

        if (bits.ReadFlag())
        {
            bits.ReadUe();
            bits.ReadUe();
        }

        if (bits.ReadFlag())
        {
            unitsInTick = bits.ReadBits(32);
            timeScale = bits.ReadBits(32);
        }
    }
}
