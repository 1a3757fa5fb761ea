namespace HikShareGateway.WebRtc.Rtp;

/// <summary>
/// Cuts H.264 into RTP payloads of at most <c>maxPayload</c> bytes (RFC 6184, packetization-mode 1): a NAL unit
/// that fits goes as a single NAL unit packet, a larger one as FU-A fragments. The input is either a NAL unit
/// (from an Annex B access unit) or a camera's RTP payload: single NAL, STAP-A (split into its NAL units) or an
/// FU-A fragment (re-fragmented, keeping S on the first and E on the last piece). A ref struct over the input:
/// nothing is allocated, each payload is written into the caller's buffer.
/// </summary>
public ref struct H264Packetizer
{
    private const byte StapA = 24;

    private readonly int _maxPayload;
    private ReadOnlySpan<byte> _stap;   // remaining STAP-A aggregate (after its header byte), or empty
    private ReadOnlySpan<byte> _whole;  // a NAL unit that fits, still to send whole
    private FuCutter _fu;               // or the fragments still to cut
    private bool _wholeNalPending;

    private H264Packetizer(int maxPayload)
    {
        if (maxPayload < 3) throw new ArgumentOutOfRangeException(nameof(maxPayload));
        _maxPayload = maxPayload;
    }

    /// <summary>For one whole NAL unit (header byte first, no start code).</summary>
    public static H264Packetizer ForNal(ReadOnlySpan<byte> nal, int maxPayload)
    {
        var p = new H264Packetizer(maxPayload);
        p.BeginNal(nal);
        return p;
    }

    /// <summary>For one RTP payload as a camera sent it. Payloads of other NAL types (STAP-B, MTAP, FU-B) yield nothing.</summary>
    public static H264Packetizer ForRtpPayload(ReadOnlySpan<byte> payload, int maxPayload)
    {
        var p = new H264Packetizer(maxPayload);
        if (payload.IsEmpty) return p;
        var type = payload[0] & 0x1F;
        if (type is >= 1 and <= 23) p.BeginNal(payload);
        else if (type == StapA) { p._stap = payload[1..]; p.NextFromStap(); }
        else if (type == FragmentationUnit.H264FuA && payload.Length >= 2)
        {
            FragmentationUnit.ReadNalHeader(payload, h265: false, out var nal0, out _, out var starts, out var ends);
            p._fu.Begin(false, nal0, 0, payload[2..], starts, ends);
        }
        return p;
    }

    private void BeginNal(ReadOnlySpan<byte> nal)
    {
        if (nal.IsEmpty) return;
        if (nal.Length <= _maxPayload)
        {
            _whole = nal;
            _wholeNalPending = true;
        }
        else
        {
            _fu.Begin(false, nal[0], 0, nal[1..], inputStarts: true, inputEnds: true);
        }
    }

    private void NextFromStap()
    {
        // RFC 6184 §5.7.1: 16-bit size, then the NAL unit. A truncated aggregate ends the iteration.
        while (_stap.Length >= 2)
        {
            var size = (_stap[0] << 8) | _stap[1];
            if (size == 0 || size > _stap.Length - 2) { _stap = default; return; }
            var nal = _stap.Slice(2, size);
            _stap = _stap[(2 + size)..];
            BeginNal(nal);
            return;
        }
        _stap = default;
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
        if (!_stap.IsEmpty) NextFromStap();
        last = !_wholeNalPending && !_fu.Active;
        return true;
    }
}

/// <summary>Annex B byte streams (ITU-T H.264 Annex B): NAL units between 00 00 01 / 00 00 00 01 start codes.</summary>
public static class AnnexB
{
    /// <summary>
    /// Takes the next NAL unit off the front of <paramref name="stream"/>; false when none is left. Trailing zero
    /// bytes before a start code belong to the next start code, not to the NAL unit.
    /// </summary>
    public static bool TryReadNal(ref ReadOnlySpan<byte> stream, out ReadOnlySpan<byte> nal)
    {
        nal = default;
        var start = FindStartCode(stream, out var codeLength);
        if (start < 0) { stream = default; return false; }
        var rest = stream[(start + codeLength)..];
        var next = FindStartCode(rest, out _);
        var body = next < 0 ? rest : rest[..next];
        while (!body.IsEmpty && body[^1] == 0) body = body[..^1];
        nal = body;
        stream = next < 0 ? default : rest[next..];
        return !nal.IsEmpty || TryReadNal(ref stream, out nal);
    }

    private static ReadOnlySpan<byte> StartCode => [0, 0, 1];

    private static int FindStartCode(ReadOnlySpan<byte> s, out int length)
    {
        length = 0;
        var i = s.IndexOf(StartCode);
        if (i < 0) return -1;
        if (i > 0 && s[i - 1] == 0) { length = 4; return i - 1; }
        length = 3;
        return i;
    }
}
