using HikShareGateway.Ffmpeg.Video;

namespace HikShareGateway.Ffmpeg.Snapshots;

/// <summary>A picture the snapshot service keeps for its window and encodes (or passes through) per asked width.</summary>
internal interface ISnapshotPicture : IDisposable
{
    int SourceWidth { get; }
    int SourceHeight { get; }

    /// <summary>Where it came from: <c>stream</c> or <c>device</c>.</summary>
    string Origin { get; }

    /// <summary>The JPEG <paramref name="width"/> wide (0: the picture's own), aspect kept; false once disposed.</summary>
    /// <exception cref="MediaProcessingException">The picture could not be decoded or scaled.</exception>
    bool TryEncodeJpeg(int width, out byte[] jpeg, out int outWidth, out int height);
}

/// <summary>A decoded keyframe of the stream (<see cref="DecodedPicture"/>) as a snapshot picture.</summary>
internal sealed class StreamPicture(DecodedPicture picture) : ISnapshotPicture
{
    public int SourceWidth => picture.SourceWidth;
    public int SourceHeight => picture.SourceHeight;
    public string Origin => "stream";

    public bool TryEncodeJpeg(int width, out byte[] jpeg, out int outWidth, out int height)
    {
        outWidth = width == 0 ? picture.SourceWidth & ~1 : width;
        return picture.TryEncodeJpeg(width, out jpeg, out height);
    }

    public void Dispose() => picture.Dispose();
}

/// <summary>
/// The device's own JPEG. Without a width (or at its own width) the device's bytes pass through untouched; another
/// width decodes it once (mjpeg) and scales it with swscale like a stream picture, memoised per width.
/// Memory: the JPEG, plus the decoded frame only once a scaled width was asked.
/// </summary>
internal sealed class DevicePicture : ISnapshotPicture
{
    private readonly Lock _gate = new();
    private readonly byte[] _jpeg;
    private readonly int _quality;
    private DecodedPicture? _decoded;
    private bool _disposed;

    /// <param name="jpeg">A body whose header <see cref="JpegHeader"/> read as <paramref name="width"/> × <paramref name="height"/>.</param>
    public DevicePicture(byte[] jpeg, int width, int height, int quality)
    {
        _jpeg = jpeg;
        SourceWidth = width;
        SourceHeight = height;
        _quality = quality;
    }

    public int SourceWidth { get; }
    public int SourceHeight { get; }
    public string Origin => "device";

    /// <summary>Whether a scaled width was asked (the JPEG was decoded).</summary>
    public bool Decoded { get { lock (_gate) { return _decoded is not null; } } }

    public bool TryEncodeJpeg(int width, out byte[] jpeg, out int outWidth, out int height)
    {
        DecodedPicture decoded;
        lock (_gate)
        {
            if (_disposed)
            {
                (jpeg, outWidth, height) = ([], 0, 0);
                return false;
            }
            if (width == 0 || width == SourceWidth)
            {
                (jpeg, outWidth, height) = (_jpeg, SourceWidth, SourceHeight);
                return true;
            }
            decoded = _decoded ??= DecodedPicture.DecodeJpeg(_jpeg, _quality);
        }
        outWidth = width;
        // DecodedPicture has its own lock and says false once disposed (this picture was swept meanwhile).
        return decoded.TryEncodeJpeg(width, out jpeg, out height);
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
            _decoded?.Dispose();
            _decoded = null;
        }
    }
}
