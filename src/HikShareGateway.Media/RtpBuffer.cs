using System.Collections.Concurrent;
using System.Diagnostics;

namespace HikShareGateway.Media;

/// <summary>
/// One received RTP or RTCP packet, stored once and shared by every viewer: a pooled array holding the
/// 4-byte interleaved header (for the canonical channel <c>2·track + rtcp</c>) followed by the packet.
/// Reference-counted: the receiver holds one reference, every queue that holds it one more; the last
/// <see cref="Release"/> returns it to its pool. Nobody writes to it after <see cref="RtpBufferPool.Rent"/>'s owner filled it.
/// </summary>
public sealed class RtpBuffer
{
    private readonly RtpBufferPool? _pool;
    private int _refs;

    internal RtpBuffer(RtpBufferPool? pool, int capacity)
    {
        _pool = pool;
        Array = GC.AllocateUninitializedArray<byte>(capacity, pinned: true);
    }

    /// <summary>Header (4 bytes) + packet.</summary>
    public byte[] Array { get; private set; }
    /// <summary>Length of the packet (without the 4-byte header).</summary>
    public int Length { get; private set; }
    public int Track { get; private set; }
    public bool IsRtcp { get; private set; }
    /// <summary>Where a joining viewer may start (parameter sets or keyframe slice of the video track).</summary>
    public bool IsKeyframeStart { get; internal set; }
    /// <summary><see cref="TimeProvider.GetTimestamp"/> when it was received.</summary>
    public long ReceivedAt { get; private set; }

    public ArraySegment<byte> WithHeader => new(Array, 0, Length + 4);
    public ArraySegment<byte> Packet => new(Array, 4, Length);
    public Span<byte> PacketSpan => Array.AsSpan(4, Length);

    /// <summary>The canonical interleaved channel of this packet (RTP even, RTCP odd).</summary>
    public byte CanonicalChannel => (byte)(Track * 2 + (IsRtcp ? 1 : 0));

    /// <summary>Writable area for the packet, at least <paramref name="length"/> bytes; call before <see cref="Commit"/>.</summary>
    public Span<byte> Prepare(int length)
    {
        if (Array.Length < length + 4)
        {
            Array = GC.AllocateUninitializedArray<byte>(length + 4, pinned: true);
        }
        return Array.AsSpan(4, length);
    }

    /// <summary>Sets the metadata and writes the interleaved header. The caller's reference is the first one.</summary>
    public void Commit(int length, int track, bool rtcp, long receivedAt)
    {
        Length = length;
        Track = track;
        IsRtcp = rtcp;
        ReceivedAt = receivedAt;
        IsKeyframeStart = false;
        Array[0] = (byte)'$';
        Array[1] = CanonicalChannel;
        Array[2] = (byte)(length >> 8);
        Array[3] = (byte)length;
        _refs = 1;
    }

    public void AddRef()
    {
        var n = Interlocked.Increment(ref _refs);
        Debug.Assert(n > 1, "AddRef on a released buffer");
    }

    /// <summary>References held now (for tests of who owns what).</summary>
    internal int References => Volatile.Read(ref _refs);

    public void Release()
    {
        var n = Interlocked.Decrement(ref _refs);
        if (n == 0)
        {
            _pool?.Return(this);
        }
        Debug.Assert(n >= 0, "RtpBuffer released twice");
    }
}

/// <summary>
/// A bounded free list of <see cref="RtpBuffer"/>s (pinned arrays, so gather sends need no pinning).
/// Steady-state relaying rents and returns without allocating; beyond <see cref="MaxPooled"/> free
/// buffers the surplus goes to the GC.
/// </summary>
public sealed class RtpBufferPool
{
    /// <summary>Covers an MTU-sized packet with room to spare; larger ones (up to 64 KiB over TCP) grow the array.</summary>
    public const int DefaultCapacity = 2048;
    public const int MaxPooled = 16384;

    private readonly ConcurrentQueue<RtpBuffer> _free = new();
    private int _count;

    public static RtpBufferPool Shared { get; } = new();

    public RtpBuffer Rent()
    {
        if (_free.TryDequeue(out var b))
        {
            Interlocked.Decrement(ref _count);
            return b;
        }
        return new RtpBuffer(this, DefaultCapacity);
    }

    internal void Return(RtpBuffer buffer)
    {
        if (Interlocked.Increment(ref _count) <= MaxPooled)
        {
            _free.Enqueue(buffer);
        }
        else
        {
            Interlocked.Decrement(ref _count);
        }
    }
}
