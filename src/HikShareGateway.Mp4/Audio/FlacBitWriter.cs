using System.Buffers.Binary;

namespace HikShareGateway.Mp4.Audio;

/// <summary>Writes bits MSB first into a span (the FLAC bitstream order). The caller bounds the span.</summary>
internal ref struct FlacBitWriter(Span<byte> destination)
{
    private readonly Span<byte> _span = destination;
    private ulong _accumulator;
    private int _pending;
    private int _position;

    /// <summary>Bytes complete so far (after <see cref="PadToByte"/>, all of them).</summary>
    public readonly int BytePosition => _position;

    /// <summary>Appends the low <paramref name="count"/> bits of <paramref name="value"/> (count ≤ 32).</summary>
    public void Write(uint value, int count)
    {
        if (count == 0)
        {
            return;
        }

        _accumulator = (_accumulator << count) | (value & (uint)((1UL << count) - 1));
        _pending += count;
        while (_pending >= 8)
        {
            _pending -= 8;
            _span[_position++] = (byte)(_accumulator >> _pending);
        }
    }

    /// <summary><paramref name="zeros"/> zero bits then a one (the unary quotient of a Rice code).</summary>
    public void WriteUnary(uint zeros)
    {
        while (zeros >= 32)
        {
            Write(0, 32);
            zeros -= 32;
        }

        Write(1, (int)zeros + 1);
    }

    public void PadToByte()
    {
        if (_pending > 0)
        {
            Write(0, 8 - _pending);
        }
    }

    public void WriteU16(ushort value)
    {
        BinaryPrimitives.WriteUInt16BigEndian(_span.Slice(_position), value);
        _position += 2;
    }
}
