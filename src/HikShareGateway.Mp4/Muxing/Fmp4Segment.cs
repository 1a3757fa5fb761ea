using System.Buffers;

namespace HikShareGateway.Mp4.Muxing;

public enum Fmp4SegmentKind
{
    /// <summary>An init segment (ftyp + moov), followed in the same bytes by the keyframe fragment it was made for.</summary>
    Init,
    Video,
    Audio,
}

/// <summary>
/// Bytes of the fMP4 stream that a <see cref="Fmp4Session"/> queued, in a pooled array. The reader owns it once
/// read and must <see cref="Dispose"/> it exactly once, after its last use of <see cref="Memory"/>.
/// </summary>
public readonly struct Fmp4Segment : IDisposable
{
    private readonly byte[]? _array;
    private readonly int _length;

    internal Fmp4Segment(byte[] array, int length, Fmp4SegmentKind kind, bool isKeyframe)
    {
        _array = array;
        _length = length;
        Kind = kind;
        IsKeyframe = isKeyframe;
    }

    public ReadOnlyMemory<byte> Memory => _array is null ? ReadOnlyMemory<byte>.Empty : _array.AsMemory(0, _length);

    public int Length => _length;

    public Fmp4SegmentKind Kind { get; }

    /// <summary>A video fragment of a keyframe: a player that missed segments can resume here.</summary>
    public bool IsKeyframe { get; }

    public void Dispose()
    {
        if (_array is not null)
        {
            ArrayPool<byte>.Shared.Return(_array);
        }
    }
}

/// <summary>An <see cref="IBufferWriter{T}"/> over one pooled array that grows by doubling and is then detached.</summary>
internal sealed class PooledSegmentWriter : IBufferWriter<byte>
{
    private const int MinimumBytes = 4096;

    private byte[]? _array;
    private int _written;

    public int WrittenCount => _written;

    public void Advance(int count)
    {
        if (_array is null || count < 0 || _written + count > _array.Length)
        {
            throw new InvalidOperationException("advanced past the span that was handed out");
        }

        _written += count;
    }

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _array.AsMemory(_written);
    }

    public Span<byte> GetSpan(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _array.AsSpan(_written);
    }

    /// <summary>Hands the written bytes over (the array now belongs to the caller) and starts empty.</summary>
    public byte[] Detach(out int length)
    {
        byte[] array = _array ?? throw new InvalidOperationException("nothing was written");
        length = _written;
        _array = null;
        _written = 0;
        return array;
    }

    /// <summary>Drops what was written (returns the array to the pool).</summary>
    public void Discard()
    {
        if (_array is not null)
        {
            ArrayPool<byte>.Shared.Return(_array);
        }

        _array = null;
        _written = 0;
    }

    private void Ensure(int sizeHint)
    {
        int needed = _written + Math.Max(sizeHint, 256);
        if (_array is not null && needed <= _array.Length)
        {
            return;
        }

        byte[] larger = ArrayPool<byte>.Shared.Rent(Math.Max(MinimumBytes, Math.Max(needed, (_array?.Length ?? 0) * 2)));
        if (_array is not null)
        {
            _array.AsSpan(0, _written).CopyTo(larger);
            ArrayPool<byte>.Shared.Return(_array);
        }

        _array = larger;
    }
}
