using System.Buffers;
using System.Buffers.Binary;

namespace HikShareGateway.Ffmpeg.Video;

/// <summary>Pure helpers over H.264/H.265 byte streams (ITU-T H.264 Annex B, H.265 Annex B). No FFmpeg.</summary>
public static class AnnexB
{
    private static ReadOnlySpan<byte> StartCode => [0, 0, 1];

    /// <summary>
    /// Takes the next NAL unit (without its start code) off <paramref name="stream"/>; false when none is left.
    /// Leading zero bytes of a 4-byte start code and trailing zeros before the next start code are not part of a NAL.
    /// </summary>
    public static bool TryReadNal(ref ReadOnlySpan<byte> stream, out ReadOnlySpan<byte> nal)
    {
        int start = stream.IndexOf(StartCode);
        if (start < 0)
        {
            nal = default;
            stream = default;
            return false;
        }
        var rest = stream[(start + 3)..];
        int next = rest.IndexOf(StartCode);
        var body = next < 0 ? rest : rest[..next];
        stream = next < 0 ? default : rest[next..];
        nal = body.TrimEnd((byte)0);
        return true;
    }

    /// <summary>Writes <paramref name="nal"/> behind a 4-byte start code.</summary>
    public static void WriteNal(IBufferWriter<byte> output, ReadOnlySpan<byte> nal)
    {
        var span = output.GetSpan(4 + nal.Length);
        span[0] = 0; span[1] = 0; span[2] = 0; span[3] = 1;
        nal.CopyTo(span[4..]);
        output.Advance(4 + nal.Length);
    }

    /// <summary>Rewrites a length-prefixed (4-byte) access unit as Annex B; false if a length runs past the end.</summary>
    public static bool TryConvertLengthPrefixed(ReadOnlySpan<byte> accessUnit, IBufferWriter<byte> output)
    {
        while (accessUnit.Length > 0)
        {
            if (accessUnit.Length < 4)
            {
                return false;
            }
            uint len = BinaryPrimitives.ReadUInt32BigEndian(accessUnit);
            if (len > (uint)(accessUnit.Length - 4))
            {
                return false;
            }
            WriteNal(output, accessUnit.Slice(4, (int)len));
            accessUnit = accessUnit[(4 + (int)len)..];
        }
        return true;
    }

    /// <summary>Rewrites an Annex B access unit with 4-byte lengths (MP4 samples, for fMP4 viewers); returns the NAL count.</summary>
    public static int ConvertToLengthPrefixed(ReadOnlySpan<byte> accessUnit, IBufferWriter<byte> output)
    {
        int count = 0;
        while (TryReadNal(ref accessUnit, out var nal))
        {
            if (nal.IsEmpty)
            {
                continue;
            }
            var span = output.GetSpan(4 + nal.Length);
            BinaryPrimitives.WriteInt32BigEndian(span, nal.Length);
            nal.CopyTo(span[4..]);
            output.Advance(4 + nal.Length);
            count++;
        }
        return count;
    }

    /// <summary>NAL unit type: H.264 low 5 bits of byte 0, H.265 bits 1-6 of byte 0.</summary>
    public static int NalType(VideoCodec codec, ReadOnlySpan<byte> nal) =>
        nal.IsEmpty ? -1 : codec == VideoCodec.H264 ? nal[0] & 0x1f : (nal[0] >> 1) & 0x3f;

    /// <summary>Whether the NAL is a coded slice (H.264 types 1-5, H.265 types 0-31).</summary>
    public static bool IsVcl(VideoCodec codec, ReadOnlySpan<byte> nal)
    {
        int t = NalType(codec, nal);
        return codec == VideoCodec.H264 ? t is >= 1 and <= 5 : t is >= 0 and <= 31;
    }

    /// <summary>Whether a slice NAL starts a new picture: first_mb_in_slice == 0 (H.264 §7.3.3, ue(v) "1") or
    /// first_slice_segment_in_pic_flag (H.265 §7.3.6.1).</summary>
    public static bool IsFirstSliceOfPicture(VideoCodec codec, ReadOnlySpan<byte> nal)
    {
        int headerLength = codec == VideoCodec.H264 ? 1 : 2;
        return IsVcl(codec, nal) && nal.Length > headerLength && (nal[headerLength] & 0x80) != 0;
    }

    /// <summary>Whether the NAL is an IDR/IRAP slice (H.264 type 5, H.265 types 16-23).</summary>
    public static bool IsKeyframeSlice(VideoCodec codec, ReadOnlySpan<byte> nal)
    {
        int t = NalType(codec, nal);
        return codec == VideoCodec.H264 ? t == 5 : t is >= 16 and <= 23;
    }

    // H.264 end of sequence/stream and filler (10-12), H.265 end of sequence/bitstream, filler and suffix SEI
    // (36-38, 40) close the picture they follow rather than open the next one.
    private static bool BelongsToPreviousPicture(VideoCodec codec, ReadOnlySpan<byte> nal) =>
        NalType(codec, nal) is var t && (codec == VideoCodec.H264 ? t is >= 10 and <= 12 : t is >= 36 and <= 38 or 40);

    /// <summary>
    /// Splits an elementary stream (a .h264/.hevc file) into access units, each an Annex B byte array: a new unit
    /// begins at the first non-VCL NAL or first slice of a picture that follows a slice (H.264 §7.4.1.2.3).
    /// For files and tests; the live path gets access units from its depacketizer.
    /// </summary>
    public static List<byte[]> SplitAccessUnits(VideoCodec codec, ReadOnlySpan<byte> stream)
    {
        var units = new List<byte[]>();
        var current = new ArrayBufferWriter<byte>();
        bool hasSlice = false;
        while (TryReadNal(ref stream, out var nal))
        {
            if (nal.IsEmpty)
            {
                continue;
            }
            bool startsNew = IsVcl(codec, nal) ? IsFirstSliceOfPicture(codec, nal) : !BelongsToPreviousPicture(codec, nal);
            if (hasSlice && startsNew)
            {
                units.Add(current.WrittenSpan.ToArray());
                current.Clear();
                hasSlice = false;
            }
            WriteNal(current, nal);
            hasSlice |= IsVcl(codec, nal);
        }
        if (current.WrittenCount > 0)
        {
            units.Add(current.WrittenSpan.ToArray());
        }
        return units;
    }
}
