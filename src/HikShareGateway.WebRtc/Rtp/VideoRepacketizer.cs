namespace HikShareGateway.WebRtc.Rtp;

/// <summary>Where <see cref="VideoRepacketizer"/> writes: one RTP payload at a time.</summary>
public interface IRepacketizerTarget
{
    /// <summary>Room for the next payload: at least the repacketizer's <c>maxPayload</c> bytes.</summary>
    Span<byte> BeginPayload();

    /// <summary>The payload begun last is <paramref name="length"/> bytes; <paramref name="marker"/> on the last of an access unit.</summary>
    void EndPayload(int length, bool marker);
}

/// <summary>
/// Re-cuts a camera's H.264 (RFC 6184) or H.265 (RFC 7798) RTP payloads, in stream order, into payloads of at most
/// <c>maxPayload</c> bytes, per NAL unit: the fragments of one NAL unit are treated as one byte run, so a camera's
/// 1,400-byte FU-A fragments become full 1,188-byte ones and a single short last piece per NAL unit (about 1.2 packets
/// per camera packet), not a full piece and a ~200-byte remainder per fragment (2.4). Run once per stream; the result
/// is shared by every viewer (<c>Viewing/PacketizingSource</c>).
/// <para>
/// - A payload that fits (single NAL unit, STAP-A/AP, a fragment of a NAL unit of the same size) passes unchanged,
///   aggregation packets included.
/// - A single NAL unit or aggregation packet that does not fit is cut: its NAL units go single or as fragments.
/// - Fragments: the bytes after each FU header are carried over until a full piece can be written; the piece that
///   holds the NAL unit's last byte gets E (and the camera packet's marker). At most one piece's worth of bytes is
///   held, so nothing waits longer than the next camera packet of the same NAL unit, which comes in the same burst.
/// - A fragmented NAL unit whose bytes fit one payload goes as a single NAL unit packet (RFC 6184 §5.8: S and E must
///   not both be set).
/// - A lost fragment (sequence gap) or a fragment without its start abandons the NAL unit: the pieces already sent
///   have no E, so the viewer's depacketizer drops the unit, as it would have for the camera's own stream.
/// - STAP-B, MTAP, FU-B, PACI and reserved types are dropped (browsers take none of them).
/// </para>
/// Allocation-free: one buffer of <c>maxPayload</c> bytes for the carried bytes. Not thread-safe: one caller, in order.
/// </summary>
public sealed class VideoRepacketizer
{
    private const int H264StapA = 24, H265Ap = 48;

    private readonly bool _h265;
    private readonly int _maxPayload;
    private readonly int _fuHeader;
    private readonly byte[] _carry;
    private int _carryLength;
    private bool _inFu, _pieceSent, _haveSequence;
    private byte _nal0, _nal1;
    private ushort _lastSequence;

    public VideoRepacketizer(bool h265, int maxPayload)
    {
        if (maxPayload < 64) throw new ArgumentOutOfRangeException(nameof(maxPayload));
        _h265 = h265;
        _maxPayload = maxPayload;
        _fuHeader = FragmentationUnit.HeaderLength(h265);
        _carry = new byte[maxPayload];
    }

    public int MaxPayload => _maxPayload;

    /// <summary>Fragmented NAL units abandoned on a gap or a fragment out of place (diagnostics).</summary>
    public long Abandoned { get; private set; }

    /// <summary>Forgets any NAL unit in progress (a new source session, or a restart at a keyframe).</summary>
    public void Reset()
    {
        AbandonFu(count: false);
        _haveSequence = false;
    }

