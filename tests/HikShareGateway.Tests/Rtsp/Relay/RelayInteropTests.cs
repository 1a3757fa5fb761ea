using System.Diagnostics;
using HikShareGateway.Core.Access;
using HikShareGateway.Core.Devices;
using HikShareGateway.Rtsp.Protocol;
using HikShareGateway.Tests.Infrastructure;
using static HikShareGateway.Tests.Access.AccessTestKit;
using static HikShareGateway.Tests.Rtsp.Relay.RelayHarness;

namespace HikShareGateway.Tests.Rtsp.Relay;

/// <summary>
/// Real peers on both sides of the relay: gst-rtsp-server's ONVIF camera (H.264 + PCMU, Digest auth) as the
/// recorder, and ffprobe, ffmpeg and GStreamer's rtspsrc as viewers.
/// </summary>
[Trait("Category", "Integration")]
public sealed class RelayInteropTests
{
    private static async Task<(GstRtspCamera Camera, RelayHarness Gateway)> StartWithGstCameraAsync()
    {
        var camera = await GstRtspCamera.StartAsync(new GstCameraOptions { User = "admin", Password = "Gst-Pa55", AuthMethod = GstAuthMethod.Digest, Backchannel = false });
        var gateway = await StartAsync(new Options { MainUri = camera.Url(), Credentials = new DeviceCredentials("admin", "Gst-Pa55") });
        gateway.Grant(LiveShare(Bob));
        return (camera, gateway);
    }

    [Fact]
    public async Task Ffprobe_QueryToken_ReadsH264FromAGstCameraBehindDigest()
    {
        var (camera, h) = await StartWithGstCameraAsync();
        await using var _ = camera;
        await using var __ = h;
        var result = await Ffprobe.CountPacketsAsync(h.Url(token: Token(Bob)), packets: 50, timeout: TimeSpan.FromSeconds(30));
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal("h264", result.CodecName);
        Assert.Equal(640, result.Width);
        Assert.Equal(360, result.Height);
        Assert.True(result.VideoPackets >= 50, result.ToString());
        Assert.True(result.KeyframePackets >= 1);
    }

    [Fact]
    public async Task Describe_GstCamera_VideoAndAudioTracksRebuilt()
    {
        var (camera, h) = await StartWithGstCameraAsync();
        await using var _ = camera;
        await using var __ = h;
        await using var c = await RtspTestClient.ConnectAsync(h.Port);
        var (describe, play) = await c.PlayAsync(h.Url(token: Token(Bob)));
        Assert.Equal(200, play.StatusCode);
        var sdp = SessionDescription.Parse(describe.Body);
        Assert.Equal(["video", "audio"], sdp.Media.Select(m => m.Type));
        Assert.Equal("PCMU", sdp.Media[1].EncodingName);
        Assert.DoesNotContain(camera.Port.ToString(), describe.Body);
        // Both tracks flow: RTP on channels 0 (video) and 2 (audio).
        var audio = await c.ReadPacketsAsync(5, TimeSpan.FromSeconds(10), channel: 2);
        Assert.Equal(5, audio.Count);
    }

    [Fact]
    public async Task Ffmpeg_DefaultTransport_FallsBackFromUdpToTcpOn461()
    {
        await using var h = await StartAsync();
        h.Grant(LiveShare(Bob));
        // No -rtsp_transport: ffmpeg tries UDP first; the 461 makes it retry over TCP at once.
        var run = await ToolRunner.RunAsync("ffmpeg", ["-hide_banner", "-nostdin", "-loglevel", "info", "-i", h.Url(token: Token(Bob)), "-t", "2", "-c", "copy", "-f", "null", "-"],
            TimeSpan.FromSeconds(30));
        Assert.True(run.Succeeded, run.ToString());
        Assert.Contains("461", run.Stderr);
        Assert.Matches(@"frame=\s*[1-9]", run.Stderr);
    }

    [Fact]
    public async Task GstRtspsrc_BasicCredentials_And_QueryToken()
    {
        await using var h = await StartAsync();
        h.Grant(LiveShare(Bob));
        var basic = await GstLaunch.ReadVideoAsync(new Uri(h.Url()), 50, Bob, Token(Bob), TimeSpan.FromSeconds(30));
        Assert.True(basic.ReachedEos, basic.ToString());
        var query = await GstLaunch.ReadVideoAsync(new Uri(h.Url(token: Token(Bob))), 50, timeout: TimeSpan.FromSeconds(30));
        Assert.True(query.ReachedEos, query.ToString());
    }

