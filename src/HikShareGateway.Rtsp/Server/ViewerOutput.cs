using System.Buffers;
using System.Net.Sockets;
using HikShareGateway.Core.Diagnostics;
using HikShareGateway.Media;
using HikShareGateway.Rtsp.Transport;

namespace HikShareGateway.Rtsp.Server;

/// <summary>Per-viewer queue bounds (section <c>Rtsp</c>, see <see cref="RtspOptions"/>).</summary>
/// <param name="SendBufferBytes">
/// The socket's kernel send buffer. Kept modest (instead of Linux autotuning up to 4 MiB) so that a slow
/// viewer shows up in our queue, where the keyframe-skip policy applies, within a second or two.
/// </param>
public sealed record ViewerQueueLimits(int MaxBytes, TimeSpan MaxDelay, int MaxOverflows, TimeSpan OverflowWindow, TimeSpan StalledSend, int SendBufferBytes = 256 * 1024)
{
    public static ViewerQueueLimits Default { get; } = new(4 * 1024 * 1024, TimeSpan.FromSeconds(2), 3, TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(10));

    /// <summary>The bounds the media core's <see cref="SubscriberQueuePolicy"/> applies.</summary>
    public SubscriberQueueLimits Queue => new(MaxBytes, MaxDelay, MaxOverflows, OverflowWindow, StalledSend);
}

/// <summary>
/// The send side of one viewer connection, and its only writer: RTSP responses and relayed packets
/// go through one bounded queue, in order, and one writer loop sends them in batches with gather I/O.
/// The RTSP output of the media core: an <see cref="IMediaSubscriber"/> of a <see cref="LiveStream"/>.
/// <para>
/// Backpressure is a decision, the media core's <see cref="SubscriberQueuePolicy"/>: when the queue holds more than
/// <see cref="ViewerQueueLimits.MaxBytes"/> or its oldest packet waited longer than <see cref="ViewerQueueLimits.MaxDelay"/>,
/// the queued packets are dropped and the viewer resumes at the next keyframe (it sees a jump, not a smear). A viewer
/// that overflows <see cref="ViewerQueueLimits.MaxOverflows"/> times within the window, or whose send makes
/// no progress for <see cref="ViewerQueueLimits.StalledSend"/>, is disconnected. The producer never waits.
/// </para>
/// </summary>
public sealed class ViewerOutput : IMediaSubscriber
{
    /// <summary>
    /// Segments per send: up to 64 in one non-blocking sendmsg of our own (<see cref="GatherSend"/>) where supported;
    /// otherwise 8, the most the runtime's gather send takes without allocating.
    /// </summary>
    private static readonly int MaxSegmentsPerSend = GatherSend.IsSupported ? GatherSend.MaxSegments : 8;
    // The media core's ring starts small and doubles up to the maximum.
    private const int InitialRingCapacity = 64;
    private const int MaxRingCapacity = 16384;

    private readonly Socket _socket;
    // RTSPS: every batch is sealed into TLS records (encrypted per viewer, so copied once) and sent by the transport.
    private readonly TlsRecordSender? _tls;
    private readonly SubscriberQueuePolicy _policy;
    private readonly TimeProvider _time;
    private readonly Action<string> _abort;
    private readonly GatewayMetrics _metrics;
    private readonly Lock _gate = new();
    // Packets count with their 4-byte interleaved header.
    private readonly SubscriberRing<Tag> _ring = new(InitialRingCapacity, MaxRingCapacity, overheadPerPacket: 4);
    private readonly AsyncSignal _signal = new();
    private readonly SocketSender _sender = new();
    private readonly List<ArraySegment<byte>> _segments = new(MaxSegmentsPerSend);
    private readonly SubscriberRing<Tag>.Slot[] _inflight = new SubscriberRing<Tag>.Slot[MaxSegmentsPerSend];
    private readonly byte[] _headers = GC.AllocateArray<byte>(MaxSegmentsPerSend * 4, pinned: true);
    // Interleaved RTP channel per track as the viewer chose it in SETUP; -1 = track not set up.
    private int[] _channelOfTrack = [];
    private bool _completed;
    private int _pendingSignal;
    private long _sendStartedAt;
    private string? _failure;

    /// <param name="metrics">Where relayed/dropped counts go; null: <see cref="GatewayMetrics.Unexported"/>.</param>
    public ViewerOutput(Socket socket, ViewerQueueLimits limits, TimeProvider time, Action<string> abort, GatewayMetrics? metrics = null)
        : this(socket, limits, time, abort, null, metrics)
    {
    }

