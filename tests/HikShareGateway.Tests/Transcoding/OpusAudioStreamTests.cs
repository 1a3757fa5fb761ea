using HikShareGateway.Core.Devices;
using HikShareGateway.Ffmpeg;
using HikShareGateway.Ffmpeg.Audio;
using HikShareGateway.Ffmpeg.Transcoding;
using HikShareGateway.Ffmpeg.Video;
using HikShareGateway.Media;
using HikShareGateway.Tests.Infrastructure;
using HikShareGateway.Tests.Rtsp.Relay;
using Microsoft.Extensions.Logging.Abstractions;

namespace HikShareGateway.Tests.Transcoding;

/// <summary>Collects a derived stream's Opus payloads (audio track) and counts its video packets.</summary>
internal sealed class OpusCollector(int audioTrack) : IMediaSubscriber
{
    private readonly Lock _gate = new();
    private readonly List<byte[]> _opus = [];
    private readonly List<uint> _timestamps = [];
    private int _video;

    public int Video => Volatile.Read(ref _video);

    public int Count { get { lock (_gate) { return _opus.Count; } } }

    public (List<byte[]> Payloads, List<uint> Timestamps) Snapshot() { lock (_gate) { return ([.. _opus], [.. _timestamps]); } }

    public void WaitForKeyframe(bool hasVideo)
    {
    }

    public void Enqueue(RtpBuffer buffer, long now)
    {
        if (buffer.IsRtcp || !RtpPacket.TryParse(buffer.PacketSpan, out var rtp))
        {
            return;
        }
        if (buffer.Track != audioTrack)
        {
            Interlocked.Increment(ref _video);
            return;
        }
        lock (_gate)
        {
            _opus.Add(rtp.Payload.ToArray());
            _timestamps.Add(rtp.Timestamp);
        }
    }

    public void Flush()
    {
    }
}

/// <summary>
/// AAC → Opus for WebRTC: the derived stream of a camera that sends AAC (gst-rtsp-server, voaacenc 440 Hz) carries
/// Opus RTP (48 kHz, 20 ms) that decodes to the camera's tone, the video passes through, one transcoder is shared and
/// stops after the last lease.
/// </summary>
[Trait("Category", "Integration")]
public sealed class OpusAudioStreamTests
{
    [Fact]
    public async Task AacCamera_DerivedOpus_DecodesToTheCamerasTone_VideoPassesThrough_SharedTranscoder_StopsAfterLastLease()
    {
        await using var camera = await GstRtspCamera.StartAsync(new GstCameraOptions { AacAudio = true, Backchannel = false, User = "admin", Password = "Gst-Pa55" });
        await using var h = await RelayHarness.StartAsync(new RelayHarness.Options { MainUri = camera.Url(), Credentials = new DeviceCredentials("admin", "Gst-Pa55") });
        var limiter = new TranscoderLimiter(new MediaTranscodingOptions { MaxTranscoders = 1 });
        await using var streams = new TranscodedStreams(h.Relay, limiter, new VideoTranscoderOptions(), TimeSpan.FromSeconds(10), TimeProvider.System, NullLoggerFactory.Instance);

        Assert.True(streams.TryAcquire(RelayHarness.Device, 1, StreamKind.Main, DerivedFormat.OpusAudio, out var first, out var reason), reason);
        Assert.True(streams.TryAcquire(RelayHarness.Device, 1, StreamKind.Main, DerivedFormat.OpusAudio, out var second, out reason), reason);
        Assert.Same(first!.Stream, second!.Stream);
        var media = await first.Stream.WaitReadyAsync(TimeSpan.FromSeconds(20), CancellationToken.None);
        var audio = media.Tracks.Select((t, i) => (t, i)).Single(x => x.t.Type == "audio");
        Assert.Equal("OPUS", audio.t.EncodingName);
        Assert.Equal(48_000, audio.t.ClockRate);
        Assert.Equal(HikShareGateway.Media.VideoCodec.H264, media.VideoCodec);

        var collector = new OpusCollector(audio.i);
        first.Stream.Subscribe(collector);
        await Wait.UntilAsync(() => collector.Count >= 150 && collector.Video >= 50, "3 s of Opus and some video", 30_000);
        Assert.Equal(1, limiter.Active);
        Assert.Single(streams.OpusStreams);
        var (payloads, timestamps) = collector.Snapshot();
        for (var i = 1; i < timestamps.Count; i++)
        {
            // 20 ms frames on the 48 kHz clock, back to back.
            Assert.Equal(960u, timestamps[i] - timestamps[i - 1]);
        }

        // The Opus decodes to the camera's 440 Hz sine.
        using var decoder = new AudioTranscoder(new AudioFormat(AudioCodec.Opus, 48_000, 1), new AudioFormat(AudioCodec.Pcmu, 8000, 1));
        var ulaw = new List<byte>();
        foreach (var p in payloads)
        {
            decoder.Push(p, (packet, _) => ulaw.AddRange(packet.ToArray()));
        }
        Assert.Equal(0, decoder.DecodeErrors);
        var pcm = ulaw.Select(b => HikShareGateway.Mp4.Audio.G711.DecodeMuLaw(b)).ToArray();
        Assert.True(pcm.Length >= 8000 * 2, $"{pcm.Length} samples");
        Assert.InRange(ZeroCrossingFrequency(pcm, 8000), 430, 450);

        // Another stream's transcoder is over Media:MaxTranscoders = 1.
        Assert.False(streams.TryAcquire(RelayHarness.Device, 1, StreamKind.Sub, DerivedFormat.OpusAudio, out _, out reason));
        Assert.Contains("Media:MaxTranscoders", reason);

        first.Stream.Unsubscribe(collector);
        first.Dispose();
        second.Dispose();
        await Wait.UntilAsync(() => limiter.Active == 0 && streams.OpusStreams.Count == 0, "the transcoder stopped after the last lease", 10_000);
    }