    /// <summary>One camera payload, in stream order, with its RTP sequence number and marker.</summary>
    public void Push(ReadOnlySpan<byte> payload, ushort sequence, bool marker, IRepacketizerTarget target)
    {
        var gap = _haveSequence && sequence != unchecked((ushort)(_lastSequence + 1));
        _haveSequence = true;
        _lastSequence = sequence;
        if (payload.Length < FragmentationUnit.NalHeaderLength(_h265))
        {
            return;
        }
        var type = FragmentationUnit.TypeOf(_h265, payload[0]);
        if (type == (_h265 ? FragmentationUnit.H265Fu : FragmentationUnit.H264FuA))
        {
            PushFragment(payload, gap, marker, target);
            return;
        }
        if (_inFu)
        {
            AbandonFu(count: true); // its end never came
        }
        var aggregate = type == (_h265 ? H265Ap : H264StapA);
        if (_h265 ? type > H265Ap : type is 0 or > H264StapA)
        {
            return;
        }
        if (payload.Length <= _maxPayload)
        {
            payload.CopyTo(target.BeginPayload());
            target.EndPayload(payload.Length, marker);
            return;
        }
        if (!aggregate)
        {
            CutNal(payload, marker, target);
            return;
        }
        // RFC 6184 §5.7.1 / RFC 7798 §4.4.2 (no DONL): 16-bit size, then the NAL unit; a truncated aggregate ends here.
        var rest = payload[FragmentationUnit.NalHeaderLength(_h265)..];
        var minimum = FragmentationUnit.NalHeaderLength(_h265);
        while (rest.Length >= 2)
        {
            var size = (rest[0] << 8) | rest[1];
            if (size < minimum || size > rest.Length - 2)
            {
                break;
            }
            var nal = rest.Slice(2, size);
            rest = rest[(2 + size)..];
            var lastUnit = rest.Length < 2 + minimum;
            if (nal.Length <= _maxPayload)
            {
                nal.CopyTo(target.BeginPayload());
                target.EndPayload(nal.Length, marker && lastUnit);
            }
            else
            {
                CutNal(nal, marker && lastUnit, target);
            }
        }
    }

    /// <summary>A whole NAL unit larger than a payload, as fragments.</summary>
    private void CutNal(ReadOnlySpan<byte> nal, bool marker, IRepacketizerTarget target)
    {
        var cutter = default(FuCutter);
        var headerLength = FragmentationUnit.NalHeaderLength(_h265);
        cutter.Begin(_h265, nal[0], _h265 ? nal[1] : (byte)0, nal[headerLength..], inputStarts: true, inputEnds: true);
        while (cutter.Active)
        {
            var n = cutter.Next(target.BeginPayload(), _maxPayload, out var end);
            target.EndPayload(n, marker && end);
        }
    }

    private void PushFragment(ReadOnlySpan<byte> payload, bool gap, bool marker, IRepacketizerTarget target)
    {
        if (payload.Length < _fuHeader)
        {
            AbandonFu(count: _inFu);
            return;
        }
        FragmentationUnit.ReadNalHeader(payload, _h265, out var nal0, out var nal1, out var start, out var end);
        if (start)
        {
            if (_inFu)
            {
                AbandonFu(count: true);
            }
            _inFu = true;
            _pieceSent = false;
            _carryLength = 0;
            _nal0 = nal0;
            _nal1 = nal1;
        }
        else if (!_inFu || gap || nal0 != _nal0 || nal1 != _nal1)
        {
            AbandonFu(count: _inFu);
            return;
        }
        var data = payload[_fuHeader..];
        var room = _maxPayload - _fuHeader;
        // Full pieces while more than one piece's worth is at hand: the last bytes stay for E (or the next fragment).
        while (_carryLength + data.Length > room)
        {
            var destination = target.BeginPayload();
            FragmentationUnit.WriteHeader(destination, _h265, _nal0, _nal1, start: !_pieceSent, end: false);
            _carry.AsSpan(0, _carryLength).CopyTo(destination[_fuHeader..]);
            var take = room - _carryLength;
            data[..take].CopyTo(destination[(_fuHeader + _carryLength)..]);
            data = data[take..];
            _carryLength = 0;
            _pieceSent = true;
            target.EndPayload(_maxPayload, marker: false);
        }
        data.CopyTo(_carry.AsSpan(_carryLength));
        _carryLength += data.Length;
        if (!end)
        {
            return;
        }
        var last = target.BeginPayload();
        int length;
        if (_pieceSent)
        {
            FragmentationUnit.WriteHeader(last, _h265, _nal0, _nal1, start: false, end: true);
            _carry.AsSpan(0, _carryLength).CopyTo(last[_fuHeader..]);
            length = _fuHeader + _carryLength;
        }
        else
        {
            // The whole NAL unit fits: a single NAL unit packet (its header, then its bytes).
            last[0] = _nal0;
            if (_h265)
            {
                last[1] = _nal1;
            }
            var headerLength = FragmentationUnit.NalHeaderLength(_h265);
            _carry.AsSpan(0, _carryLength).CopyTo(last[headerLength..]);
            length = headerLength + _carryLength;
        }
        _inFu = false;
        _carryLength = 0;
        target.EndPayload(length, marker);
    }

    private void AbandonFu(bool count)
    {
        if (count)
        {
            Abandoned++;
        }
        _inFu = false;
        _carryLength = 0;
    }
}
