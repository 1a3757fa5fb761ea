using System.Buffers;
using HikShareGateway.Ffmpeg.Native;

namespace HikShareGateway.Ffmpeg.Video;

/// <summary>
/// One decoded picture kept for a short while, so that snapshots of several widths (and several callers) come from one
/// decode. Thread-safe: encodes run one at a time under its lock; <see cref="Dispose"/> waits for a running one.
/// </summary>
/// <remarks>
/// Memory: the decoded frame (e.g. 3 MiB for 1080p 4:2:0) plus the JPEGs memoised per width (at most
/// <see cref="MaxWidths"/>), until disposed.
/// </remarks>
public sealed class DecodedPicture : IDisposable
{
    public const int MaxWidths = 4;

    private readonly Lock _gate = new();
    private readonly FrameHandle _frame;
    private readonly int _quality;
    private readonly List<(int Width, int Height, byte[] Jpeg)> _jpegs = [];
    private bool _disposed;

    private DecodedPicture(FrameHandle frame, int quality)
    {
        _frame = frame;
        _quality = quality;
        SourceWidth = frame.Width;
        SourceHeight = frame.Height;
    }

    public int SourceWidth { get; }
    public int SourceHeight { get; }

    /// <summary>
    /// Decodes one keyframe access unit (Annex B; parameter sets in front or in <paramref name="parameterSets"/>).
    /// CPU-bound and synchronous: call it on a worker.
    /// </summary>
    /// <exception cref="MediaProcessingException">FFmpeg off, codec missing, or no picture (<see cref="MediaError.InvalidInput"/>).</exception>
    public static DecodedPicture Decode(VideoCodec codec, IReadOnlyList<ReadOnlyMemory<byte>> parameterSets, ReadOnlySpan<byte> keyframe, int jpegQuality = 4)
    {
        FfmpegLibraries.EnsureAvailable();
        using var decoder = new VideoDecoder(codec);
        var latest = FrameHandle.Allocate();
        try
        {
            var packet = new ArrayBufferWriter<byte>(keyframe.Length + 256);
            foreach (var ps in parameterSets)
            {
                AnnexB.WriteNal(packet, ps.Span);
            }
            keyframe.CopyTo(packet.GetSpan(keyframe.Length));
            packet.Advance(keyframe.Length);
            int frames = decoder.Decode(packet.WrittenSpan, 0, latest);
            frames += decoder.Flush(latest);
            if (frames == 0)
            {
                throw new MediaProcessingException(MediaError.InvalidInput,
                    $"the keyframe gave no picture ({decoder.Errors} rejected{(decoder.LastError is null ? "" : ": " + decoder.LastError)})");
            }
            return new DecodedPicture(latest, Math.Clamp(jpegQuality, 2, 31));
        }
        catch
        {
            latest.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Decodes one JPEG (a device's own picture, libavcodec's mjpeg decoder) so that it can be scaled. CPU-bound and
    /// synchronous: call it on a worker.
    /// </summary>
    /// <exception cref="MediaProcessingException">FFmpeg off, decoder missing, or no picture (<see cref="MediaError.InvalidInput"/>).</exception>
    public static DecodedPicture DecodeJpeg(ReadOnlySpan<byte> jpeg, int jpegQuality = 4)
    {
        FfmpegLibraries.EnsureAvailable();
        using var decoder = new VideoDecoder("mjpeg");
        var latest = FrameHandle.Allocate();
        try
        {
            int frames = decoder.Decode(jpeg, 0, latest);
            frames += decoder.Flush(latest);
            if (frames == 0)
            {
                throw new MediaProcessingException(MediaError.InvalidInput,
                    $"the JPEG gave no picture ({decoder.Errors} rejected{(decoder.LastError is null ? "" : ": " + decoder.LastError)})");
            }
            return new DecodedPicture(latest, Math.Clamp(jpegQuality, 2, 31));
        }
        catch
        {
            latest.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The picture as JPEG, <paramref name="width"/> wide (0: the source's width), aspect kept; the same array for the
    /// same width. False once disposed (the caller takes a newer picture).
    /// </summary>
    public bool TryEncodeJpeg(int width, out byte[] jpeg, out int height)
    {
        if (width == 0)
        {
            width = SourceWidth & ~1;
        }
        ArgumentOutOfRangeException.ThrowIfLessThan(width, SnapshotEncoder.MinWidth);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(width, SnapshotEncoder.MaxWidth);
        lock (_gate)
        {
            if (_disposed)
            {
                jpeg = [];
                height = 0;
                return false;
            }
            foreach (var (w, h, j) in _jpegs)
            {
                if (w == width)
                {
                    jpeg = j;
                    height = h;
                    return true;
                }
            }
            height = FrameScaler.HeightFor(SourceWidth, SourceHeight, width);
            using var scaler = new FrameScaler();
            var scaled = scaler.Scale(_frame, width, height, PixelFormat.Yuvj420P);
            using var encoder = new JpegEncoder(width, height, _quality);
            var output = new ArrayBufferWriter<byte>(64 * 1024);
            encoder.Encode(scaled, output);
            jpeg = output.WrittenSpan.ToArray();
            if (_jpegs.Count == MaxWidths)
            {
                _jpegs.RemoveAt(0);
            }
            _jpegs.Add((width, height, jpeg));
            return true;
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            _jpegs.Clear();
            _frame.Dispose();
        }
    }
}
