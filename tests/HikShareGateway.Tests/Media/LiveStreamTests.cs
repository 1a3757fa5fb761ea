using Microsoft.Extensions.Time.Testing;
using HikShareGateway.Core.Devices;
using HikShareGateway.Media;
using Microsoft.Extensions.Logging.Abstractions;
using static HikShareGateway.Tests.Media.MediaTestKit;

namespace HikShareGateway.Tests.Media;

/// <summary>
/// The media core on its own: a scripted source and a recording output, no socket and no RTSP. Proves that an output
/// is one small class implementing <see cref="IMediaSubscriber"/>, and what the stream hands it.
/// </summary>
[Trait("Category", "Unit")]
public sealed class LiveStreamTests
{
    /// <summary>A source whose packets the test pushes on the stream's read loop (the test's thread, one at a time).</summary>
    private sealed class ScriptedSource(MediaDescription media) : IMediaSource
    {
        private readonly TaskCompletionSource<IMediaSink> _running = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public MediaDescription Media => media;
        public Task<IMediaSink> Running => _running.Task;
        public bool Disposed { get; private set; }

        public async Task RunAsync(IMediaSink sink, CancellationToken ct)
        {
            _running.TrySetResult(sink);
            // Runs until the stream stops it: waits for cancellation, not for time.
            await Task.Delay(Timeout.Infinite, ct);
        }

        public ValueTask DisposeAsync()
        {
            Disposed = true;
            return ValueTask.CompletedTask;
        }
    }

    private sealed class ScriptedConnector(ScriptedSource source) : IMediaSourceConnector
    {
        public int Connects;

        public Task<IMediaSource> ConnectAsync(string deviceId, int channel, StreamKind kind, CancellationToken ct)
        {
            Interlocked.Increment(ref Connects);
            return Task.FromResult<IMediaSource>(source);
        }
    }

    /// <summary>An output that records what it was given (sequence number, keyframe flag) and keeps no buffer.</summary>
    private sealed class RecordingOutput : IMediaSubscriber
    {
        public List<(ushort Sequence, int Track, bool Keyframe)> Packets { get; } = [];
        public bool? WaitedForKeyframe { get; private set; }
        public int Flushes { get; private set; }

        public void WaitForKeyframe(bool hasVideo) => WaitedForKeyframe = hasVideo;

        public void Enqueue(RtpBuffer buffer, long now) => Packets.Add((SequenceOf(buffer), buffer.Track, buffer.IsKeyframeStart));

        public void Flush() => Flushes++;
    }

    private readonly RtpBufferPool _pool = new();

    [Fact]
    public async Task Subscribe_RunningStream_ReplaysTheCachedGopThenDeliversLivePacketsUntilUnsubscribed()
    {
        var source = new ScriptedSource(new MediaDescription([H264Track, PcmaTrack]));
        var connector = new ScriptedConnector(source);
        await using var relay = new LiveRelay(connector, new RelayOptions(), TimeProvider.System, NullLoggerFactory.Instance);
        using var lease = relay.Acquire("nvr-1", 1, StreamKind.Main);
        var description = await lease.Stream.WaitReadyAsync(TimeSpan.FromSeconds(10), CancellationToken.None);
        Assert.Equal(0, description.VideoTrack);
        var sink = await source.Running.WaitAsync(TimeSpan.FromSeconds(10));

        sink.OnPacket(Packet(_pool, 1, payload: [Slice, 0x00]));     // before any keyframe: not cached
        sink.OnPacket(Packet(_pool, 2, payload: [Sps, 0x42]));
        sink.OnPacket(Packet(_pool, 3, payload: [Pps, 0xCE]));
        sink.OnPacket(Packet(_pool, 4, payload: FuAStart(5)));
        sink.OnPacket(Packet(_pool, 5, track: 1, payload: [0xD5, 0xD5]));
        sink.OnPacket(Packet(_pool, 6, payload: [Slice, 0x01]));
        sink.OnBatchEnd();

        var output = new RecordingOutput();
        lease.Stream.Subscribe(output);
        Assert.True(output.WaitedForKeyframe);
        Assert.Equal([(2, 0, true), (3, 0, false), (4, 0, false), (5, 1, false), (6, 0, false)], output.Packets);
        Assert.Equal(1, lease.Stream.SubscriberCount);

        sink.OnPacket(Packet(_pool, 7, payload: [Slice, 0x02]));
        sink.OnBatchEnd();
        Assert.Equal((7, 0, false), output.Packets[^1]);
        Assert.Equal(2, output.Flushes);

        lease.Stream.Unsubscribe(output);
        sink.OnPacket(Packet(_pool, 8, payload: [Slice, 0x03]));
        Assert.Equal(6, output.Packets.Count);
        Assert.Equal(0, lease.Stream.SubscriberCount);
        Assert.Equal(1, connector.Connects);
    }