    /// <param name="tls">RTSPS: the connection's record sender, which then carries every byte; null for plain RTSP.</param>
    internal ViewerOutput(Socket socket, ViewerQueueLimits limits, TimeProvider time, Action<string> abort, TlsRecordSender? tls, GatewayMetrics? metrics)
    {
        _metrics = metrics ?? GatewayMetrics.Unexported;
        _socket = socket;
        _tls = tls;
        _policy = new SubscriberQueuePolicy(limits.Queue, time);
        _time = time;
        _abort = abort;
    }

    public long PacketsDropped { get; private set; }

    /// <summary>
    /// Beside each queued packet: its interleaved channel for this viewer; an RTSP message is queued without a packet,
    /// as a whole array or (<paramref name="PooledLength"/> &gt; 0) the start of one rented from <see cref="ArrayPool{T}.Shared"/>.
    /// </summary>
    private readonly record struct Tag(byte[]? Control, byte Channel, int PooledLength = 0);

    /// <summary>Which interleaved channel carries each track for this viewer (from its SETUPs).</summary>
    public void SetTrackChannels(int[] channelOfTrack)
    {
        lock (_gate)
        {
            _channelOfTrack = channelOfTrack;
        }
    }

    /// <summary>
    /// Starting or resuming delivery: with video, nothing is sent before a keyframe start
    /// (the relay replays its cached GOP, which begins with one).
    /// </summary>
    public void WaitForKeyframe(bool hasVideo)
    {
        lock (_gate)
        {
            _policy.WaitForKeyframe(hasVideo);
        }
    }

    /// <summary>Queues an RTSP message (response or request); never dropped.</summary>
    public void EnqueueControl(byte[] message) => TryEnqueueControl(new Tag(message, 0));

