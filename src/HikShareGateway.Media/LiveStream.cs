using HikShareGateway.Core.Devices;
using HikShareGateway.Core.Diagnostics;
using HikShareGateway.Core.Resilience;
using Microsoft.Extensions.Logging;

namespace HikShareGateway.Media;

/// <summary>
/// One live stream (device, channel, main/sub) and its single source session, shared by every subscriber (output).
/// It knows no transport and no viewer protocol: a source (<see cref="IMediaSource"/>) feeds it, outputs
/// (<see cref="IMediaSubscriber"/>) consume it.
/// <para>
/// :: Step 1: the first viewer's DESCRIBE starts the upstream; later viewers wait for the same start.
/// :: Step 2: the upstream read loop hands each packet here once; it is appended to the GOP cache
///    (from the last keyframe start, bounded) and to the batch being collected, never copied. Once per complete
///    frame (the RTP marker bit), and at the end of a read for audio and RTCP, the batch goes to every subscribed
///    viewer in one call, each taking a reference per packet, and every viewer's writer is woken.
/// :: Step 3: a viewer joining a running stream gets the cached GOP first, so its first picture is
///    immediate rather than at the next IDR.
/// :: Step 4: when the upstream drops, it is reconnected with backoff while viewers remain; viewers stay.
/// :: Step 5: some seconds after the last viewer left (<c>Rtsp:UpstreamLingerSeconds</c>) the upstream closes.
/// </para>
/// </summary>
public sealed partial class LiveStream : IMediaSink
{
    private readonly LiveRelay _relay;
    private readonly IMediaSourceConnector _connector;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly GatewayMetrics _metrics;
    private readonly RelayOptions _options;
    private readonly Lock _gate = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource<MediaDescription> _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<RtpBuffer> _gop = [];
    private Subscription[] _subscribers = [];
    // The same subscribers' outputs, for the flush outside the lock; both arrays are replaced together, never changed.
    private IMediaSubscriber[] _outputs = [];
    // The packets since the last flush (each holding the stream's reference), handed to every subscriber at once.
    private readonly FanoutBatch _open = new();
    private long _gopBytes;
    private bool _gopValid;
    private int _users;
    private ITimer? _lingerTimer;
    private KeyframeTracker? _keyframes;
    private int _videoTrack = -1;
    private RtpContinuity? _continuity;
    // Packets collected since the last flush (under _gate), since when, and whether they are all the beginning of a
    // video frame whose marker packet has not come yet.
    private int _unflushed;
    private long _unflushedSince;
    private bool _unflushedFrameOnly;
    private Task? _loop;

    internal LiveStream(LiveRelay relay, string key, string deviceId, int channel, StreamKind kind, IMediaSourceConnector connector, RelayOptions options, TimeProvider time, ILogger logger, GatewayMetrics metrics)
    {
        _metrics = metrics;
        _relay = relay;
        Key = key;
        DeviceId = deviceId;
        Channel = channel;
        Kind = kind;
        _connector = connector;
        _options = options;
        _time = time;
        _logger = logger;
    }

    public string Key { get; }
    public string DeviceId { get; }
    public int Channel { get; }
    public StreamKind Kind { get; }
    public int SubscriberCount => Volatile.Read(ref _subscribers).Length;
    /// <summary>Raised (on the upstream loop) when the upstream came back with different tracks: viewers must leave.</summary>
    public event Action<string>? Invalidated;

    /// <summary>Resolves when the upstream first plays; faults with a <see cref="DeviceException"/> if that fails.</summary>
    public Task<MediaDescription> Ready => _ready.Task;

    /// <summary><see cref="Ready"/>, bounded by <paramref name="timeout"/> on the stream's <see cref="TimeProvider"/> (<see cref="TimeoutException"/>).</summary>
    public Task<MediaDescription> WaitReadyAsync(TimeSpan timeout, CancellationToken ct) => _ready.Task.WaitAsync(timeout, _time, ct);

