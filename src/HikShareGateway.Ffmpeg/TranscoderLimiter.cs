namespace HikShareGateway.Ffmpeg;

/// <summary>
/// Caps the transcoders running at once (<c>Media:MaxTranscoders</c>). Thread-safe and lock-free: a lease is taken
/// with a compare-and-swap on the count and given back once, by disposing it.
/// </summary>
public sealed class TranscoderLimiter
{
    // Null: FFmpeg's own, read when the first transcoder starts (which loads the libraries), not at construction.
    private readonly FfmpegAvailability? _ffmpeg;
    private int _active;

    public TranscoderLimiter(MediaTranscodingOptions options, FfmpegAvailability? ffmpeg = null)
    {
        Max = options.MaxTranscoders;
        _ffmpeg = ffmpeg;
    }

    public int Max { get; }

    public int Active => Volatile.Read(ref _active);

    /// <summary>Takes a slot for a transcoder; false with the reason when FFmpeg is off or all slots are taken.</summary>
    public bool TryAcquire(out TranscoderLease? lease, out string? reason)
    {
        lease = null;
        var ffmpeg = _ffmpeg ?? FfmpegLibraries.Availability;
        if (!ffmpeg.IsAvailable)
        {
            reason = $"{FfmpegAvailability.OffMessage} ({ffmpeg.Description})";
            return false;
        }
        if (Max == 0)
        {
            reason = "transcoding is off (Media:MaxTranscoders = 0)";
            return false;
        }
        while (true)
        {
            int active = Volatile.Read(ref _active);
            if (active >= Max)
            {
                reason = $"all {Max} transcoders are in use (Media:MaxTranscoders = {Max})";
                return false;
            }
            if (Interlocked.CompareExchange(ref _active, active + 1, active) == active)
            {
                lease = new TranscoderLease(this);
                reason = null;
                return true;
            }
        }
    }

    internal void Release() => Interlocked.Decrement(ref _active);
}

/// <summary>A transcoder slot; dispose it when the transcoder stops (twice is harmless).</summary>
public sealed class TranscoderLease : IDisposable
{
    private TranscoderLimiter? _owner;

    internal TranscoderLease(TranscoderLimiter owner) => _owner = owner;

    public void Dispose() => Interlocked.Exchange(ref _owner, null)?.Release();
}
