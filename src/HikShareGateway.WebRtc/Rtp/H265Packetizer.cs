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
    public const int Ap = 48, Fu = 49, Paci = 50;

    private const int PayloadHeaderLength = 2, FuHeaderLength = 3;

    private readonly int _maxPayload;
    private ReadOnlySpan<byte> _ap;     // remaining AP aggregate (after its payload header), or empty
    private ReadOnlySpan<byte> _data;   // bytes of the current unit still to send (after its NAL header when fragmenting)
    private byte _header0, _header1;    // the NAL unit header being sent: F|Type(6)|LayerId high bit, LayerId low 5|TID(3)
    private bool _fragmenting, _inputStarts, _inputEnds, _firstPiece, _wholeNalPending;

    private H265Packetizer(int maxPayload)
    {
        if (maxPayload < FuHeaderLength + 1) throw new ArgumentOutOfRangeException(nameof(maxPayload));
        _maxPayload = maxPayload;
    }

    /// <summary>The NAL unit type (6 bits) of a 2-byte H.265 NAL unit or payload header.</summary>
    public static int TypeOf(byte header0) => (header0 >> 1) & 0x3F;

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
            var fu = payload[2];
            // The NAL header: F, LayerId and TID from the payload header, the type from the FU header (§4.4.3).
            p._header0 = (byte)((payload[0] & 0x81) | ((fu & 0x3F) << 1));
            p._header1 = payload[1];
            p._data = payload[FuHeaderLength..];
            p._fragmenting = true;
            p._inputStarts = (fu & 0x80) != 0;
            p._inputEnds = (fu & 0x40) != 0;
            p._firstPiece = true;
        }
        return p;
    }

    private void BeginNal(ReadOnlySpan<byte> nal)
    {
        if (nal.Length < PayloadHeaderLength) return;
        _header0 = nal[0];
        _header1 = nal[1];
        _firstPiece = true;
        if (nal.Length <= _maxPayload)
        {
            _data = nal;
            _wholeNalPending = true;
            _fragmenting = false;
        }
        else
        {
            _data = nal[PayloadHeaderLength..];
            _fragmenting = true;
            _inputStarts = true;
            _inputEnds = true;
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
            _data.CopyTo(destination);
            written = _data.Length;
            _data = default;
            if (!_ap.IsEmpty) NextFromAp();
            last = !_wholeNalPending && !_fragmenting;
            return true;
        }
        if (!_fragmenting) return false;
        var n = Math.Min(_maxPayload - FuHeaderLength, _data.Length);
        var end = n == _data.Length;
        destination[0] = (byte)((_header0 & 0x81) | (Fu << 1));
        destination[1] = _header1;
        destination[2] = (byte)((_firstPiece && _inputStarts ? 0x80 : 0) | (end && _inputEnds ? 0x40 : 0) | TypeOf(_header0));
        _data[..n].CopyTo(destination[FuHeaderLength..]);
        _data = _data[n..];
        _firstPiece = false;
        written = n + FuHeaderLength;
        if (end)
        {
            _fragmenting = false;
            if (!_ap.IsEmpty) NextFromAp();
            last = !_wholeNalPending && !_fragmenting;
        }
        return true;
    }
}