    internal void Start() => _loop = Task.Run(RunAsync);

    /// <summary>Counts a user (a viewer connection) of the stream; cancels a pending linger close.</summary>
    internal bool TryAddUser()
    {
        lock (_gate)
        {
            if (_stop.IsCancellationRequested)
            {
                return false;
            }
            _users++;
            _lingerTimer?.Dispose();
            _lingerTimer = null;
            return true;
        }
    }

    internal void RemoveUser()
    {
        lock (_gate)
        {
            if (--_users > 0 || _stop.IsCancellationRequested)
            {
                return;
            }
            if (!_ready.Task.IsCompletedSuccessfully)
            {
                // Never played (or failed): nothing to keep warm.
                StopLocked();
                return;
            }
            _lingerTimer = _time.CreateTimer(static s => ((LiveStream)s!).LingerExpired(), this, _options.UpstreamLinger, Timeout.InfiniteTimeSpan);
        }
    }

    private void LingerExpired()
    {
        lock (_gate)
        {
            if (_users == 0)
            {
                LogLingerClose(_logger, DeviceId, Channel, Kind);
                StopLocked();
            }
        }
    }

    private void StopLocked()
    {
        if (_stop.IsCancellationRequested)
        {
            return;
        }
        _stop.Cancel();
        _relay.Remove(this);
    }

    /// <summary>Stops the upstream now (gateway shutdown).</summary>
    internal async Task StopAsync()
    {
        lock (_gate)
        {
            _lingerTimer?.Dispose();
            StopLocked();
        }
        if (_loop is not null)
        {
            await _loop;
        }
    }

    /// <summary>
    /// Adds a viewer: replays the cached GOP into its queue and subscribes it, atomically with the packet flow. The
    /// batch being collected reaches it from the packets that come after this call (the earlier ones are in the GOP,
    /// or were before its time).
    /// </summary>
    public void Subscribe(IMediaSubscriber output)
    {
        lock (_gate)
        {
            output.WaitForKeyframe(_videoTrack >= 0);
            if (_gopValid)
            {
                var now = _time.GetTimestamp();
                foreach (var b in _gop)
                {
                    output.Enqueue(b, now);
                }
            }
            _subscribers = [.. _subscribers, new Subscription(output, _open.Generation, _open.Count)];
            _outputs = [.. _outputs, output];
        }
        // Outside the lock: the flush may run the viewer's writer on this thread.
        output.Flush();
    }

    /// <summary>Removes a viewer. When this returns, no packet reaches it any more (a delivery in progress finished first).</summary>
    public void Unsubscribe(IMediaSubscriber output)
    {
        lock (_gate)
        {
            var list = _subscribers;
            for (var i = 0; i < list.Length; i++)
            {
                if (list[i].Output == output)
                {
                    _subscribers = [.. list[..i], .. list[(i + 1)..]];
                    _outputs = [.. _outputs[..i], .. _outputs[(i + 1)..]];
                    break;
                }
            }
        }
    }

    void IMediaSink.OnPacket(RtpBuffer buffer)
    {
        // Still ours alone: renumber in place before anyone else holds it.
        _continuity?.Rewrite(buffer);
        IMediaSubscriber[]? flush = null;
        lock (_gate)
        {
            var video = buffer.Track == _videoTrack && !buffer.IsRtcp;
            if (video)
            {
                UpdateGop(buffer);
            }
            else if (_gopValid && _gopBytes < _options.GopCacheBytes)
            {
                // Audio and RTCP between keyframes belong to the GOP too, in arrival order.
                buffer.AddRef();
                _gop.Add(buffer);
                _gopBytes += buffer.Length;
            }
            var endOfFrame = NoteUnflushedLocked(buffer, video, buffer.ReceivedAt);
            if (_subscribers.Length > 0)
            {
                // The caller's reference moves into the batch.
                _open.Add(buffer);
                buffer = null!;
            }
            if (endOfFrame)
            {
                flush = DeliverLocked();
            }
        }
        buffer?.Release();
        if (flush is not null)
        {
            FlushAll(flush);
        }
    }

