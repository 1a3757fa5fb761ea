namespace HikShareGateway.WebRtc.Rtp;

/// <summary>
/// Cuts H.265 into RTP payloads of at most <c>maxPayload</c> bytes (RFC 7798, no DONL: sprop-max-don-diff = 0, which
/// is what cameras and browsers use): a NAL unit that fits goes as a single NAL unit packet (§4.4.1), a larger one as
/// fragmentation units (FU, type 49, §4.4.3). The input is either a NAL unit (2-byte header first, no start code) or a
/// camera's RTP payload: single NAL, aggregation packet (AP, type 48, §4.4.2, split into its NAL units) or an FU
/// fragment (re-fragmented, keeping S on the first and E on the last piece). PACI (type 50) and reserved types yield
/// nothing. A ref struct over the input: nothing is allocated, each payload is written into the caller's buffer.
/// </summary>
public ref struct H265Packetizer
{
    /// <summary>NAL unit types of RFC 7798 §4.4.</summary>
    public const int Ap = 48, Fu = FragmentationUnit.H265Fu, Paci = 50;

    private const int PayloadHeaderLength = 2, FuHeaderLength = 3;

    private readonly int _maxPayload;
    private ReadOnlySpan<byte> _ap;     // remaining AP aggregate (after its payload header), or empty
    private ReadOnlySpan<byte> _whole;  // a NAL unit that fits, still to send whole
    private FuCutter _fu;               // or the fragments still to cut
    private bool _wholeNalPending;

    private H265Packetizer(int maxPayload)
    {
        if (maxPayload < FuHeaderLength + 1) throw new ArgumentOutOfRangeException(nameof(maxPayload));
        _maxPayload = maxPayload;
    }

    /// <summary>The NAL unit type (6 bits) of a 2-byte H.265 NAL unit or payload header.</summary>
    public static int TypeOf(byte header0) => FragmentationUnit.TypeOf(true, header0);

    /// <summary>For one whole NAL unit (2-byte header first, no start code).</summary>
    public static H265Packetizer ForNal(ReadOnlySpan<byte> nal, int maxPayload)
    {
        var p = new H265Packetizer(maxPayload);
        p.BeginNal(nal);
        return p;
    }

    /// <summary>For one RTP payload as a camera sent it. Malformed payloads and PACI yield nothing.</summary>
    public static H265Packetizer ForRtpPayload(ReadOnlySpan<byte> payload, int maxPayload)
    {
        var p = new H265Packetizer(maxPayload);
        if (payload.Length < PayloadHeaderLength) return p;
        var type = TypeOf(payload[0]);
        if (type < Ap) p.BeginNal(payload);
        else if (type == Ap) { p._ap = payload[PayloadHeaderLength..]; p.NextFromAp(); }
        else if (type == Fu && payload.Length >= FuHeaderLength)
        {
            FragmentationUnit.ReadNalHeader(payload, h265: true, out var nal0, out var nal1, out var starts, out var ends);
            p._fu.Begin(true, nal0, nal1, payload[FuHeaderLength..], starts, ends);
        }
        return p;
    }

    private void BeginNal(ReadOnlySpan<byte> nal)
    {
        if (nal.Length < PayloadHeaderLength) return;
        if (nal.Length <= _maxPayload)
        {
            _whole = nal;
            _wholeNalPending = true;
        }
        else
        {
            _fu.Begin(true, nal[0], nal[1], nal[PayloadHeaderLength..], inputStarts: true, inputEnds: true);
        }
    }

    private void NextFromAp()
    {
        // §4.4.2 without DONL: 16-bit size, then the NAL unit. A truncated or too short unit ends the iteration.
        if (_ap.Length >= 2)
        {
            var size = (_ap[0] << 8) | _ap[1];
            if (size >= PayloadHeaderLength && size <= _ap.Length - 2)
            {
                var nal = _ap.Slice(2, size);
                _ap = _ap[(2 + size)..];
                BeginNal(nal);
                return;
            }
        }
        _ap = default;
    }

    /// <summary>
    /// Writes the next payload into <paramref name="destination"/> (at least maxPayload bytes). False when the input is
    /// exhausted. <paramref name="last"/> is true for the last payload of this input: the caller sets the RTP marker
    /// there when the input ended the access unit.
    /// </summary>
    public bool TryNext(Span<byte> destination, out int written, out bool last)
    {
        written = 0;
        last = false;
        if (_wholeNalPending)
        {
            _wholeNalPending = false;
            _whole.CopyTo(destination);
            written = _whole.Length;
            _whole = default;
        }
        else if (_fu.Active)
        {
            written = _fu.Next(destination, _maxPayload, out var end);
            if (!end) return true;
        }
        else
        {
            return false;
        }
        if (!_ap.IsEmpty) NextFromAp();
        last = !_wholeNalPending && !_fu.Active;
        return true;
    }
}
