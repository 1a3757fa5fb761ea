namespace HikShareGateway.Mp4.Rtp;

/// <summary>
/// The latest copy of one kind of parameter set (SPS, PPS, VPS) seen in band, in a buffer allocated once.
/// A parameter set longer than <see cref="MaxBytes"/> is not kept (real ones are tens of bytes).
/// </summary>
public sealed class ParameterSet
{
    public const int MaxBytes = 1024;

    private readonly byte[] _bytes = new byte[MaxBytes];

    public int Length { get; private set; }

    public ReadOnlySpan<byte> Span => _bytes.AsSpan(0, Length);

    public bool IsEmpty => Length == 0;

    /// <summary>Stores <paramref name="nal"/>; true when it differs from what was stored.</summary>
    internal bool Update(ReadOnlySpan<byte> nal)
    {
        if (nal.Length > MaxBytes || nal.SequenceEqual(Span))
        {
            return false;
        }

        nal.CopyTo(_bytes);
        Length = nal.Length;
        return true;
    }
}