    /// <summary>
    /// When to wake the writers. RFC 6184 §5.1 / RFC 7798 §4.1: the marker bit is set on the last packet of an access
    /// unit, so a frame is flushed as soon as it is complete, and each viewer's writer sends its packets in one
    /// gather <c>sendmsg</c> rather than one per upstream read (a camera that writes packet by packet would otherwise
    /// cost a wake-up and a syscall per packet per viewer). Audio and RTCP are flushed at the end of the read that
    /// brought them; an incomplete frame is held at most <see cref="MaxFrameHold"/> (a lost marker, a codec without it).
    /// </summary>
    /// <returns>True when this packet completed a frame: flush now.</returns>
    private bool NoteUnflushedLocked(RtpBuffer buffer, bool video, long now)
    {
        if (_subscribers.Length == 0)
        {
            _unflushed = 0;
            return false;
        }
        if (video && buffer.Length >= 12 && (buffer.PacketSpan[1] & 0x80) != 0)
        {
            _unflushed = 0;
            return true;
        }
        if (_unflushed++ == 0)
        {
            _unflushedSince = now;
            _unflushedFrameOnly = true;
        }
        _unflushedFrameOnly &= video;
        return false;
    }

    /// <summary>The longest an incomplete frame waits for its marker packet before its packets are flushed anyway.</summary>
    internal static readonly TimeSpan MaxFrameHold = TimeSpan.FromMilliseconds(20);

    /// <summary>
    /// The end of one upstream read: flushes what the read queued unless it is only the beginning of a frame whose
    /// marker packet is still to come (see <see cref="NoteUnflushedLocked"/>).
    /// </summary>
    void IMediaSink.OnBatchEnd()
    {
        IMediaSubscriber[] flush;
        lock (_gate)
        {
            if (_unflushed == 0 || (_unflushedFrameOnly && _time.GetElapsedTime(_unflushedSince) < MaxFrameHold))
            {
                return;
            }
            _unflushed = 0;
            flush = DeliverLocked();
        }
        FlushAll(flush);
    }

    /// <summary>
    /// Hands the collected batch to every subscriber in one call each (<see cref="IMediaSubscriber.Enqueue(ReadOnlySpan{RtpBuffer})"/>:
    /// one lock per viewer per frame, not per packet), in order on the read loop, then drops the stream's references.
    /// </summary>
    /// <returns>The subscribers to wake.</returns>
    private IMediaSubscriber[] DeliverLocked()
    {
        var batch = _open;
        var list = _subscribers;
        if (batch.Count > 0)
        {
            foreach (var s in list)
            {
                var from = s.JoinedGeneration == batch.Generation ? s.JoinedAt : 0;
                if (from < batch.Count)
                {
                    s.Output.Enqueue(batch.Packets.AsSpan(from, batch.Count - from));
                }
            }
            batch.Clear();
        }
        return _outputs;
    }

    /// <summary>
    /// Wakes every viewer's writer. A flush runs the writer's non-blocking send on the calling
    /// thread, so many viewers are split into slices of at least <see cref="FlushSliceMinimum"/>, at most one per core:
    /// the read loop takes the first, thread-pool work items the others. Far fewer hops than one work item per viewer,
    /// and the sends of a frame to hundreds of viewers spread over the cores.
    /// </summary>
    private static void FlushAll(IMediaSubscriber[] subscribers)
    {
        var slices = Math.Clamp(subscribers.Length / FlushSliceMinimum, 1, Environment.ProcessorCount);
        var size = (subscribers.Length + slices - 1) / Math.Max(1, slices);
        for (var i = 1; i < slices; i++)
        {
            ThreadPool.UnsafeQueueUserWorkItem(new FlushSlice(subscribers, i * size, Math.Min(subscribers.Length, (i + 1) * size)), preferLocal: false);
        }
        FlushSlice.Run(subscribers, 0, Math.Min(subscribers.Length, size));
    }