    [Fact]
    public async Task OnPacket_NewKeyframe_StartsANewGopForTheNextJoiner()
    {
        var source = new ScriptedSource(new MediaDescription([H264Track]));
        await using var relay = new LiveRelay(new ScriptedConnector(source), new RelayOptions(), TimeProvider.System, NullLoggerFactory.Instance);
        using var lease = relay.Acquire("nvr-1", 1, StreamKind.Sub);
        await lease.Stream.WaitReadyAsync(TimeSpan.FromSeconds(10), CancellationToken.None);
        var sink = await source.Running.WaitAsync(TimeSpan.FromSeconds(10));

        sink.OnPacket(Packet(_pool, 1, payload: [Sps, 0x42]));
        sink.OnPacket(Packet(_pool, 2, payload: [Slice, 0x00]));
        sink.OnPacket(Packet(_pool, 3, payload: [Idr, 0x88]));
        sink.OnPacket(Packet(_pool, 4, payload: [Slice, 0x01]));

        var output = new RecordingOutput();
        lease.Stream.Subscribe(output);
        Assert.Equal([(3, 0, true), (4, 0, false)], output.Packets);
    }

    [Fact]
    public async Task OnPacket_MarkerBit_FlushesEachCompleteFrameAtOnceAndHoldsAnIncompleteOneAtMost20ms()
    {
        var time = new FakeTimeProvider();
        var source = new ScriptedSource(new MediaDescription([H264Track, PcmaTrack]));
        await using var relay = new LiveRelay(new ScriptedConnector(source), new RelayOptions(), time, NullLoggerFactory.Instance);
        using var lease = relay.Acquire("nvr-1", 1, StreamKind.Main);
        await lease.Stream.WaitReadyAsync(TimeSpan.FromSeconds(10), CancellationToken.None);
        var sink = await source.Running.WaitAsync(TimeSpan.FromSeconds(10));
        var output = new RecordingOutput();
        lease.Stream.Subscribe(output);
        Assert.Equal(1, output.Flushes);
        var now = time.GetTimestamp();

        // A frame split over two upstream reads: the first read's fragments wait for the rest of the frame.
        sink.OnPacket(Packet(_pool, 1, receivedAt: now, payload: FuAStart(5)));
        sink.OnPacket(Packet(_pool, 2, receivedAt: now, payload: FuAMiddle(5)));
        sink.OnBatchEnd();
        Assert.Equal(1, output.Flushes);
        // Its marker packet completes it: flushed at once, the whole frame in one wake-up.
        sink.OnPacket(Packet(_pool, 3, receivedAt: now, marker: true, payload: FuAEnd(5)));
        Assert.Equal(2, output.Flushes);
        sink.OnBatchEnd();
        Assert.Equal(2, output.Flushes);

        // Audio has no frame to wait for: flushed at the end of its read.
        sink.OnPacket(Packet(_pool, 4, track: 1, receivedAt: now, payload: [0xD5, 0xD5]));
        Assert.Equal(2, output.Flushes);
        sink.OnBatchEnd();
        Assert.Equal(3, output.Flushes);

        // A frame whose marker never comes (lost, or a source without it) is flushed once it waited 20 ms.
        sink.OnPacket(Packet(_pool, 5, receivedAt: time.GetTimestamp(), payload: [Slice, 0x01]));
        sink.OnBatchEnd();
        Assert.Equal(3, output.Flushes);
        time.Advance(TimeSpan.FromMilliseconds(20));
        sink.OnBatchEnd();
        Assert.Equal(4, output.Flushes);
        Assert.Equal([1, 2, 3, 4, 5], output.Packets.Select(p => (int)p.Sequence));
    }

