namespace HikShareGateway.Rtsp.Demo;

/// <summary>Splits an H.264 Annex B byte stream (start codes 00 00 01 / 00 00 00 01) into NAL units and access units.</summary>
public static class AnnexB
{
    public static List<ArraySegment<byte>> SplitNalUnits(byte[] data)
    {
        var nals = new List<ArraySegment<byte>>();
        var start = -1;
        var i = 0;
        while (i + 2 < data.Length)
        {
            if (data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1)
            {
                if (start >= 0)
                {
                    var end = i;
                    // A 4-byte start code's leading zero belongs to it, not to the previous NAL.
                    while (end > start && data[end - 1] == 0)
                    {
                        end--;
                    }
                    nals.Add(new ArraySegment<byte>(data, start, end - start));
                }
                i += 3;
                start = i;
                continue;
            }
            i++;
        }
        if (start >= 0 && start < data.Length)
        {
            nals.Add(new ArraySegment<byte>(data, start, data.Length - start));
        }
        return nals;
    }

    /// <summary>Groups NAL units into access units: everything up to and including a picture slice (one slice per picture).</summary>
    public static List<List<ArraySegment<byte>>> AccessUnits(IEnumerable<ArraySegment<byte>> nals)
    {
        var units = new List<List<ArraySegment<byte>>>();
        var current = new List<ArraySegment<byte>>();
        foreach (var nal in nals)
        {
            if (nal.Count == 0)
            {
                continue;
            }
            current.Add(nal);
            var type = nal[0] & 0x1F;
            if (type is 1 or 5)
            {
                units.Add(current);
                current = [];
            }
        }
        return units;
    }
}
