using System.Diagnostics;
using HikShareGateway.Core.Devices;
using HikShareGateway.Core.Snapshots;
using HikShareGateway.Ffmpeg.Video;
using HikShareGateway.Media;
using Microsoft.Extensions.Logging;
using FfmpegCodec = HikShareGateway.Ffmpeg.Video.VideoCodec;
using MediaCodec = HikShareGateway.Media.VideoCodec;

namespace HikShareGateway.Ffmpeg.Snapshots;

/// <summary>Snapshot tunables (section <c>Media</c>, keys <c>Snapshot*</c>; see <see cref="MediaTranscodingOptions"/>).</summary>
public sealed record SnapshotOptions
{
    /// <summary>A picture is reused for this long: at most one decode per stream per window. Default 1 s.</summary>
    public TimeSpan CacheWindow { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Bound on the upstream coming up when no stream runs. Default 10 s.</summary>
    public TimeSpan ReadyTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Bound on the next keyframe when the stream has none cached. Default 10 s (a recorder's GOP is 2-8 s).</summary>
    public TimeSpan KeyframeTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Decodes running at once, all streams together (CPU and memory bound). Default 2.</summary>
    public int MaxConcurrentDecodes { get; init; } = 2;

    /// <summary>mjpeg quantiser, 2 (best) to 31. Default 4.</summary>
    public int JpegQuality { get; init; } = 4;

    /// <summary>Where pictures come from unless the device says otherwise. Default <see cref="SnapshotSource.Auto"/>.</summary>
    public SnapshotSource Source { get; init; } = SnapshotSource.Auto;

    /// <summary>Per device id (<c>Devices[].SnapshotSource</c>), over <see cref="Source"/>.</summary>
    public IReadOnlyDictionary<string, SnapshotSource> SourceByDevice { get; init; } = new Dictionary<string, SnapshotSource>();

    /// <summary>Bound on the device's own picture (address look-up, authentication and body). Default 3 s: past it the stream is decoded.</summary>
    public TimeSpan DeviceTimeout { get; init; } = TimeSpan.FromSeconds(3);

    /// <summary>Largest device picture taken. Default 4 MiB (a 4K camera's JPEG is 1-2 MiB).</summary>
    public int DeviceMaxBytes { get; init; } = 4 * 1024 * 1024;

    public SnapshotSource SourceOf(string deviceId) => SourceByDevice.TryGetValue(deviceId, out var s) ? s : Source;
}

/// <summary>
/// <see cref="ISnapshotService"/> over the live relay and FFmpeg.
/// <para>
/// :: Step 1: a picture of the stream younger than <see cref="SnapshotOptions.CacheWindow"/> answers at once (any width:
///    the decoded frame is kept, JPEGs memoised per width).
/// :: Step 2: else one decode per stream runs, shared by every caller who comes while it runs.
/// :: Step 3a: the device's own JPEG (<see cref="IDevicePictures"/>) when the source is <see cref="SnapshotSource.Device"/>, or
///    <see cref="SnapshotSource.Auto"/> and no stream of the channel runs (a decode would open an upstream session):
///    fetched within <see cref="SnapshotOptions.DeviceTimeout"/> and <see cref="SnapshotOptions.DeviceMaxBytes"/>, its
///    frame header read (<see cref="JpegHeader"/>), kept as it came (passed through without width, scaled otherwise).
///    Any failure of it falls through to step 3, logged.
/// :: Step 3: the decode takes a lease on the stream through the relay (so a running upstream is shared and a cold one
///    is started, kept for the relay's linger time afterwards), subscribes a <see cref="KeyframeCollector"/> (the cached
///    GOP gives a keyframe at once; a cold stream gives its first), unsubscribes, and decodes that one keyframe on a
///    worker, bounded by <see cref="SnapshotOptions.MaxConcurrentDecodes"/>.
/// :: Step 3b: each caller's scale and JPEG encode of the shared picture takes the same bound.
/// :: Step 4: pictures older than the window are freed by a sweep, so memory is one decoded frame per stream asked for
///    in the last seconds.
/// </para>
/// </summary>
public sealed partial class SnapshotService : ISnapshotService, IDisposable
{
    private readonly LiveRelay _relay;
    private readonly SnapshotOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Func<FfmpegAvailability> _availability;
    private readonly SemaphoreSlim _decodes;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly IDevicePictures? _devicePictures;
    private readonly IDeviceCatalog? _catalog;
    private long _deviceFetches;
    private long _deviceFallbacks;
    private readonly CancellationTokenSource _stop = new();
    private readonly ITimer _sweep;
    private long _decodeCount;

    /// <param name="devicePictures">The devices' own pictures (step 3a); null: always decode.</param>
    /// <param name="catalog">Where the device of a picture is looked up for step 3a.</param>
    public SnapshotService(LiveRelay relay, SnapshotOptions options, TimeProvider time, ILogger<SnapshotService> logger, Func<FfmpegAvailability>? availability = null,
        IDevicePictures? devicePictures = null, IDeviceCatalog? catalog = null)
    {
        _devicePictures = devicePictures;
        _catalog = catalog;
        _relay = relay;
        _options = options;
        _time = time;
        _logger = logger;
        _availability = availability ?? FfmpegLibraries.Probe;
        _decodes = new SemaphoreSlim(Math.Max(1, options.MaxConcurrentDecodes));
        var sweepEvery = TimeSpan.FromTicks(Math.Max(options.CacheWindow.Ticks * 5, TimeSpan.FromSeconds(5).Ticks));
        _sweep = time.CreateTimer(static s => ((SnapshotService)s!).Sweep(), this, sweepEvery, sweepEvery);
    }

    /// <summary>Decodes started since the service began (tests and figures).</summary>
    public long DecodeCount => Interlocked.Read(ref _decodeCount);

    /// <summary>Device pictures asked for (step 3a).</summary>
    public long DeviceFetchCount => Interlocked.Read(ref _deviceFetches);

    /// <summary>Device pictures that failed, so the stream was decoded instead.</summary>
    public long DeviceFallbackCount => Interlocked.Read(ref _deviceFallbacks);

    /// <summary>Streams holding a decoded picture now.</summary>
    public int CachedPictures { get { lock (_gate) { return _entries.Values.Count(e => e.Picture is not null); } } }

    public string? UnavailableReason
    {
        get
        {
            var a = _availability();
            if (!a.IsAvailable)
            {
                return FfmpegAvailability.OffMessage;
            }
            foreach (var m in a.MissingCodecs)
            {
                if (m == "mjpeg (encoder)")
                {
                    return "this gateway's FFmpeg has no JPEG encoder: snapshots are off";
                }
            }
            return null;
        }
    }

    public async Task<SnapshotImage> TakeAsync(string deviceId, int channel, StreamKind kind, int width, CancellationToken cancellationToken)
    {
        if (UnavailableReason is { } off)
        {
            throw new SnapshotException(SnapshotFailure.Unavailable, off);
        }
        ArgumentOutOfRangeException.ThrowIfNegative(width);
        var key = $"{deviceId}/{channel}/{(kind == StreamKind.Sub ? "sub" : "main")}";
        // A picture freed by the sweep between taking it and encoding it: take the newer one (twice is plenty).
        for (int attempt = 0; ; attempt++)
        {
            var (picture, takenAt) = await GetPictureAsync(key, deviceId, channel, kind, cancellationToken).ConfigureAwait(false);
            bool encoded;
            byte[] jpeg;
            int outWidth, height;
            // Scaling and encoding (and, for a device's JPEG, decoding it) is CPU work per request: it shares the
            // bound of the decodes, so no number of callers makes more than MaxConcurrentDecodes of them at once.
            if (!await _decodes.WaitAsync(_options.KeyframeTimeout, cancellationToken).ConfigureAwait(false))
            {
                throw new SnapshotException(SnapshotFailure.Busy, "too many snapshots are being encoded; try again");
            }
            try
            {
                encoded = picture.TryEncodeJpeg(width, out jpeg, out outWidth, out height);
            }
            catch (MediaProcessingException e)
            {
                throw new SnapshotException(SnapshotFailure.Undecodable, "the picture could not be scaled: " + e.Message, e);
            }
            finally
            {
                _decodes.Release();
            }
            if (encoded)
            {
                return new SnapshotImage(jpeg, outWidth, height, takenAt) { Origin = picture.Origin };
            }
            if (attempt == 2)
            {
                throw new SnapshotException(SnapshotFailure.Busy, "the picture was replaced while encoding; try again");
            }
        }
    }

    private Task<(ISnapshotPicture Picture, DateTimeOffset TakenAt)> GetPictureAsync(string key, string deviceId, int channel, StreamKind kind, CancellationToken ct)
    {
        Task<(ISnapshotPicture, DateTimeOffset)> task;
        lock (_gate)
        {
            if (!_entries.TryGetValue(key, out var entry))
            {
                entry = new Entry();
                _entries[key] = entry;
            }
            // :: Step 1: fresh enough.
            if (entry.Picture is { } p && _time.GetElapsedTime(entry.StartedAt) < _options.CacheWindow)
            {
                return Task.FromResult((p, entry.TakenAt));
            }
            // :: Step 2: one decode per stream, shared.
            if (entry.InFlight is null)
            {
                entry.StartedAt = _time.GetTimestamp();
                entry.TakenAtPending = _time.GetUtcNow();
                entry.InFlight = DecodeAsync(entry, deviceId, channel, kind);
            }
            task = entry.InFlight;
        }
        return task.WaitAsync(ct);
    }

    private async Task<(ISnapshotPicture, DateTimeOffset)> DecodeAsync(Entry entry, string deviceId, int channel, StreamKind kind)
    {
        await Task.Yield(); // the caller holds the service lock
        try
        {
            var picture = await TakeOnceAsync(deviceId, channel, kind, _stop.Token).ConfigureAwait(false);
            ISnapshotPicture? old;
            DateTimeOffset takenAt;
            lock (_gate)
            {
                old = entry.Picture;
                entry.Picture = picture;
                entry.TakenAt = takenAt = entry.TakenAtPending;
                entry.InFlight = null;
            }
            old?.Dispose();
            return (picture, takenAt);
        }
        catch (Exception e)
        {
            lock (_gate)
            {
                entry.InFlight = null;
                // A failure is not cached: the next caller tries again (the relay's backoff protects the device).
                entry.StartedAt = 0;
            }
            var reason = e switch
            {
                SnapshotException s => s.Message,
                DeviceException d => d.Message,
                _ => e.GetType().Name + ": " + e.Message,
            };
            LogSnapshotFailed(_logger, deviceId, channel, kind, reason);
            if (e is SnapshotException or DeviceException or OperationCanceledException)
            {
                throw;
            }
            throw new SnapshotException(SnapshotFailure.Undecodable, "the picture could not be made", e);
        }
    }

    /// <summary>:: Step 3a, else (or when it fails) step 3.</summary>
    private async Task<ISnapshotPicture> TakeOnceAsync(string deviceId, int channel, StreamKind kind, CancellationToken ct)
    {
        if (_devicePictures is not null && _catalog is not null && _options.SourceOf(deviceId) is var source && source != SnapshotSource.Decode
            && _catalog.TryGetDevice(deviceId, out var device) && _devicePictures.Offers(device, channel, kind)
            && (source == SnapshotSource.Device || !StreamRuns(deviceId, channel, kind)))
        {
            Interlocked.Increment(ref _deviceFetches);
            var clock = Stopwatch.StartNew();
            try
            {
                var fetched = await _devicePictures.FetchAsync(device, channel, kind, _options.DeviceMaxBytes, _options.DeviceTimeout, ct).ConfigureAwait(false);
                if (JpegHeader.TryRead(fetched.Jpeg, out var w, out var h) != JpegHeaderStatus.Ok)
                {
                    throw new DeviceException(DeviceErrorKind.Failed, "device picture: the body starts like a JPEG but has no readable frame header.");
                }
                LogDevicePicture(_logger, deviceId, channel, kind, fetched.Via, w, h, fetched.Jpeg.Length, clock.Elapsed.TotalMilliseconds);
                return new DevicePicture(fetched.Jpeg, w, h, _options.JpegQuality);
            }
            catch (DeviceException e)
            {
                Interlocked.Increment(ref _deviceFallbacks);
                LogDevicePictureFailed(_logger, deviceId, channel, kind, e.Kind, e.Message);
            }
        }
        return new StreamPicture(await DecodeOnceAsync(deviceId, channel, kind, ct).ConfigureAwait(false));
    }

    /// <summary>Whether the channel's stream is up now (its GOP cache answers without a new upstream session).</summary>
    private bool StreamRuns(string deviceId, int channel, StreamKind kind)
    {
        foreach (var s in _relay.Streams)
        {
            if (s.Channel == channel && s.Kind == kind && s.Ready.IsCompletedSuccessfully && string.Equals(s.DeviceId, deviceId, StringComparison.Ordinal))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>:: Step 3: lease, collect a keyframe, decode it.</summary>
    private async Task<DecodedPicture> DecodeOnceAsync(string deviceId, int channel, StreamKind kind, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        Interlocked.Increment(ref _decodeCount);
        byte[] keyframe;
        FfmpegCodec codec;
        IReadOnlyList<ReadOnlyMemory<byte>> parameterSets;
        using (var lease = _relay.Acquire(deviceId, channel, kind))
        {
            MediaDescription description;
            try
            {
                description = await lease.Stream.WaitReadyAsync(_options.ReadyTimeout, ct).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                throw new DeviceException(DeviceErrorKind.Timeout, "the device's stream did not start in time");
            }
            int video = description.VideoTrack;
            codec = description.VideoCodec switch
            {
                MediaCodec.H264 => FfmpegCodec.H264,
                MediaCodec.H265 => FfmpegCodec.H265,
                _ => throw new SnapshotException(SnapshotFailure.NoVideo,
                    video < 0 ? "the stream has no video" : "the stream's video codec is not H.264 or H.265"),
            };
            parameterSets = SpropParameterSets.Parse(codec, description.Tracks[video].FormatParameters);
            var collector = new KeyframeCollector(video, codec);
            lease.Stream.Subscribe(collector);
            try
            {
                keyframe = await collector.Completed.WaitAsync(_options.KeyframeTimeout, _time, ct).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                throw new SnapshotException(SnapshotFailure.Timeout,
                    $"no complete keyframe came from the device within {_options.KeyframeTimeout.TotalSeconds:0} s");
            }
            finally
            {
                lease.Stream.Unsubscribe(collector);
            }
        }
        var collected = clock.Elapsed;
        if (!await _decodes.WaitAsync(_options.KeyframeTimeout, ct).ConfigureAwait(false))
        {
            throw new SnapshotException(SnapshotFailure.Busy, "too many snapshots are being decoded; try again");
        }
        try
        {
            var quality = _options.JpegQuality;
            var picture = await Task.Run(() =>
            {
                try
                {
                    return DecodedPicture.Decode(codec, parameterSets, keyframe, quality);
                }
                catch (MediaProcessingException e)
                {
                    throw new SnapshotException(SnapshotFailure.Undecodable, "the device's keyframe could not be decoded: " + e.Message, e);
                }
            }, ct).ConfigureAwait(false);
            LogDecoded(_logger, deviceId, channel, kind, picture.SourceWidth, picture.SourceHeight, collected.TotalMilliseconds, clock.Elapsed.TotalMilliseconds);
            return picture;
        }
        finally
        {
            _decodes.Release();
        }
    }

    /// <summary>:: Step 4: frees pictures past the window (not one a decode is replacing).</summary>
    private void Sweep()
    {
        List<ISnapshotPicture>? expired = null;
        lock (_gate)
        {
            foreach (var (key, e) in _entries)
            {
                if (e.InFlight is null && (e.Picture is null || _time.GetElapsedTime(e.StartedAt) >= _options.CacheWindow))
                {
                    if (e.Picture is not null)
                    {
                        (expired ??= []).Add(e.Picture);
                    }
                    _entries.Remove(key);
                }
            }
        }
        if (expired is not null)
        {
            foreach (var p in expired)
            {
                p.Dispose();
            }
        }
    }

    public void Dispose()
    {
        _sweep.Dispose();
        _stop.Cancel();
        lock (_gate)
        {
            foreach (var e in _entries.Values)
            {
                e.Picture?.Dispose();
            }
            _entries.Clear();
        }
    }

    private sealed class Entry
    {
        public ISnapshotPicture? Picture;
        public DateTimeOffset TakenAt;
        public DateTimeOffset TakenAtPending;
        public long StartedAt;
        public Task<(ISnapshotPicture, DateTimeOffset)>? InFlight;
    }

    [LoggerMessage(EventId = 7810, Level = LogLevel.Debug, Message = "Snapshot of {DeviceId}/{Channel}/{Kind}: {Width}x{Height} keyframe after {CollectMs:0} ms, decoded after {TotalMs:0} ms")]
    private static partial void LogDecoded(ILogger logger, string deviceId, int channel, StreamKind kind, int width, int height, double collectMs, double totalMs);

    [LoggerMessage(EventId = 7812, Level = LogLevel.Debug, Message = "Snapshot of {DeviceId}/{Channel}/{Kind}: the device's own picture over {Via}, {Width}x{Height}, {Bytes} bytes after {TotalMs:0} ms")]
    private static partial void LogDevicePicture(ILogger logger, string deviceId, int channel, StreamKind kind, string via, int width, int height, int bytes, double totalMs);

    [LoggerMessage(EventId = 7813, Level = LogLevel.Warning, Message = "Snapshot of {DeviceId}/{Channel}/{Kind}: the device's own picture failed ({ErrorKind}: {Reason}); decoding the stream instead")]
    private static partial void LogDevicePictureFailed(ILogger logger, string deviceId, int channel, StreamKind kind, DeviceErrorKind errorKind, string reason);

    [LoggerMessage(EventId = 7811, Level = LogLevel.Warning, Message = "Snapshot of {DeviceId}/{Channel}/{Kind} failed: {Reason}")]
    private static partial void LogSnapshotFailed(ILogger logger, string deviceId, int channel, StreamKind kind, string reason);
}
