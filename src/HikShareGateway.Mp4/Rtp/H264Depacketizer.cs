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
            ReadAggregation(payload[1..], minNalBytes: 1);
        }
        else if (type == FuA && payload.Length >= 2)
        {
            byte fuHeader = payload[1];
            // §5.8: the NAL header is F and NRI from the FU indicator and the type from the FU header.
            ReadOnlySpan<byte> header = [(byte)((payload[0] & 0xE0) | (fuHeader & 0x1F))];
            ReadFragmentationUnit(fuHeader, header, payload[2..]);
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
                UpdateParameterSet(Sps, nal);
                return false;
            case 8:
                UpdateParameterSet(Pps, nal);
                return false;
            default:
                return false;
        }
    }
}
