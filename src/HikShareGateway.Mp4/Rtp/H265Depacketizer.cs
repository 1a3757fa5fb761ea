namespace HikShareGateway.Mp4.Rtp;

/// <summary>
/// H.265 over RTP (RFC 7798): single NAL unit packets (§4.4.1), aggregation packets (§4.4.2) and
/// fragmentation units (§4.4.3), without DONL fields (sprop-max-don-diff = 0, what cameras send). PACI
/// packets (§4.4.4) are not supported and flag the access unit damaged. Keeps the latest VPS, SPS and PPS.
/// </summary>
public sealed class H265Depacketizer : NalDepacketizer
{
    private const int Ap = 48;
    private const int Fu = 49;

    public H265Depacketizer(int maxAccessUnitBytes = DefaultMaxAccessUnitBytes)
        : base(maxAccessUnitBytes)
    {
    }

    public ParameterSet Vps { get; } = new();

    public ParameterSet Sps { get; } = new();

    public ParameterSet Pps { get; } = new();

    /// <summary>Goes up each time the VPS, SPS or PPS changes (an init segment is then due).</summary>
    public int ParameterSetsVersion { get; private set; }

    protected override void ReadPayload(ReadOnlySpan<byte> payload)
    {
        if (payload.Length < 2)
        {
            MarkDamaged();
            return;
        }

        int type = (payload[0] >> 1) & 0x3F;
        if (type < Ap)
        {
            AppendNal(payload);
        }
        else if (type == Ap)
        {
            ReadAggregation(payload[2..]);
        }
        else if (type == Fu && payload.Length >= 3)
        {
            byte fuHeader = payload[2];
            if ((fuHeader & 0x80) != 0)
            {
                // §4.4.3: the NAL header is the payload header with its type replaced by FuType.
                Span<byte> header = [(byte)((payload[0] & 0x81) | ((fuHeader & 0x3F) << 1)), payload[1]];
                BeginFragment(header);
            }

            AppendFragment(payload[3..]);
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
        if (nal.Length < 2)
        {
            return false;
        }

        int type = (nal[0] >> 1) & 0x3F;
        switch (type)
        {
            case >= 16 and <= 23:
                return true;
            case 32:
                ParameterSetsVersion += Vps.Update(nal) ? 1 : 0;
                return false;
            case 33:
                ParameterSetsVersion += Sps.Update(nal) ? 1 : 0;
                return false;
            case 34:
                ParameterSetsVersion += Pps.Update(nal) ? 1 : 0;
                return false;
            default:
                return false;
        }
    }

    private void ReadAggregation(ReadOnlySpan<byte> units)
    {
        while (!units.IsEmpty)
        {
            if (units.Length < 2)
            {
                MarkDamaged();
                return;
            }

            int size = (units[0] << 8) | units[1];
            if (size < 2 || size > units.Length - 2)
            {
                MarkDamaged();
                return;
            }

            AppendNal(units.Slice(2, size));
            units = units[(2 + size)..];
        }
    }
}