    [Fact]
    public async Task Ffprobe_WithoutToken_Unauthorized_AndWithoutGrant_Forbidden()
    {
        await using var h = await StartAsync();
        h.Grant(LiveShare(Bob));
        var none = await Ffprobe.CountPacketsAsync(h.Url(), packets: 5, timeout: TimeSpan.FromSeconds(20));
        Assert.NotEqual(0, none.ExitCode);
        Assert.Contains("401", none.Stderr);
        var carol = await Ffprobe.CountPacketsAsync(h.Url(token: Token(Carol)), packets: 5, timeout: TimeSpan.FromSeconds(20));
        Assert.NotEqual(0, carol.ExitCode);
        Assert.Contains("403", carol.Stderr);
    }

    [Fact]
    public async Task ThreeRealViewersAtOnce_OneUpstream_AllGetPictures()
    {
        await using var h = await StartAsync();
        h.Grant(LiveShare(Bob));
        var url = h.Url(token: Token(Bob));
        var probe1 = Ffprobe.CountPacketsAsync(url, packets: 40, timeout: TimeSpan.FromSeconds(30));
        var probe2 = Ffprobe.CountPacketsAsync(url, packets: 40, timeout: TimeSpan.FromSeconds(30));
        var gst = GstLaunch.ReadVideoAsync(new Uri(url), 40, timeout: TimeSpan.FromSeconds(30));
        await Task.WhenAll(probe1, probe2, gst);
        Assert.True((await probe1).VideoPackets >= 40, (await probe1).ToString());
        Assert.True((await probe2).VideoPackets >= 40, (await probe2).ToString());
        Assert.True((await gst).ReachedEos, (await gst).ToString());
        Assert.Equal(1, h.Camera!.Plays);
    }

    [Fact]
    public async Task GstCameraRestarts_FfmpegKeepsRecording_AcrossTheReconnect()
    {
        var options = new GstCameraOptions { User = "admin", Password = "Gst-Pa55", AuthMethod = GstAuthMethod.Digest, Backchannel = false, Port = PortAllocator.GetFreeTcpPort() };
        var camera = await GstRtspCamera.StartAsync(options);
        try
        {
            await using var h = await StartAsync(new Options { MainUri = camera.Url(), Credentials = new DeviceCredentials("admin", "Gst-Pa55") });
            h.Grant(LiveShare(Bob));
            var started = Stopwatch.StartNew();
            long recorded = 0;
            var recording = FfmpegRecord.RunAsync(h.Url(token: Token(Bob)), duration: TimeSpan.FromSeconds(12), timeout: TimeSpan.FromSeconds(60),
                onFrames: f => Interlocked.Exchange(ref recorded, f));
            // Mid-stream: ffmpeg has recorded more than the cached GOP it gets at once (25 frames) before the camera dies.
            await Wait.UntilAsync(() => Interlocked.Read(ref recorded) > 30, "ffmpeg records from the camera", 20_000);

            // The camera goes away mid-stream and comes back on the same address a second later.
            await camera.DisposeAsync();
            var killedAfter = started.Elapsed;
            await Task.Delay(1000);
            camera = await GstRtspCamera.StartAsync(options);

            var result = await recording;
            Assert.True(result.ExitCode == 0, result.ToString());
            // At 25 fps, before the camera went away ffmpeg can have had at most the time so far plus the cached GOP
            // it was given at the start (one second): anything above that came from the camera's second life.
            var possibleBeforeKill = (long)(killedAfter.TotalSeconds * 25) + 25;
            Assert.True(result.Frames > possibleBeforeKill + 50, $"{result.Frames} frames, at most {possibleBeforeKill} before the camera went away; {result}");
            // ffmpeg does not reconnect by itself: those frames came over its one RTSP session, which the gateway kept.
            Assert.Single(h.Audit.Events, e => e.Decision == AuditDecision.Allow && e.Account == Bob);
        }
        finally
        {
            await camera.DisposeAsync();
        }
    }
}
