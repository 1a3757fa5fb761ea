using System.Buffers.Binary;

namespace HikShareGateway.Mp4.Codecs;

/// <summary>
/// The decoder configuration records of ISO/IEC 14496-15 that go in avcC (§5.3.3.1) and hvcC (§8.3.3.1).
/// Built once per stream (or per parameter-set change), so they are plain arrays. NAL unit lengths in the
/// samples are 4 bytes (lengthSizeMinusOne = 3), as the depacketizers write them.
/// </summary>
public static class DecoderConfigurationRecords
{
    public static byte[] BuildAvcC(ReadOnlySpan<byte> sps, ReadOnlySpan<byte> pps, H264Sps info)
    {
        bool high = H264Sps.IsHighProfile(info.ProfileIdc);
        var record = new byte[6 + 2 + sps.Length + 1 + 2 + pps.Length + (high ? 4 : 0)];
        int p = 0;
        record[p++] = 1; // configurationVersion
        record[p++] = info.ProfileIdc;
        record[p++] = info.Constraints;
        record[p++] = info.LevelIdc;
        record[p++] = 0xFC | 3; // reserved '111111', lengthSizeMinusOne
        record[p++] = 0xE0 | 1; // reserved '111', numOfSequenceParameterSets
        BinaryPrimitives.WriteUInt16BigEndian(record.AsSpan(p), (ushort)sps.Length);
        sps.CopyTo(record.AsSpan(p + 2));
        p += 2 + sps.Length;
        record[p++] = 1; // numOfPictureParameterSets
        BinaryPrimitives.WriteUInt16BigEndian(record.AsSpan(p), (ushort)pps.Length);
        pps.CopyTo(record.AsSpan(p + 2));
        p += 2 + pps.Length;
        if (high)
        {
            record[p++] = (byte)(0xFC | info.ChromaFormatIdc);
            record[p++] = (byte)(0xF8 | (info.BitDepthLuma - 8));
            record[p++] = (byte)(0xF8 | (info.BitDepthChroma - 8));
            record[p++] = 0; // numOfSequenceParameterSetExt
        }

        return record;
    }

    public static byte[] BuildHvcC(ReadOnlySpan<byte> vps, ReadOnlySpan<byte> sps, ReadOnlySpan<byte> pps, H265Sps info)
    {
        var record = new byte[23 + (3 * 5) + vps.Length + sps.Length + pps.Length];
        int p = 0;
        record[p++] = 1; // configurationVersion
        record[p++] = (byte)((info.ProfileSpace << 6) | (info.TierFlag ? 0x20 : 0) | info.ProfileIdc);
        BinaryPrimitives.WriteUInt32BigEndian(record.AsSpan(p), info.ProfileCompatibilityFlags);
        p += 4;
        for (int i = 5; i >= 0; i--)
        {
            record[p++] = (byte)(info.ConstraintIndicatorFlags >> (i * 8));
        }

        record[p++] = info.LevelIdc;
        BinaryPrimitives.WriteUInt16BigEndian(record.AsSpan(p), 0xF000); // reserved '1111', min_spatial_segmentation_idc 0
        p += 2;
        record[p++] = 0xFC; // reserved '111111', parallelismType 0 (unknown)
        record[p++] = (byte)(0xFC | info.ChromaFormatIdc);
        record[p++] = (byte)(0xF8 | (info.BitDepthLuma - 8));
        record[p++] = (byte)(0xF8 | (info.BitDepthChroma - 8));
        p += 2; // avgFrameRate 0 (unspecified)
        // constantFrameRate 0, numTemporalLayers, temporalIdNested, lengthSizeMinusOne 3.
        record[p++] = (byte)((info.MaxSubLayers << 3) | (info.TemporalIdNesting ? 0x04 : 0) | 3);
        record[p++] = 3; // numOfArrays
        p = WriteArray(record, p, 32, vps);
        p = WriteArray(record, p, 33, sps);
        WriteArray(record, p, 34, pps);
        return record;
    }

    private static int WriteArray(byte[] record, int p, int nalType, ReadOnlySpan<byte> nal)
    {
        // array_completeness 1: every parameter set of this type is here (hvc1; hev1 could also carry them in band).
        record[p++] = (byte)(0x80 | nalType);
        BinaryPrimitives.WriteUInt16BigEndian(record.AsSpan(p), 1);
        BinaryPrimitives.WriteUInt16BigEndian(record.AsSpan(p + 2), (ushort)nal.Length);
        nal.CopyTo(record.AsSpan(p + 4));
        return p + 4 + nal.Length;
    }
}
