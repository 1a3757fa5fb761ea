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
    // The batch being collected (the packets since the last flush, each holding the stream's reference), the one
    // being delivered (at most one at a time, so every subscriber gets the batches in order) and a spare.
    private FanoutBatch _open = new();
    private FanoutBatch? _spare;
    private long _generation;
    private bool _delivering;
    private bool _flushDue;
    private bool _ended;
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
        }
        // Outside the lock: the flush may run the viewer's writer on this thread.
        output.Flush();
    }

    /// <summary>Removes a viewer. When this returns, no packet reaches it any more (a batch being delivered skips it).</summary>
    public void Unsubscribe(IMediaSubscriber output)
    {
        Subscription? removed = null;
        lock (_gate)
        {
            var list = _subscribers;
            for (var i = 0; i < list.Length; i++)
            {
                if (list[i].Output == output)
                {
                    removed = list[i];
                    _subscribers = [.. list[..i], .. list[(i + 1)..]];
                    break;
                }
            }
        }
        removed?.Deactivate();
    }

    void IMediaSink.OnPacket(RtpBuffer buffer)
    {
        // Still ours alone: renumber in place before anyone else holds it.
        _continuity?.Rewrite(buffer);
        FanoutBatch? deliver = null;
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
            if (NoteUnflushedLocked(buffer, video, buffer.ReceivedAt))
            {
                _flushDue = true;
            }
            if (_subscribers.Length > 0)
            {
                // The caller's reference moves into the batch.
                _open.Add(buffer);
                buffer = null!;
            }
            if (_flushDue && !_delivering)
            {
                deliver = TakeBatchLocked();
            }
        }
        buffer?.Release();
        if (deliver is not null)
        {
            Deliver(deliver);
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
        FanoutBatch? deliver = null;
        lock (_gate)
        {
            if (_unflushed == 0 || (_unflushedFrameOnly && _time.GetElapsedTime(_unflushedSince) < MaxFrameHold))
            {
                return;
            }
            _unflushed = 0;
            _flushDue = true;
            if (!_delivering)
            {
                deliver = TakeBatchLocked();
            }
        }
        if (deliver is not null)
        {
            Deliver(deliver);
        }
    }

    /// <summary>
    /// Closes the batch being collected and makes it the one being delivered (when a flush is due and none is being
    /// delivered); a new (or the spare) batch collects from here on.
    /// </summary>
    private FanoutBatch? TakeBatchLocked()
    {
        _flushDue = false;
        if (_open.Count == 0)
        {
            return null;
        }
        var batch = _open;
        _open = _spare ?? new FanoutBatch();
        _spare = null;
        _open.Generation = ++_generation;
        batch.Outputs = _subscribers;
        _delivering = true;
        return batch;
    }

    /// <summary>
    /// Hands a batch to every subscriber and wakes its writer: each one's <see cref="IMediaSubscriber.Enqueue(ReadOnlySpan{RtpBuffer})"/>
    /// and <see cref="IMediaSubscriber.Flush"/>, which runs the writer's non-blocking send on the calling thread. Many
    /// viewers are split into slices of at least <see cref="FlushSliceMinimum"/>, at most one per core: the calling
    /// thread (the read loop) takes the first, thread-pool work items the others, so the queueing and the sends of a
    /// frame to hundreds of viewers spread over the cores and the read loop does nothing per viewer per packet. The
    /// thread that finishes a batch's last slice releases its packets and delivers the next batch if one is due by
    /// then (a flush that came during the delivery waits for it: one batch at a time keeps every viewer's order).
    /// </summary>
    private void Deliver(FanoutBatch? batch)
    {
        while (batch is not null)
        {
            var outputs = batch.Outputs;
            var slices = Math.Clamp(outputs.Length / FlushSliceMinimum, 1, Math.Min(Environment.ProcessorCount, FanoutBatch.MaxSlices));
            var size = (outputs.Length + slices - 1) / slices;
            batch.Remaining = slices;
            for (var i = 1; i < slices; i++)
            {
                ThreadPool.UnsafeQueueUserWorkItem(batch.Slice(i, this, i * size, Math.Min(outputs.Length, (i + 1) * size)), preferLocal: false);
            }
            batch.Run(0, Math.Min(outputs.Length, size));
            batch = SliceDone(batch);
        }
    }

    /// <summary>One slice of <paramref name="batch"/> is done; the last releases it and returns the next batch due, if any.</summary>
    private FanoutBatch? SliceDone(FanoutBatch batch)
    {
        if (Interlocked.Decrement(ref batch.Remaining) != 0)
        {
            return null;
        }
        batch.Clear();
        lock (_gate)
        {
            _spare = batch;
            _delivering = false;
            if (_ended)
            {
                _open.Clear();
                return null;
            }
            return _flushDue ? TakeBatchLocked() : null;
        }
    }

    /// <summary>
    /// Viewers per flush slice: below twice this one thread delivers to them all. A viewer's flush is one non-blocking
    /// sendmsg (~10 µs), so 128 of them take a few ms; a work item per frame for fewer would wake a pool thread
    /// 25 times a second for little, and every wake-up of an idle pool thread ends in its spin-wait (sched_yield,
    /// counted as non-voluntary context switches) when it goes idle again.
    /// </summary>
    private const int FlushSliceMinimum = 128;

    /// <summary>A subscriber in the list: its output, where it joined, and the lock that orders its deliveries with <see cref="Unsubscribe"/>.</summary>
    private sealed class Subscription(IMediaSubscriber output, long joinedGeneration, int joinedAt)
    {
        private readonly Lock _gate = new();
        private bool _active = true;

        public IMediaSubscriber Output { get; } = output;

        /// <summary>Gives it the batch's packets from the first one after it joined, unless it left; then wakes its writer.</summary>
        public void Deliver(FanoutBatch batch)
        {
            var from = joinedGeneration == batch.Generation ? joinedAt : 0;
            if (from < batch.Count)
            {
                lock (_gate)
                {
                    if (_active)
                    {
                        Output.Enqueue(batch.Packets.AsSpan(from, batch.Count - from));
                    }
                }
            }
            Output.Flush();
        }

        /// <summary>After this returns no delivery reaches the output (one in progress finished first).</summary>
        public void Deactivate()
        {
            lock (_gate)
            {
                _active = false;
            }
        }
    }

    /// <summary>
    /// The packets between two flushes, in arrival order, each holding one reference of the stream's, and the
    /// subscribers it goes to. Two exist per stream in steady state (one collecting, one delivered), reused.
    /// </summary>
    private sealed class FanoutBatch
    {
        public const int MaxSlices = 16;
        private readonly SliceWork?[] _slices = new SliceWork?[MaxSlices];
        public RtpBuffer[] Packets = new RtpBuffer[64];
        public int Count;
        public long Generation;
        public Subscription[] Outputs = [];
        public int Remaining;

        public void Add(RtpBuffer buffer)
        {
            if (Count == Packets.Length)
            {
                Array.Resize(ref Packets, Packets.Length * 2);
            }
            Packets[Count++] = buffer;
        }

        public void Run(int from, int to)
        {
            var outputs = Outputs;
            for (var i = from; i < to; i++)
            {
                outputs[i].Deliver(this);
            }
        }

        /// <summary>Releases the packets and forgets the subscribers.</summary>
        public void Clear()
        {
            for (var i = 0; i < Count; i++)
            {
                Packets[i].Release();
                Packets[i] = null!;
            }
            Count = 0;
            Outputs = [];
        }

        public SliceWork Slice(int index, LiveStream stream, int from, int to)
        {
            var work = _slices[index] ??= new SliceWork(this, stream);
            work.From = from;
            work.To = to;
            return work;
        }
    }

    /// <summary>A slice of a batch's delivery on the thread pool (one object per slice index, reused).</summary>
    private sealed class SliceWork(FanoutBatch batch, LiveStream stream) : IThreadPoolWorkItem
    {
        public int From;
        public int To;

        public void Execute()
        {
            batch.Run(From, To);
            stream.Deliver(stream.SliceDone(batch));
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
                    FanoutBatch? deliver = null;
                    lock (_gate)
                    {
                        ClearGop();
                        _keyframes?.Reset();
                        // What the session brought last (an incomplete frame) goes out now, not after the reconnect.
                        _unflushed = 0;
                        _flushDue = true;
                        if (!_delivering)
                        {
                            deliver = TakeBatchLocked();
                        }
                    }
                    Deliver(deliver);
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
            // Nothing delivers any more: the collected packets go back to their pool (now, or when the delivery in
            // progress ends).
            _ended = true;
            if (!_delivering)
            {
                _open.Clear();
            }
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
