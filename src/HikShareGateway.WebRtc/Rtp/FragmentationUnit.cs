namespace HikShareGateway.WebRtc.Rtp;

/// <summary>
/// The fragmentation unit of both video payload formats, written in one place: H.264 FU-A (RFC 6184 §5.8: FU
/// indicator F|NRI|28, FU header S|E|R|type) and H.265 FU (RFC 7798 §4.4.3: payload header F|49|LayerId|TID, FU header
/// S|E|type). The two differ only in the NAL unit header's size (1 or 2 bytes) and where the type bits sit.
/// </summary>
public static class FragmentationUnit
{
    /// <summary>H.264 FU-A and H.265 FU type numbers.</summary>
    public const int H264FuA = 28, H265Fu = 49;

    /// <summary>The NAL unit header's length: 1 byte (H.264) or 2 (H.265).</summary>
    public static int NalHeaderLength(bool h265) => h265 ? 2 : 1;

    /// <summary>FU indicator/payload header + FU header: 2 bytes (H.264) or 3 (H.265).</summary>
    public static int HeaderLength(bool h265) => h265 ? 3 : 2;

    /// <summary>The NAL unit type of a NAL unit or payload header.</summary>
    public static int TypeOf(bool h265, byte header0) => h265 ? (header0 >> 1) & 0x3F : header0 & 0x1F;

    /// <summary>Writes the FU headers for a fragment of the NAL unit whose header is <paramref name="nal0"/>(,<paramref name="nal1"/>).</summary>
    public static void WriteHeader(Span<byte> destination, bool h265, byte nal0, byte nal1, bool start, bool end)
    {
        var se = (start ? 0x80 : 0) | (end ? 0x40 : 0);
        if (h265)
        {
            destination[0] = (byte)((nal0 & 0x81) | (H265Fu << 1));
            destination[1] = nal1;
            destination[2] = (byte)(se | TypeOf(true, nal0));
        }
        else
        {
            destination[0] = (byte)((nal0 & 0xE0) | H264FuA);
            destination[1] = (byte)(se | (nal0 & 0x1F));
        }
    }

    /// <summary>
    /// The NAL unit header a fragment belongs to, from its FU headers (<paramref name="fu"/> at least
    /// <see cref="HeaderLength"/> bytes): H.264 takes F|NRI from the indicator and the type from the FU header; H.265
    /// takes F, LayerId and TID from the payload header and the type from the FU header.
    /// </summary>
    public static void ReadNalHeader(ReadOnlySpan<byte> fu, bool h265, out byte nal0, out byte nal1, out bool start, out bool end)
    {
        var header = fu[HeaderLength(h265) - 1];
        start = (header & 0x80) != 0;
        end = (header & 0x40) != 0;
        if (h265)
        {
            nal0 = (byte)((fu[0] & 0x81) | ((header & 0x3F) << 1));
            nal1 = fu[1];
        }
        else
        {
            nal0 = (byte)((fu[0] & 0xE0) | (header & 0x1F));
            nal1 = 0;
        }
    }
}

/// <summary>
/// Cuts the body of one NAL unit (or of one fragment of it) into fragmentation units of at most <c>maxPayload</c>
/// bytes: the one re-cut loop of <see cref="H264Packetizer"/> and <see cref="H265Packetizer"/>. S goes on the first
/// piece only when the input starts the NAL unit, E on the last only when it ends it.
/// </summary>
internal ref struct FuCutter
{
    private ReadOnlySpan<byte> _data;
    private bool _h265, _inputStarts, _inputEnds, _firstPiece;
    private byte _nal0, _nal1;

    public bool Active { get; private set; }

    public void Begin(bool h265, byte nal0, byte nal1, ReadOnlySpan<byte> body, bool inputStarts, bool inputEnds)
    {
        _h265 = h265;
        _nal0 = nal0;
        _nal1 = nal1;
        _data = body;
        _inputStarts = inputStarts;
        _inputEnds = inputEnds;
        _firstPiece = true;
        Active = true;
    }

    /// <summary>Writes the next fragment; <paramref name="end"/> when it was the last piece of this input.</summary>
    public int Next(Span<byte> destination, int maxPayload, out bool end)
    {
        var header = FragmentationUnit.HeaderLength(_h265);
        var n = Math.Min(maxPayload - header, _data.Length);
        end = n == _data.Length;
        FragmentationUnit.WriteHeader(destination, _h265, _nal0, _nal1, _firstPiece && _inputStarts, end && _inputEnds);
        _data[..n].CopyTo(destination[header..]);
        _data = _data[n..];
        _firstPiece = false;
        if (end)
        {
            Active = false;
        }
        return n + header;
    }
}
