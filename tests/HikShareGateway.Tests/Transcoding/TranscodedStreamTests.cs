using System.Buffers;
using HikShareGateway.Core.Devices;
using HikShareGateway.Ffmpeg;
using HikShareGateway.Ffmpeg.Snapshots;
using HikShareGateway.Ffmpeg.Transcoding;
using HikShareGateway.Ffmpeg.Video;
using HikShareGateway.Media;
using HikShareGateway.Tests.Infrastructure;
using HikShareGateway.Tests.Rtsp.Relay;
using Microsoft.Extensions.Logging.Abstractions;

namespace HikShareGateway.Tests.Transcoding;

/// <summary>An output that reassembles the video RTP it receives into an Annex B stream (what ffprobe reads).</summary>
internal sealed class AnnexBCollector(int videoTrack) : IMediaSubscriber
{
    private readonly Lock _gate = new();
    private readonly RtpNalAssembler _assembler = new(Ffmpeg.Video.VideoCodec.H264);
    private readonly ArrayBufferWriter<byte> _stream = new();
    private int _accessUnits;

    public int AccessUnits => Volatile.Read(ref _accessUnits);

    public byte[] Stream { get { lock (_gate) { return _stream.WrittenSpan.ToArray(); } } }

    public void WaitForKeyframe(bool hasVideo)
    {
    }

    public void Enqueue(RtpBuffer buffer, long now)
    {
        if (buffer.Track != videoTrack || buffer.IsRtcp || !RtpPacket.TryParse(buffer.PacketSpan, out var rtp))
        {
            return;
        }
        lock (_gate)
        {
            _assembler.Append(rtp.Payload, _stream);
            if (rtp.Marker)
            {
                _accessUnits++;
            }
        }
    }

    public void Flush()
    {
    }
}

/// <summary>
/// The derived H.264 stream of an H.265 camera (gst-rtsp-server, x265enc): decodable by ffprobe, one transcoder for two
/// subscribers, Media:MaxTranscoders refusing another with a reason, the transcoder gone when the last lease goes.
/// </summary>
[Trait("Category", "Integration")]
public sealed class TranscodedStreamTests
{
    [Fact]
    public async Task H265Camera_DerivedH264_DecodableByFfprobe_TwoSubscribersShareOneTranscoder_LimitRefuses_LastLeaseStopsIt()
    {
        await using var camera = await GstRtspCamera.StartAsync(new GstCameraOptions { Codec = GstVideoCodec.H265, Pattern = "smpte", Backchannel = false, User = "admin", Password = "Gst-Pa55" });
        await using var h = await RelayHarness.StartAsync(new RelayHarness.Options { MainUri = camera.Url(), Credentials = new DeviceCredentials("admin", "Gst-Pa55") });
        var limiter = new TranscoderLimiter(new MediaTranscodingOptions { MaxTranscoders = 1 });
        await using var streams = new TranscodedStreams(h.Relay, limiter, new VideoTranscoderOptions { MaxWidth = 640, BitrateKbps = 800 }, TimeSpan.FromSeconds(10),
            TimeProvider.System, NullLoggerFactory.Instance);

        Assert.True(streams.TryAcquire(RelayHarness.Device, 1, StreamKind.Main, DerivedFormat.H264, out var first, out var reason), reason);
        Assert.True(streams.TryAcquire(RelayHarness.Device, 1, StreamKind.Main, DerivedFormat.H264, out var second, out reason), reason);
        Assert.Same(first!.Stream, second!.Stream);
        var media = await first.Stream.WaitReadyAsync(TimeSpan.FromSeconds(20), CancellationToken.None);
        Assert.Equal(HikShareGateway.Media.VideoCodec.H264, media.VideoCodec);
        Assert.Equal(1, limiter.Active);

        var a = new AnnexBCollector(media.VideoTrack);
        var b = new AnnexBCollector(media.VideoTrack);
        first.Stream.Subscribe(a);
        second.Stream.Subscribe(b);
        await Wait.UntilAsync(() => a.AccessUnits >= 50 && b.AccessUnits >= 10, "50 and 10 transcoded access units", 30_000);
        Assert.Equal(1, limiter.Active);
        Assert.Single(streams.H264Streams);
        // The camera's own stream is still the only upstream.
        Assert.Single(h.Relay.Streams);

        var path = Path.Combine(Path.GetTempPath(), "hikshare-transcoded-" + Guid.NewGuid().ToString("N") + ".h264");
        await File.WriteAllBytesAsync(path, a.Stream);
        try
        {
            var probe = await ToolRunner.RunAsync("ffprobe", ["-v", "error", "-f", "h264", "-count_frames", "-select_streams", "v:0",
                "-show_entries", "stream=codec_name,width,height,nb_read_frames", "-of", "csv=p=0", path], TimeSpan.FromSeconds(30));
            Assert.True(probe.Succeeded, probe.ToString());
            var fields = probe.Stdout.Trim().Split(',');
            Assert.Equal(["h264", "640", "360"], fields[..3]);
            Assert.True(int.Parse(fields[3]) >= 45, probe.Stdout);
        }
        finally
        {
            File.Delete(path);
        }

        // Media:MaxTranscoders = 1: another stream's transcoder is refused, with the reason.
        Assert.False(streams.TryAcquire(RelayHarness.Device, 2, StreamKind.Main, DerivedFormat.H264, out var refused, out reason));
        Assert.Null(refused);
        Assert.Contains("Media:MaxTranscoders", reason);

        first.Stream.Unsubscribe(a);
        second.Stream.Unsubscribe(b);
        first.Dispose();
        second.Dispose();
        await Wait.UntilAsync(() => limiter.Active == 0 && streams.H264Streams.Count == 0, "the transcoder stopped after the last lease", 10_000);
    }
}
