namespace HikShareGateway.Mp4.Tests.Infrastructure;

/// <summary>Splits an Annex B byte stream (start codes 00 00 01 / 00 00 00 01) into NAL units.</summary>
public static class AnnexB
{
    public static List<byte[]> Split(ReadOnlySpan<byte> stream)
    {
        var nals = new List<byte[]>();
        int start = -1;
        for (int i = 0; i + 2 < stream.Length; i++)
        {
            if (stream[i] == 0 && stream[i + 1] == 0 && stream[i + 2] == 1)
            {
                if (start >= 0)
                {
                    int end = i;
                    while (end > start && stream[end - 1] == 0)
                    {
                        end--;
                    }

                    nals.Add(stream[start..end].ToArray());
                }

                start = i + 3;
                i += 2;
            }
        }

        if (start >= 0 && start < stream.Length)
        {
            nals.Add(stream[start..].ToArray());
        }

        return nals;
    }

    /// <summary>
    /// Groups NAL units into access units: a new one starts at the first VCL NAL unit whose slice starts a picture
    /// (first_mb_in_slice / first_slice_segment_in_pic_flag), taking the non-VCL units in front of it along.
    /// </summary>
    public static List<List<byte[]>> AccessUnits(List<byte[]> nals, bool h265)
    {
        var units = new List<List<byte[]>>();
        var current = new List<byte[]>();
        bool currentHasPicture = false;
        foreach (byte[] nal in nals)
        {
            int type = h265 ? (nal[0] >> 1) & 0x3F : nal[0] & 0x1F;
            bool vcl = h265 ? type < 32 : type is >= 1 and <= 5;
            bool firstSlice = vcl && (h265 ? (nal[2] & 0x80) != 0 : (nal[1] & 0x80) != 0);
            bool startsNew = currentHasPicture && (firstSlice || !vcl);
            if (startsNew)
            {
                units.Add(current);
                current = [];
                currentHasPicture = false;
            }

            current.Add(nal);
            currentHasPicture |= vcl;
        }

        if (current.Count > 0)
        {
            units.Add(current);
        }

        return units;
    }

    public static byte[] Find(List<byte[]> nals, bool h265, int type) =>
        nals.First(n => (h265 ? (n[0] >> 1) & 0x3F : n[0] & 0x1F) == type);
}