    /// <summary>
    /// Viewers per flush slice: below twice this one thread flushes them all. A viewer's flush is one non-blocking
    /// sendmsg (~10 µs), so 128 of them take a few ms; a work item per frame for fewer would wake a pool thread
    /// 25 times a second for little, and every wake-up of an idle pool thread ends in its spin-wait (sched_yield,
    /// counted as non-voluntary context switches) when it goes idle again.
    /// </summary>
    private const int FlushSliceMinimum = 128;

    private sealed class FlushSlice(IMediaSubscriber[] outputs, int from, int to) : IThreadPoolWorkItem
    {
        public void Execute() => Run(outputs, from, to);

        public static void Run(IMediaSubscriber[] outputs, int from, int to)
        {
            for (var i = from; i < to; i++)
            {
                outputs[i].Flush();
            }
        }
    }

    /// <summary>A subscriber in the list: its output, and where in the batch being collected it joined.</summary>
    private sealed record Subscription(IMediaSubscriber Output, long JoinedGeneration, int JoinedAt);

    /// <summary>The packets between two flushes, in arrival order, each holding one reference of the stream's (reused).</summary>
    private sealed class FanoutBatch
    {
        public RtpBuffer[] Packets = new RtpBuffer[64];
        public int Count;
        /// <summary>Which batch this is (a new one after every delivery), so that a joiner knows its own.</summary>
        public long Generation;

        public void Add(RtpBuffer buffer)
        {
            if (Count == Packets.Length)
            {
                Array.Resize(ref Packets, Packets.Length * 2);
            }
            Packets[Count++] = buffer;
        }

        /// <summary>Releases the packets; the next batch begins.</summary>
        public void Clear()
        {
            for (var i = 0; i < Count; i++)
            {
                Packets[i].Release();
                Packets[i] = null!;
            }
            Count = 0;
            Generation++;
        }
    }

    private void UpdateGop(RtpBuffer buffer)
    {
        if (_keyframes!.Mark(buffer))
        {
            ClearGop();
            _gopValid = true;
        }
        if (_gopValid)
        {
            if (_gopBytes + buffer.Length > _options.GopCacheBytes)
            {
                // A GOP larger than the cache: joiners will wait for the next keyframe instead.
                ClearGop();
                return;
            }
            buffer.AddRef();
            _gop.Add(buffer);
            _gopBytes += buffer.Length;
        }
    }

    private void ClearGop()
    {
        foreach (var b in _gop)
        {
            b.Release();
        }
        _gop.Clear();
        _gopBytes = 0;
        _gopValid = false;
    }

