using System.Buffers.Binary;
using HikShareGateway.Core.Devices;
using HikShareGateway.Media;
using HikShareGateway.WebRtc.Rtp;
using HikShareGateway.WebRtc.Viewing;
using Microsoft.Extensions.Logging.Abstractions;

namespace HikShareGateway.WebRtc.Tests.Session;

/// <summary>
/// The WebRTC viewers of one stream share one packetization: the camera's 1,400-byte FU-A fragments are cut to the
/// 1,188-byte payload once, and every viewer's output is handed the very same pooled packets (same memory), starting at
/// the keyframe, a late viewer from the packetized GOP cache.
/// </summary>
[Trait("Category", "Unit")]
public sealed class PacketizedStreamsTests : IAsyncLifetime
{
    private const int Max = 1188;
    private static readonly SubscriberQueueLimits Limits = new(8 << 20, TimeSpan.FromSeconds(2), 2, TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(10));

    private readonly ScriptedCamera _camera = new();
    private LiveRelay _relay = null!;
    private PacketizedStreams _streams = null!;

    public Task InitializeAsync()
    {
        _relay = new LiveRelay(_camera, new RelayOptions { UpstreamLinger = TimeSpan.Zero }, TimeProvider.System, NullLoggerFactory.Instance);
        _streams = new PacketizedStreams(_relay, derived: null, Max, TimeProvider.System);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _streams.DisposeAsync();
        await _relay.DisposeAsync();
    }

    private sealed unsafe class Recording : IWebRtcMediaSender
    {
        public List<(nint Address, int Length, bool Marker, uint Timestamp)> Video { get; } = [];

        public void SendVideoRtpPayload(ReadOnlySpan<byte> payload, uint timestamp, bool marker)
        {
            fixed (byte* p = payload) Video.Add(((nint)p, payload.Length, marker, timestamp));
        }

        public void SendAudio(ReadOnlySpan<byte> payload, uint timestamp, bool marker) { }
    }

    private static byte[] Nal(int length, byte header)
    {
        var nal = new byte[length];
        nal[0] = header;
        for (var i = 1; i < length; i++) nal[i] = (byte)(i * 13 + 1);
        return nal;
    }

    /// <summary>An IDR of 30,000 bytes (22 camera fragments) and a P slice of 5,000 (4): 31 payloads of at most 1,188 bytes.</summary>
    private async Task SendGopAsync()
    {
        await _camera.SendFrameAsync(Nal(30_000, 0x65), 90_000);
        await _camera.SendFrameAsync(Nal(5_000, 0x41), 93_600);
    }

    private async Task<(LiveStreamLease Lease, Recording Viewer, WebRtcOutput Output)> ViewerAsync()
    {
        var lease = _streams.AcquireLive("cam", 1, StreamKind.Main);
        await lease.Stream.WaitReadyAsync(TimeSpan.FromSeconds(10), CancellationToken.None);
        var viewer = new Recording();
        var output = new WebRtcOutput(viewer, 0, -1, 8000, Limits, TimeProvider.System, _ => { });
        lease.Stream.Subscribe(output);
        return (lease, viewer, output);
    }

    [Fact]
    public async Task TwoViewers_AreHandedTheSamePackets_CutOncePerNalUnitToThePayloadLimit()
    {
        var (a, viewerA, _) = await ViewerAsync();
        var (b, viewerB, _) = await ViewerAsync();
        Assert.Same(a.Stream, b.Stream);
        await Wait.UntilAsync(() => _relay.Streams.Count == 1 && _relay.Streams[0].SubscriberCount == 1, "one packetizer on the camera's stream");

        await SendGopAsync();

        Assert.Equal(26 + 5, viewerA.Video.Count); // ⌈29,999 / 1,186⌉ + ⌈4,999 / 1,186⌉, where re-cutting each fragment gave 44 + 8
        Assert.All(viewerA.Video, v => Assert.InRange(v.Length, 1, Max));
        Assert.Equal(viewerA.Video, viewerB.Video); // the same memory: one packet shared, not a copy per viewer
        Assert.Equal([25, 30], viewerA.Video.Select((v, i) => (v, i)).Where(x => x.v.Marker).Select(x => x.i));
        a.Dispose();
        b.Dispose();
    }

