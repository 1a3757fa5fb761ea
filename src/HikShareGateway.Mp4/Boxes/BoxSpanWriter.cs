using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace HikShareGateway.Mp4.Boxes;

/// <summary>
/// Writes ISO BMFF boxes (ISO/IEC 14496-12 §4.2) into one span: <see cref="Begin"/> reserves the 32-bit size,
/// <see cref="End"/> writes it back, so nested boxes need no size computed in advance. The caller sizes the
/// span; running out of room throws (a bug in the caller's bound, not an input error).
/// </summary>
internal ref struct BoxSpanWriter(Span<byte> destination)
{
    private const int MaxDepth = 12;

    private readonly Span<byte> _span = destination;
    private BoxStarts _starts;
    private int _depth;

    public int Position { get; private set; }

    public void Begin(ReadOnlySpan<byte> type)
    {
        if (_depth == MaxDepth)
        {
            throw new InvalidOperationException("boxes nested too deep");
        }

        _starts[_depth++] = Position;
        U32(0);
        Bytes(type);
    }

    /// <summary>A FullBox (§4.2.2): version and 24-bit flags after the header.</summary>
    public void BeginFull(ReadOnlySpan<byte> type, byte version, uint flags)
    {
        Begin(type);
        U32(((uint)version << 24) | (flags & 0xFFFFFF));
    }

    public void End()
    {
        int start = _starts[--_depth];
        BinaryPrimitives.WriteUInt32BigEndian(_span.Slice(start), (uint)(Position - start));
    }

    public void U8(byte value) => _span[Position++] = value;

    public void U16(ushort value)
    {
        BinaryPrimitives.WriteUInt16BigEndian(_span.Slice(Position), value);
        Position += 2;
    }

    public void U32(uint value)
    {
        BinaryPrimitives.WriteUInt32BigEndian(_span.Slice(Position), value);
        Position += 4;
    }

    public void I32(int value) => U32((uint)value);

    public void U64(ulong value)
    {
        BinaryPrimitives.WriteUInt64BigEndian(_span.Slice(Position), value);
        Position += 8;
    }

    public void Bytes(ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(_span.Slice(Position));
        Position += bytes.Length;
    }

    public void Zeros(int count)
    {
        _span.Slice(Position, count).Clear();
        Position += count;
    }

    /// <summary>The unity matrix of mvhd/tkhd (§8.2.2.3): { 0x00010000,0,0, 0,0x00010000,0, 0,0,0x40000000 }.</summary>
    public void UnityMatrix()
    {
        U32(0x00010000);
        U32(0);
        U32(0);
        U32(0);
        U32(0x00010000);
        U32(0);
        U32(0);
        U32(0);
        U32(0x40000000);
    }

    [InlineArray(MaxDepth)]
    private struct BoxStarts
    {
        private int _element;
    }
}
