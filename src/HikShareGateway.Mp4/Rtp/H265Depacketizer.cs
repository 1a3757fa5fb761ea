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
            ReadAggregation(payload[2..], minNalBytes: 2);
        }
        else if (type == Fu && payload.Length >= 3)
        {
            byte fuHeader = payload[2];
            // §4.4.3: the NAL header is the payload header with its type replaced by FuType.
            ReadOnlySpan<byte> header = [(byte)((payload[0] & 0x81) | ((fuHeader & 0x3F) << 1)), payload[1]];
            ReadFragmentationUnit(fuHeader, header, payload[3..]);
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
                UpdateParameterSet(Vps, nal);
                return false;
            case 33:
                UpdateParameterSet(Sps, nal);
                return false;
            case 34:
                UpdateParameterSet(Pps, nal);
                return false;
            default:
                return false;
        }
    }
}
