namespace HikShareGateway.WebRtc.Rtp;

/// <summary>
/// The last packets sent on one stream to one viewer, as sent (SRTP-protected), for NACK retransmission
/// (RFC 4585 §6.2.1; resent unchanged on the same SSRC: same index, same bytes, so SRTP accepts it once).
/// A ring of preallocated slots indexed by sequence number; nothing allocated per packet.
/// </summary>
public sealed class PacketHistory
{
    private readonly byte[][] _slots;
    private readonly int[] _lengths;
    private readonly int[] _sequences;
    private readonly int _mask;

    /// <param name="capacity">A power of two; 512 covers about two seconds of a 2 Mbit/s stream.</param>
    public PacketHistory(int capacity = 512, int slotSize = 1500)
    {
        if (capacity < 2 || (capacity & (capacity - 1)) != 0) throw new ArgumentOutOfRangeException(nameof(capacity), "A power of two.");
        _slots = new byte[capacity][];
        for (var i = 0; i < capacity; i++) _slots[i] = new byte[slotSize];
        _lengths = new int[capacity];
        _sequences = new int[capacity];
        Array.Fill(_sequences, -1);
        _mask = capacity - 1;
    }

    public int Capacity => _slots.Length;

    public void Store(ushort sequence, ReadOnlySpan<byte> packet)
    {
        var i = sequence & _mask;
        if (packet.Length > _slots[i].Length) { _sequences[i] = -1; return; }
        packet.CopyTo(_slots[i]);
        _lengths[i] = packet.Length;
        _sequences[i] = sequence;
    }

    /// <summary>The packet sent with this sequence number, if it is still in the ring.</summary>
    public bool TryGet(ushort sequence, out ReadOnlySpan<byte> packet)
    {
        var i = sequence & _mask;
        if (_sequences[i] != sequence) { packet = default; return false; }
        packet = _slots[i].AsSpan(0, _lengths[i]);
        return true;
    }
}
