namespace HikShareGateway.WebRtc.Srtp;

/// <summary>
/// The receiver's replay list of RFC 3711 §3.3.2 as a sliding 128-packet bitmap (the RFC asks for at least 64).
/// Check before authenticating, update only after: a forged packet must not move the window.
/// </summary>
internal struct ReplayWindow
{
    public const int Size = 128;
    private ulong _low, _high; // bit i of (high:low) is set when index (Top - i) was accepted
    private bool _any;

    public ulong Top { get; private set; }

    public readonly SrtpError Check(ulong index)
    {
        if (!_any || index > Top) return SrtpError.None;
        var delta = Top - index;
        if (delta >= Size) return SrtpError.TooOld;
        var bit = delta < 64 ? (_low >> (int)delta) & 1 : (_high >> (int)(delta - 64)) & 1;
        return bit != 0 ? SrtpError.Replayed : SrtpError.None;
    }

    public void Accept(ulong index)
    {
        if (!_any)
        {
            _any = true;
            Top = index;
            _low = 1;
            _high = 0;
            return;
        }
        if (index > Top)
        {
            var shift = index - Top;
            if (shift >= Size) { _low = 0; _high = 0; }
            else if (shift >= 64) { _high = _low << (int)(shift - 64); _low = 0; }
            else { _high = (_high << (int)shift) | (shift == 0 ? 0 : _low >> (int)(64 - shift)); _low <<= (int)shift; }
            _low |= 1;
            Top = index;
            return;
        }
        var delta = Top - index;
        if (delta < 64) _low |= 1ul << (int)delta;
        else if (delta < Size) _high |= 1ul << (int)(delta - 64);
    }
}
