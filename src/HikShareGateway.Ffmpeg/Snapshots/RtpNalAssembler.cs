using System.Buffers;
using HikShareGateway.Ffmpeg.Video;

namespace HikShareGateway.Ffmpeg.Snapshots;

/// <summary>
/// RTP payloads of one H.264 (RFC 6184) or H.265 (RFC 7798) stream back to Annex B NAL units: single NAL unit packets,
/// aggregates (STAP-A / AP) and fragments (FU-A / FU). Pure (no FFmpeg, no I/O); one per stream, fed in sequence order.
/// </summary>
public sealed class RtpNalAssembler(VideoCodec codec)
{
    private bool _inFragment;

    /// <summary>Forgets a fragment in progress (a lost packet, a new picture).</summary>
    public void Reset() => _inFragment = false;

    /// <summary>
    /// Appends the NAL units of <paramref name="payload"/> to <paramref name="output"/>. False (and nothing written) for
    /// a malformed payload or a fragment whose start was not seen (a lost packet: the picture is incomplete).
    /// </summary>
    public bool Append(ReadOnlySpan<byte> payload, IBufferWriter<byte> output) =>
        codec == VideoCodec.H264 ? AppendH264(payload, output) : AppendH265(payload, output);

    private bool AppendH264(ReadOnlySpan<byte> p, IBufferWriter<byte> output)
    {
        if (p.IsEmpty)
        {
            return false;
        }
        int type = p[0] & 0x1F;
        switch (type)
        {
            case 24: // RFC 6184 §5.7.1 STAP-A: [header] (16-bit size, NAL)*
                return AppendAggregate(p[1..], output);
            case 28: // RFC 6184 §5.8 FU-A: [indicator][S E R type] fragment
                if (p.Length < 2)
                {
                    return false;
                }
                return AppendFragment(start: (p[1] & 0x80) != 0, end: (p[1] & 0x40) != 0,
                    header: [(byte)((p[0] & 0xE0) | (p[1] & 0x1F))], p[2..], output);
            case 0 or > 23:
                return false; // reserved, STAP-B, MTAP, FU-B: not sent by cameras
            default:
                _inFragment = false;
                AnnexB.WriteNal(output, p);
                return true;
        }
    }

    private bool AppendH265(ReadOnlySpan<byte> p, IBufferWriter<byte> output)
    {
        if (p.Length < 2)
        {
            return false;
        }
        int type = (p[0] >> 1) & 0x3F;
        switch (type)
        {
            case 48: // RFC 7798 §4.4.2 AP: [2-byte header] (16-bit size, NAL)*  (no DONL: sprop-max-don-diff is 0)
                return AppendAggregate(p[2..], output);
            case 49: // RFC 7798 §4.4.3 FU: [2-byte header][S E type] fragment
                if (p.Length < 3)
                {
                    return false;
                }
                return AppendFragment(start: (p[2] & 0x80) != 0, end: (p[2] & 0x40) != 0,
                    header: [(byte)((p[0] & 0x81) | ((p[2] & 0x3F) << 1)), p[1]], p[3..], output);
            case 50:
                return false; // PACI: not sent by cameras
            default:
                _inFragment = false;
                AnnexB.WriteNal(output, p);
                return true;
        }
    }

    private bool AppendAggregate(ReadOnlySpan<byte> units, IBufferWriter<byte> output)
    {
        _inFragment = false;
        // Validate first, so that a malformed aggregate writes nothing.
        var rest = units;
        int count = 0;
        while (rest.Length > 0)
        {
            if (rest.Length < 2)
            {
                return false;
            }
            int size = (rest[0] << 8) | rest[1];
            if (size == 0 || size > rest.Length - 2)
            {
                return false;
            }
            rest = rest[(2 + size)..];
            count++;
        }
        if (count == 0)
        {
            return false;
        }
        while (units.Length > 0)
        {
            int size = (units[0] << 8) | units[1];
            AnnexB.WriteNal(output, units.Slice(2, size));
            units = units[(2 + size)..];
        }
        return true;
    }

    private bool AppendFragment(bool start, bool end, ReadOnlySpan<byte> header, ReadOnlySpan<byte> fragment, IBufferWriter<byte> output)
    {
        if (start)
        {
            var span = output.GetSpan(4 + header.Length + fragment.Length);
            span[0] = 0; span[1] = 0; span[2] = 0; span[3] = 1;
            header.CopyTo(span[4..]);
            fragment.CopyTo(span[(4 + header.Length)..]);
            output.Advance(4 + header.Length + fragment.Length);
            _inFragment = !end;
            return true;
        }
        if (!_inFragment)
        {
            return false;
        }
        fragment.CopyTo(output.GetSpan(fragment.Length));
        output.Advance(fragment.Length);
        _inFragment = !end;
        return true;
    }
}
