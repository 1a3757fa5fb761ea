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
}