    [Fact]
    public async Task AViewerJoiningLater_StartsAtTheKeyframe_FromThePacketizedGop()
    {
        var (a, viewerA, _) = await ViewerAsync();
        await Wait.UntilAsync(() => _relay.Streams.Count == 1 && _relay.Streams[0].SubscriberCount == 1, "one packetizer on the camera's stream");
        await SendGopAsync();

        var (late, viewerLate, _) = await ViewerAsync();

        Assert.Equal(31, viewerLate.Video.Count);
        Assert.Equal(viewerA.Video, viewerLate.Video); // the GOP cache holds the packets the first viewer was sent
        a.Dispose();
        late.Dispose();
    }

    [Fact]
    public async Task TheSourceEndingForGood_EndsThePacketizedStream_WithItsReason()
    {
        var (a, _, _) = await ViewerAsync();
        var invalidated = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        a.Stream.Invalidated += r => invalidated.TrySetResult(r);
        await Wait.UntilAsync(() => _relay.Streams.Count == 1 && _relay.Streams[0].SubscriberCount == 1, "one packetizer on the camera's stream");

        _camera.End("the transcoder failed");

        Assert.Equal("the transcoder failed", await invalidated.Task.WaitAsync(TimeSpan.FromSeconds(10)));
        a.Dispose();
    }

    [Fact]
    public async Task TheLastViewerLeaving_ReleasesTheCameraStream()
    {
        var (a, _, _) = await ViewerAsync();
        var (b, _, _) = await ViewerAsync();
        await Wait.UntilAsync(() => _relay.Streams.Count == 1 && _relay.Streams[0].SubscriberCount == 1, "one packetizer on the camera's stream");
        a.Dispose();
        Assert.Single(_relay.Streams);
        b.Dispose();
        await Wait.UntilAsync(() => _relay.Streams.Count == 0, "the camera's stream released after the last viewer");
    }

    /// <summary>An H.264 camera of one session; frames are sent as RFC 6184 packets with 1,400-byte FU-A fragments.</summary>
    private sealed class ScriptedCamera : IMediaSourceConnector, IMediaSource
    {
        private readonly TaskCompletionSource<IMediaSink> _sink = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private string? _endReason;
        private ushort _sequence = 1000;

        public MediaDescription Media { get; } = new(
        [
            new MediaTrack { Type = "video", EncodingName = "H264", ClockRate = 90000, PayloadType = 96, FormatParameters = "packetization-mode=1;profile-level-id=42e01f" },
        ]);

        public Task<IMediaSource> ConnectAsync(string deviceId, int channel, StreamKind kind, CancellationToken ct) => Task.FromResult<IMediaSource>(this);

        public async Task RunAsync(IMediaSink sink, CancellationToken ct)
        {
            _sink.TrySetResult(sink);
            await _ended.Task.WaitAsync(ct);
            throw new MediaSourceEndedException(_endReason!);
        }

        public void End(string reason)
        {
            _endReason = reason;
            _ended.TrySetResult();
        }

        public async Task SendFrameAsync(byte[] nal, uint timestamp)
        {
            var sink = await _sink.Task.WaitAsync(TimeSpan.FromSeconds(10));
            var fragments = new List<byte[]>();
            var scratch = new byte[1400];
            var p = H264Packetizer.ForNal(nal, 1400);
            while (p.TryNext(scratch, out var n, out _)) fragments.Add(scratch[..n]);
            for (var i = 0; i < fragments.Count; i++)
            {
                var buffer = RtpBufferPool.Shared.Rent();
                var span = buffer.Prepare(12 + fragments[i].Length);
                span[0] = 0x80;
                span[1] = (byte)((i == fragments.Count - 1 ? 0x80 : 0) | 96);
                BinaryPrimitives.WriteUInt16BigEndian(span[2..], _sequence++);
                BinaryPrimitives.WriteUInt32BigEndian(span[4..], timestamp);
                BinaryPrimitives.WriteUInt32BigEndian(span[8..], 0x1234);
                fragments[i].CopyTo(span[12..]);
                buffer.Commit(12 + fragments[i].Length, 0, rtcp: false, TimeProvider.System.GetTimestamp());
                sink.OnPacket(buffer);
            }
            sink.OnBatchEnd();
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