    /// <summary>
    /// Queues an RTSP message: the first <paramref name="length"/> bytes of <paramref name="rented"/>, an array from
    /// <see cref="ArrayPool{T}.Shared"/> that the output then owns and returns once it is sent (a keep-alive's answer
    /// allocates nothing). Never dropped.
    /// </summary>
    public void EnqueuePooledControl(byte[] rented, int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(length);
        if (!TryEnqueueControl(new Tag(rented, 0, length)))
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>Queues a message's tag and wakes the writer; false when the output is completed (or the ring full).</summary>
    private bool TryEnqueueControl(Tag tag)
    {
        lock (_gate)
        {
            if (_completed || !_ring.TryAppendTag(tag))
            {
                return false;
            }
        }
        _signal.Set();
        return true;
    }

    /// <summary>
    /// Queues a packet (taking a reference) unless this viewer does not receive its track or is skipping
    /// to a keyframe. Does not wake the writer: the producer calls <see cref="Flush"/> after a batch.
    /// </summary>
    public void Enqueue(RtpBuffer buffer, long now)
    {
        string? disconnect;
        lock (_gate)
        {
            disconnect = EnqueueLocked(buffer, now);
        }
        if (disconnect is not null)
        {
            Fail(disconnect);
        }
    }

    /// <summary>A frame's packets (or a read's audio) under one lock; each as <see cref="Enqueue(RtpBuffer, long)"/>.</summary>
    public void Enqueue(ReadOnlySpan<RtpBuffer> packets)
    {
        string? disconnect = null;
        lock (_gate)
        {
            foreach (var buffer in packets)
            {
                if ((disconnect = EnqueueLocked(buffer, buffer.ReceivedAt)) is not null)
                {
                    break;
                }
            }
        }
        if (disconnect is not null)
        {
            Fail(disconnect);
        }
    }

    /// <returns>Why the viewer must be disconnected, or null.</returns>
    private string? EnqueueLocked(RtpBuffer buffer, long now)
    {
        var track = buffer.Track;
        if (_completed || track >= _channelOfTrack.Length || _channelOfTrack[track] < 0)
        {
            return null;
        }
        var room = _ring.EnsureRoom();
        switch (_policy.Offer(buffer, now, _ring.QueuedBytes, _ring.OldestPacketAge(_time, now), room, _sendStartedAt, out var disconnect))
        {
            case SubscriberQueuePolicy.Decision.Accept:
                Append(buffer, now);
                break;
            case SubscriberQueuePolicy.Decision.SkipToKeyframe:
                PacketsDropped++;
                break;
            case SubscriberQueuePolicy.Decision.Overflow:
                DropQueuedPackets();
                if (disconnect is null && buffer.IsKeyframeStart)
                {
                    Append(buffer, now);
                }
                break;
        }
        return disconnect;
    }

    /// <summary>Wakes the writer if packets were queued since the last flush.</summary>
    public void Flush()
    {
        // Flushes may run on another thread than the enqueues (the relay spreads them): take the flag atomically.
        if (Interlocked.Exchange(ref _pendingSignal, 0) != 0)
        {
            _signal.Set();
        }
    }

    private void Append(RtpBuffer buffer, long now)
    {
        _ring.TryAppend(buffer, now, new Tag(null, (byte)(_channelOfTrack[buffer.Track] + (buffer.IsRtcp ? 1 : 0))));
        Volatile.Write(ref _pendingSignal, 1);
    }

    /// <summary>An overflow: drops every queued packet (keeps RTSP messages); the policy skips to the next keyframe.</summary>
    private void DropQueuedPackets()
    {
        var dropped = _ring.DropPackets();
        if (dropped > 0)
        {
            PacketsDropped += dropped;
            _metrics.DroppedPackets.Add(dropped);
        }
    }

    private void Fail(string reason)
    {
        lock (_gate)
        {
            if (_failure is not null)
            {
                return;
            }
            _failure = reason;
        }
        _metrics.SlowViewerDisconnects.Add(1);
        // Never close a socket on the producer's thread.
        ThreadPool.UnsafeQueueUserWorkItem(static s => s.Item1(s.Item2), (_abort, "too slow: " + reason), preferLocal: false);
    }

    /// <summary>The writer loop: runs until the socket fails or <see cref="Complete"/> was called and the queue is empty.</summary>
    public async Task RunAsync()
    {
        try
        {
            while (true)
            {
                await _signal.WaitAsync();
                while (true)
                {
                    var n = TakeBatch(out var done, out var bytes, out var hasControl);
                    if (n == 0)
                    {
                        if (done)
                        {
                            return;
                        }
                        break;
                    }
                    _sendStartedAt = _time.GetTimestamp();
                    try
                    {
                        if (_tls is not null)
                        {
                            // The plaintext only: the transport seals it into records and sends them.
                            await _tls.SendAsync(_segments, bytes);
                        }
                        else
                        {
                            // RTSP messages live in ordinary (movable) arrays: those batches take the runtime's path.
                            var sent = GatherSend.IsSupported && !hasControl ? GatherSend.TrySend(_socket, _segments) : 0;
                            if (sent < bytes)
                            {
                                GatherSend.Advance(_segments, sent);
                                await _sender.SendAsync(_socket, _segments);
                            }
                        }
                    }
                    finally
                    {
                        _sendStartedAt = 0;
                        ReleaseInflight(n);
                    }
                }
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or IOException)
        {
            // The connection's read side sees the same failure and ends the session.
        }
        finally
        {
            Drain();
        }
    }

    private int TakeBatch(out bool done, out long total, out bool hasControl)
    {
        _segments.Clear();
        long packets = 0, bytes = 0;
        total = 0;
        hasControl = false;
        lock (_gate)
        {
            var n = 0;
            // Each entry adds one or two segments; stop with room for a two-segment one.
            while (_segments.Count < MaxSegmentsPerSend - 1 && _ring.TryTake(out _inflight[n]))
            {
                if (_inflight[n].Buffer is { } b)
                {
                    packets++;
                    bytes += b.Length + 4;
                    var channel = _inflight[n].Tag.Channel;
                    if (channel == b.CanonicalChannel)
                    {
                        _segments.Add(b.WithHeader);
                    }
                    else
                    {
                        // Rewrite only the 4-byte interleaved header, in this viewer's own scratch space.
                        var h = new ArraySegment<byte>(_headers, n * 4, 4);
                        h[0] = (byte)'$';
                        h[1] = channel;
                        h[2] = (byte)(b.Length >> 8);
                        h[3] = (byte)b.Length;
                        _segments.Add(h);
                        _segments.Add(b.Packet);
                    }
                }
                else
                {
                    var tag = _inflight[n].Tag;
                    var control = tag.PooledLength > 0 ? new ArraySegment<byte>(tag.Control!, 0, tag.PooledLength) : tag.Control!;
                    _segments.Add(control);
                    total += control.Count;
                    hasControl = true;
                }
                n++;
            }
            done = n == 0 && _completed;
            total += bytes;
            if (packets > 0)
            {
                _metrics.RelayedPackets.Add(packets);
                _metrics.RelayedBytes.Add(bytes);
            }
            return n;
        }
    }

    private void ReleaseInflight(int n)
    {
        for (var i = 0; i < n; i++)
        {
            ref var slot = ref _inflight[i];
            slot.Buffer?.Release();
            if (slot.Tag.PooledLength > 0)
            {
                ArrayPool<byte>.Shared.Return(slot.Tag.Control!);
            }
            slot = default;
        }
    }

    /// <summary>No more input; the writer sends what is queued (e.g. a final response) and ends.</summary>
    public void Complete()
    {
        lock (_gate)
        {
            _completed = true;
        }
        _signal.Set();
    }

    /// <summary>Drops everything queued (releasing buffers); used when the connection is gone.</summary>
    public void Drain()
    {
        lock (_gate)
        {
            _completed = true;
            _ring.Clear();
        }
    }

    /// <summary>Packets queued now (for tests and status).</summary>
    public int QueuedEntries { get { lock (_gate) { return _ring.Count; } } }
}