    private async Task RunAsync()
    {
        var ct = _stop.Token;
        // Core's one backoff policy: ReconnectMin doubling to ReconnectMax, +0–20 % jitter so that the streams of one
        // recorder do not reconnect in lockstep. The count starts again after every session that came up.
        var reconnect = new BackoffPolicy(_options.ReconnectMin, _options.ReconnectMax, jitterLow: 1.0, jitterHigh: 1.2);
        var attempt = 0;
        MediaDescription? first = null;
        while (!ct.IsCancellationRequested)
        {
            IMediaSource? client = null;
            try
            {
                client = await _connector.ConnectAsync(DeviceId, Channel, Kind, ct);
                var description = client.Media;
                if (first is null)
                {
                    first = description;
                    _keyframes = new KeyframeTracker(description.VideoCodec);
                    _videoTrack = description.VideoTrack;
                    _continuity = new RtpContinuity([.. description.Tracks.Select(t => t.ClockRate)], _time);
                    _ready.TrySetResult(description);
                }
                else if (!first.SameTracks(description))
                {
                    Invalidated?.Invoke("the device's stream changed its tracks");
                    LogTracksChanged(_logger, DeviceId, Channel, Kind);
                    _ready.TrySetException(new DeviceException(DeviceErrorKind.Failed, "stream changed"));
                    lock (_gate)
                    {
                        StopLocked();
                    }
                    return;
                }
                _continuity?.Reconnected();
                _metrics.UpstreamSessions.Add(1);
                attempt = 0;
                try
                {
                    await client.RunAsync(this, ct);
                }
                finally
                {
                    _metrics.UpstreamSessions.Add(-1);
                    IMediaSubscriber[] flush;
                    lock (_gate)
                    {
                        ClearGop();
                        _keyframes?.Reset();
                        // What the session brought last (an incomplete frame) goes out now, not after the reconnect.
                        _unflushed = 0;
                        flush = DeliverLocked();
                    }
                    FlushAll(flush);
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                break;
            }
            catch (MediaSourceEndedException e) when (first is not null)
            {
                // A source that cannot go on (a transcoder failing): its viewers leave now, with the reason; no retry.
                LogSourceEnded(_logger, DeviceId, Channel, Kind, e.Message);
                Invalidated?.Invoke(e.Message);
                lock (_gate)
                {
                    StopLocked();
                }
                break;
            }
            catch (Exception e)
            {
                var ex = e as DeviceException ?? new DeviceException(DeviceErrorKind.Failed, "upstream error: " + e.Message, e);
                if (first is null)
                {
                    LogStartFailed(_logger, DeviceId, Channel, Kind, ex.Message);
                    _ready.TrySetException(ex);
                    lock (_gate)
                    {
                        StopLocked();
                    }
                    break;
                }
                LogUpstreamLost(_logger, DeviceId, Channel, Kind, ex.Message, reconnect.Delay(attempt, 0).TotalSeconds);
            }
            finally
            {
                if (client is not null)
                {
                    await client.DisposeAsync();
                }
            }
            if (ct.IsCancellationRequested)
            {
                break;
            }
            _metrics.UpstreamReconnects.Add(1);
            try
            {
                await Task.Delay(reconnect.Delay(attempt++), _time, ct);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
        _ready.TrySetException(new DeviceException(DeviceErrorKind.Failed, "the stream was closed"));
        lock (_gate)
        {
            ClearGop();
            // Nothing delivers any more: the collected packets go back to their pool.
            _open.Clear();
        }
    }

    [LoggerMessage(EventId = 2200, Level = LogLevel.Warning, Message = "Upstream of {DeviceId}/{Channel}/{Kind} could not start: {Reason}")]
    private static partial void LogStartFailed(ILogger logger, string deviceId, int channel, StreamKind kind, string reason);

    [LoggerMessage(EventId = 2201, Level = LogLevel.Warning, Message = "Upstream of {DeviceId}/{Channel}/{Kind} lost: {Reason}; reconnecting in {Seconds} s, viewers stay connected")]
    private static partial void LogUpstreamLost(ILogger logger, string deviceId, int channel, StreamKind kind, string reason, double seconds);

    [LoggerMessage(EventId = 2202, Level = LogLevel.Information, Message = "Upstream of {DeviceId}/{Channel}/{Kind} closed: no viewer left")]
    private static partial void LogLingerClose(ILogger logger, string deviceId, int channel, StreamKind kind);

    [LoggerMessage(EventId = 2204, Level = LogLevel.Warning, Message = "Source of {DeviceId}/{Channel}/{Kind} ended: {Reason}; its viewers are disconnected")]
    private static partial void LogSourceEnded(ILogger logger, string deviceId, int channel, StreamKind kind, string reason);

    [LoggerMessage(EventId = 2203, Level = LogLevel.Warning, Message = "Upstream of {DeviceId}/{Channel}/{Kind} came back with other tracks; its viewers are disconnected")]
    private static partial void LogTracksChanged(ILogger logger, string deviceId, int channel, StreamKind kind);
}
