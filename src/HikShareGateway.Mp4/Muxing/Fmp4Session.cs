using System.Threading.Channels;
using HikShareGateway.Mp4.Rtp;

namespace HikShareGateway.Mp4.Muxing;

/// <summary>The muxer's options plus the bound of what may wait for a slow reader.</summary>
public sealed record Fmp4SessionOptions
{
    public Fmp4MuxerOptions Muxer { get; init; } = new();

    /// <summary>Bytes queued for the reader beyond which video is dropped until the next keyframe (default 4 MiB).</summary>
    public int MaxQueuedBytes { get; init; } = 4 << 20;

    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>(Muxer.Validate());
        if (MaxQueuedBytes < 64 << 10)
        {
            errors.Add($"MaxQueuedBytes must be at least 64 KiB (was {MaxQueuedBytes})");
        }

        return errors;
    }
}

/// <summary>
/// One viewer's fMP4 stream: the producer (the media core's subscriber callback) hands it access units and
/// G.711 packets and never waits; the reader (an HTTP response loop) takes <see cref="Fmp4Segment"/>s at its own
/// pace. What waits is bounded by <see cref="Fmp4SessionOptions.MaxQueuedBytes"/>: over it, video is dropped
/// until a keyframe that fits (so the reader resumes on a decodable picture) and audio that does not fit is
/// dropped; an init segment is always queued. The caller decides when a reader that keeps overflowing must go
/// (<see cref="Overflows"/>).
/// </summary>
/// <remarks>
/// Single producer, single reader. Segments left unread are returned to the pool by <see cref="Dispose"/>, which
/// the owner calls once the producer has stopped calling in.
/// </remarks>
public sealed class Fmp4Session : IAccessUnitSink, IDisposable
{
    private readonly Fmp4Muxer _muxer;
    private readonly int _maxQueuedBytes;
    private readonly PooledSegmentWriter _writer = new();
    private readonly Channel<Fmp4Segment> _queue = Channel.CreateUnbounded<Fmp4Segment>(
        new UnboundedChannelOptions { SingleReader = true, SingleWriter = true, AllowSynchronousContinuations = false });

    private long _queuedBytes;
    private bool _waitingForKeyframe;
    private int _disposed;

    public Fmp4Session(Fmp4SessionOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        IReadOnlyList<string> errors = options.Validate();
        if (errors.Count > 0)
        {
            throw new ArgumentException(string.Join("; ", errors), nameof(options));
        }

        _muxer = new Fmp4Muxer(options.Muxer);
        _maxQueuedBytes = options.MaxQueuedBytes;
    }

    /// <summary>The MSE type of the stream, once the first init segment is queued.</summary>
    public string? MimeType => _muxer.MimeType;

    public long QueuedBytes => Interlocked.Read(ref _queuedBytes);

    /// <summary>Times the queue was full and video was cut back to the next keyframe.</summary>
    public long Overflows { get; private set; }

    /// <summary>Video frames and audio packets not queued because the reader was behind.</summary>
    public long DroppedForSlowReader { get; private set; }

    /// <summary>Producer side: one access unit from the depacketizer (copied into the session's buffers).</summary>
    public void OnVideo(in AccessUnit accessUnit)
    {
        if (_waitingForKeyframe && !accessUnit.IsKeyframe)
        {
            DroppedForSlowReader++;
            return;
        }

        int initSegments = _muxer.InitSegments;
        if (_muxer.WriteVideo(_writer, accessUnit) != MuxResult.Written)
        {
            _writer.Discard();
            return;
        }

        bool init = _muxer.InitSegments != initSegments;
        if (Enqueue(init ? Fmp4SegmentKind.Init : Fmp4SegmentKind.Video, accessUnit.IsKeyframe, mustQueue: init))
        {
            _waitingForKeyframe = false;
        }
        else
        {
            if (!_waitingForKeyframe)
            {
                Overflows++;
            }

            _waitingForKeyframe = true;
            DroppedForSlowReader++;
        }
    }

    /// <summary>So that a depacketizer can hand its access units straight to the session.</summary>
    void IAccessUnitSink.OnAccessUnit(in AccessUnit accessUnit) => OnVideo(accessUnit);

    /// <summary>Producer side: one G.711 RTP payload.</summary>
    public void OnAudio(ReadOnlySpan<byte> g711, uint rtpTimestamp)
    {
        if (_muxer.WriteAudio(_writer, g711, rtpTimestamp) != MuxResult.Written)
        {
            _writer.Discard();
            return;
        }

        if (!Enqueue(Fmp4SegmentKind.Audio, isKeyframe: false, mustQueue: false))
        {
            DroppedForSlowReader++;
        }
    }

    /// <summary>Producer side: the stream ended; the reader gets what is queued, then false from <see cref="WaitToReadAsync"/>.</summary>
    public void Complete()
    {
        if (_muxer.FlushAudio(_writer) && !Enqueue(Fmp4SegmentKind.Audio, isKeyframe: false, mustQueue: false))
        {
            DroppedForSlowReader++;
        }

        _queue.Writer.TryComplete();
    }

    /// <summary>Reader side: waits until a segment is queued (true) or the stream is complete (false).</summary>
    public ValueTask<bool> WaitToReadAsync(CancellationToken cancellationToken = default) =>
        _queue.Reader.WaitToReadAsync(cancellationToken);

    /// <summary>Reader side: takes the next segment; the caller disposes it.</summary>
    public bool TryRead(out Fmp4Segment segment)
    {
        if (!_queue.Reader.TryRead(out segment))
        {
            return false;
        }

        Interlocked.Add(ref _queuedBytes, -segment.Length);
        return true;
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _queue.Writer.TryComplete();
        while (TryRead(out Fmp4Segment segment))
        {
            segment.Dispose();
        }

        _writer.Discard();
    }

    private bool Enqueue(Fmp4SegmentKind kind, bool isKeyframe, bool mustQueue)
    {
        int length = _writer.WrittenCount;
        if (!mustQueue && Interlocked.Read(ref _queuedBytes) + length > _maxQueuedBytes)
        {
            _writer.Discard();
            return false;
        }

        byte[] array = _writer.Detach(out length);
        Interlocked.Add(ref _queuedBytes, length);
        if (!_queue.Writer.TryWrite(new Fmp4Segment(array, length, kind, isKeyframe)))
        {
            // Completed or disposed: nobody will read it.
            Interlocked.Add(ref _queuedBytes, -length);
            System.Buffers.ArrayPool<byte>.Shared.Return(array);
        }

        return true;
    }
}
