namespace HikShareGateway.Mp4.Rtp;

/// <summary>
/// H.264 over RTP (RFC 6184, packetization-mode 0 and 1): single NAL unit packets (§5.6), STAP-A (§5.7.1)
/// and FU-A (§5.8). STAP-B, MTAP and FU-B (interleaved mode) are not supported and flag the access unit
/// damaged. Keeps the latest SPS and PPS seen in band.
/// </summary>
public sealed class H264Depacketizer : NalDepacketizer
{
    private const int StapA = 24;
    private const int FuA = 28;

    public H264Depacketizer(int maxAccessUnitBytes = DefaultMaxAccessUnitBytes)
        : base(maxAccessUnitBytes)
    {
    }

    public ParameterSet Sps { get; } = new();

    public ParameterSet Pps { get; } = new();

    /// <summary>Goes up each time the SPS or PPS changes (an init segment is then due).</summary>
    public int ParameterSetsVersion { get; private set; }

    protected override void ReadPayload(ReadOnlySpan<byte> payload)
    {
        if (payload.IsEmpty)
        {
            MarkDamaged();
            return;
        }

        int type = payload[0] & 0x1F;
        if (type is >= 1 and <= 23)
        {
            AppendNal(payload);
        }
        else if (type == StapA)
        {
            ReadAggregation(payload[1..]);
        }
        else if (type == FuA && payload.Length >= 2)
        {
            byte fuHeader = payload[1];
            if ((fuHeader & 0x80) != 0)
            {
                // §5.8: the NAL header is F and NRI from the FU indicator and the type from the FU header.
                Span<byte> header = [(byte)((payload[0] & 0xE0) | (fuHeader & 0x1F))];
                BeginFragment(header);
            }

            AppendFragment(payload[2..]);
            if ((fuHeader & 0x40) != 0)
            {
                EndFragment();
            }
        }
        else
        {
            MarkDamaged();
        }
    }

    protected override bool InspectNal(ReadOnlySpan<byte> nal)
    {
        switch (nal[0] & 0x1F)
        {
            case 5:
                return true;
            case 7:
                ParameterSetsVersion += Sps.Update(nal) ? 1 : 0;
                return false;
            case 8:
                ParameterSetsVersion += Pps.Update(nal) ? 1 : 0;
                return false;
            default:
                return false;
        }
    }

    private void ReadAggregation(ReadOnlySpan<byte> units)
    {
        // §5.7.1: each unit is a 16-bit size and that many bytes.
        while (!units.IsEmpty)
        {
            if (units.Length < 2)
            {
                MarkDamaged();
                return;
            }

            int size = (units[0] << 8) | units[1];
            if (size == 0 || size > units.Length - 2)
            {
                MarkDamaged();
                return;
            }

            AppendNal(units.Slice(2, size));
            units = units[(2 + size)..];
        }
    }
}