    [Fact]
    public async Task Dispose_LastLeaseAndRelay_StopsAndDisposesTheSource()
    {
        var source = new ScriptedSource(new MediaDescription([H264Track]));
        var relay = new LiveRelay(new ScriptedConnector(source), new RelayOptions(), TimeProvider.System, NullLoggerFactory.Instance);
        var lease = relay.Acquire("nvr-1", 1, StreamKind.Main);
        await lease.Stream.WaitReadyAsync(TimeSpan.FromSeconds(10), CancellationToken.None);
        await source.Running.WaitAsync(TimeSpan.FromSeconds(10));
        lease.Dispose();
        await relay.DisposeAsync();
        Assert.True(source.Disposed);
        Assert.Empty(relay.Streams);
    }

    /// <summary>An output whose deliveries can be held (to catch the stream in the middle of one) and that counts them.</summary>
    private sealed class GatedOutput : IMediaSubscriber
    {
        private readonly ManualResetEventSlim _release = new(initialState: true);
        private readonly SemaphoreSlim _entered = new(0);
        private readonly List<ushort> _sequences = [];
        private int _received;

        public int Received => Volatile.Read(ref _received);
        public int Overlaps;
        private int _inside;

        public ushort[] Sequences
        {
            get
            {
                lock (_sequences)
                {
                    return [.. _sequences];
                }
            }
        }

        /// <summary>The next delivery waits inside <see cref="Enqueue(RtpBuffer, long)"/> until <see cref="Open"/>.</summary>
        public void HoldNext() => _release.Reset();

        public void Open() => _release.Set();

        public Task EnteredAsync() => _entered.WaitAsync(TimeSpan.FromSeconds(10));

        public void WaitForKeyframe(bool hasVideo)
        {
        }

        public void Enqueue(RtpBuffer buffer, long now)
        {
            if (Interlocked.Increment(ref _inside) != 1)
            {
                Interlocked.Increment(ref Overlaps);
            }
            if (!_release.IsSet)
            {
                _entered.Release();
                _release.Wait(TimeSpan.FromSeconds(10));
            }
            lock (_sequences)
            {
                _sequences.Add(SequenceOf(buffer));
            }
            Interlocked.Increment(ref _received);
            Interlocked.Decrement(ref _inside);
        }

        public void Flush()
        {
        }
    }

    [Fact]
    public async Task Subscribe_InTheMiddleOfAFrame_GetsTheGopThenTheRestOfTheFrameOnceEach()
    {
        var time = new FakeTimeProvider();
        var source = new ScriptedSource(new MediaDescription([H264Track]));
        await using var relay = new LiveRelay(new ScriptedConnector(source), new RelayOptions(), time, NullLoggerFactory.Instance);
        using var lease = relay.Acquire("nvr-1", 1, StreamKind.Main);
        await lease.Stream.WaitReadyAsync(TimeSpan.FromSeconds(10), CancellationToken.None);
        var sink = await source.Running.WaitAsync(TimeSpan.FromSeconds(10));
        var first = new RecordingOutput();
        lease.Stream.Subscribe(first);
        var now = time.GetTimestamp();

        // A keyframe whose marker packet has not come yet: collected, not yet delivered.
        sink.OnPacket(Packet(_pool, 1, receivedAt: now, payload: [Sps, 0x42]));
        sink.OnPacket(Packet(_pool, 2, receivedAt: now, payload: FuAStart(5)));
        sink.OnBatchEnd();
        Assert.Empty(first.Packets);

        // A viewer joining now gets those two from the GOP, and only what follows from the frame.
        var joiner = new RecordingOutput();
        lease.Stream.Subscribe(joiner);
        Assert.Equal([1, 2], joiner.Packets.Select(p => (int)p.Sequence));
        sink.OnPacket(Packet(_pool, 3, receivedAt: now, payload: FuAMiddle(5)));
        sink.OnPacket(Packet(_pool, 4, receivedAt: now, marker: true, payload: FuAEnd(5)));

        Assert.Equal([1, 2, 3, 4], first.Packets.Select(p => (int)p.Sequence));
        Assert.Equal([1, 2, 3, 4], joiner.Packets.Select(p => (int)p.Sequence));
    }