    [Fact]
    public async Task PcmuCamera_DerivedOpus_FailsToStart_NotSupported_SlotReturned()
    {
        await using var camera = await GstRtspCamera.StartAsync(new GstCameraOptions { Backchannel = false, User = "admin", Password = "Gst-Pa55" });
        await using var h = await RelayHarness.StartAsync(new RelayHarness.Options { MainUri = camera.Url(), Credentials = new DeviceCredentials("admin", "Gst-Pa55") });
        var limiter = new TranscoderLimiter(new MediaTranscodingOptions { MaxTranscoders = 1 });
        await using var streams = new TranscodedStreams(h.Relay, limiter, new VideoTranscoderOptions(), TimeSpan.FromSeconds(10), TimeProvider.System, NullLoggerFactory.Instance);

        Assert.True(streams.TryAcquire(RelayHarness.Device, 1, StreamKind.Main, DerivedFormat.OpusAudio, out var lease, out var reason), reason);
        var failure = await Assert.ThrowsAsync<DeviceException>(() => lease!.Stream.WaitReadyAsync(TimeSpan.FromSeconds(20), CancellationToken.None));
        Assert.Equal(DeviceErrorKind.NotSupported, failure.Kind);
        lease!.Dispose();
        await Wait.UntilAsync(() => limiter.Active == 0, "the slot returned", 10_000);
    }

    private static double ZeroCrossingFrequency(short[] samples, int rate)
    {
        int from = samples.Length / 5, to = samples.Length * 4 / 5, firstCross = -1, lastCross = -1, crossings = 0;
        for (var i = from + 1; i < to; i++)
        {
            if (samples[i - 1] < 0 && samples[i] >= 0)
            {
                if (firstCross < 0) firstCross = i; else crossings++;
                lastCross = i;
            }
        }
        return crossings == 0 ? 0 : crossings * (double)rate / (lastCross - firstCross);
    }
}