    [Fact]
    public async Task Unsubscribe_DuringADelivery_WaitsForItToFinishAndNothingArrivesAfter()
    {
        var source = new ScriptedSource(new MediaDescription([H264Track]));
        await using var relay = new LiveRelay(new ScriptedConnector(source), new RelayOptions(), TimeProvider.System, NullLoggerFactory.Instance);
        using var lease = relay.Acquire("nvr-1", 1, StreamKind.Main);
        await lease.Stream.WaitReadyAsync(TimeSpan.FromSeconds(10), CancellationToken.None);
        var sink = await source.Running.WaitAsync(TimeSpan.FromSeconds(10));
        var held = new GatedOutput();
        var later = new GatedOutput();
        lease.Stream.Subscribe(held);
        lease.Stream.Subscribe(later);

        // The read loop (another thread here) delivers a frame and is caught inside the first output.
        held.HoldNext();
        var reading = Task.Run(() => sink.OnPacket(Packet(_pool, 1, marker: true, payload: [Idr, 0x88])));
        await held.EnteredAsync();

        // Leaving while the frame is being delivered waits for the delivery to end, for either viewer.
        var leavingHeld = Task.Run(() => lease.Stream.Unsubscribe(held));
        var leavingLater = Task.Run(() => lease.Stream.Unsubscribe(later));
        Assert.False(leavingHeld.IsCompleted);
        Assert.False(leavingLater.IsCompleted);
        held.Open();
        await Task.WhenAll(leavingHeld, leavingLater, reading).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(1, held.Received);
        Assert.Equal(1, later.Received);

        // After that, nothing more reaches them.
        sink.OnPacket(Packet(_pool, 2, marker: true, payload: [Slice, 0x01]));
        Assert.Equal(1, held.Received);
        Assert.Equal(1, later.Received);
        Assert.Equal(0, lease.Stream.SubscriberCount);
    }

    [Fact]
    public async Task OnPacket_ManyViewersFlushedOnSeveralThreads_EachGetsEveryFrameInOrderAndThePacketsGoBackToThePool()
    {
        var source = new ScriptedSource(new MediaDescription([H264Track]));
        await using var relay = new LiveRelay(new ScriptedConnector(source), new RelayOptions(), TimeProvider.System, NullLoggerFactory.Instance);
        using var lease = relay.Acquire("nvr-1", 1, StreamKind.Main);
        await lease.Stream.WaitReadyAsync(TimeSpan.FromSeconds(10), CancellationToken.None);
        var sink = await source.Running.WaitAsync(TimeSpan.FromSeconds(10));
        // Enough viewers for thread-pool flush slices (two or more slices of 128 on a machine with two cores or more).
        var outputs = Enumerable.Range(0, 300).Select(_ => new GatedOutput()).ToArray();
        foreach (var o in outputs)
        {
            lease.Stream.Subscribe(o);
        }

        // The last viewer is held in its first frame, so the read loop waits in the middle of a delivery.
        outputs[^1].HoldNext();
        var sent = new List<RtpBuffer>();
        var reading = Task.Run(() =>
        {
            for (ushort seq = 1; seq <= 40; seq++)
            {
                var p = Packet(_pool, seq, marker: seq % 4 == 0, payload: seq % 20 == 1 ? [Idr, 0x88] : [Slice, 0x01]);
                lock (sent)
                {
                    sent.Add(p);
                }
                sink.OnPacket(p);
                sink.OnBatchEnd();
            }
        });
        await outputs[^1].EnteredAsync();
        outputs[^1].Open();
        await reading.WaitAsync(TimeSpan.FromSeconds(10));
        await Wait.UntilAsync(() => outputs.All(o => o.Received == 40), "every viewer got all 40 packets");

        var expected = Enumerable.Range(1, 40).Select(i => (ushort)i).ToArray();
        Assert.All(outputs, o => Assert.Equal(expected, o.Sequences));
        Assert.All(outputs, o => Assert.Equal(0, o.Overlaps));
        // The GOP cache keeps the packets from the last keyframe (21–40) and nothing else does.
        // (A released packet may have been rented again for a later one: count each object once.)
        lock (sent)
        {
            var inGop = sent.Skip(20).ToHashSet(ReferenceEqualityComparer.Instance);
            Assert.Equal(20, inGop.Count);
            Assert.All(sent.Skip(20), p => Assert.Equal(1, p.References));
            Assert.All(sent.Take(20).Where(p => !inGop.Contains(p)), p => Assert.Equal(0, p.References));
        }
    }
}
