using HikShareGateway.Core.Access;
using HikShareGateway.Tests.Infrastructure;
using static HikShareGateway.Tests.Access.AccessTestKit;

namespace HikShareGateway.Tests.Playback;

/// <summary>
/// Playback through the whole gateway against a real seekable recorder: gst-rtsp-server (scripts/gst-camera.py
/// --mode replay) serving a 10 s MP4 made here with ffmpeg, reached through channel 1's <c>Playback</c> URL template
/// (Hikvision tracks URL shape). Viewers are ffprobe, ffmpeg, gst-launch and a raw RTSP client.
/// </summary>
[Collection(PlaybackRecorderCollection.Name)]
[Trait("Category", "Integration")]
public sealed class PlaybackEndToEndTests(PlaybackRecorder recorder) : IAsyncLifetime
{
    private PlaybackTestGateway _gateway = null!;

    public async Task InitializeAsync()
    {
        _gateway = await PlaybackTestGateway.StartAsync(recorder.Camera.Url(GstRtspCamera.ReplayPath).ToString(), recorder.Template);
        _gateway.Grant(Privilege.Playback | Privilege.LiveView);
    }

    public async Task DisposeAsync() => await _gateway.DisposeAsync();

    [Fact]
    public async Task WholePlayback_Ffprobe_GetsAll250FramesAndTheDuration()
    {
        var r = await Ffprobe.CountPacketsAsync(_gateway.PlaybackUrl(end: "20261125T100010Z"), timeout: TimeSpan.FromSeconds(25));

        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal(("h264", 320, 240), (r.CodecName, r.Width, r.Height));
        Assert.InRange(r.VideoPackets, 248, 250);
        Assert.Equal(10.0, r.DurationSeconds!.Value, 1); // a=range:npt=0-10 passed from the recorder
    }

    [Fact]
    public async Task Seek_FfmpegSs5_CopiesTheSecondHalf_WithCoherentTimestamps()
    {
        // ffmpeg -ss 5 before -i: PLAY with Range: npt=5-; the gateway passes it on and answers with the recorder's
        // Range and RTP-Info (url= rewritten), from which ffmpeg derives the timestamps of what it writes.
        var dir = Directory.CreateTempSubdirectory("hikshare-seek-").FullName;
        try
        {
            var started = DateTime.UtcNow;
            var r = await FfmpegRecord.RunAsync(_gateway.PlaybackUrl(), seek: TimeSpan.FromSeconds(5), outputFile: Path.Combine(dir, "second-half.mp4"), timeout: TimeSpan.FromSeconds(20));
            var took = DateTime.UtcNow - started;

            Assert.True(r.ExitCode == 0, r.ToString());
            Assert.InRange(r.Frames, 120, 130); // 125 frames from 5 s to the end
            Assert.InRange(took, TimeSpan.FromSeconds(4), TimeSpan.FromSeconds(10)); // paced: ~5 s, not 10
            var recorded = await Ffprobe.CountPacketsAsync(r.OutputFile!);
            Assert.True(recorded.ExitCode == 0, recorded.ToString());
            Assert.InRange(recorded.VideoPackets, 120, 130);
            Assert.InRange(recorded.DurationSeconds!.Value, 4.5, 5.5);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task PauseThenPlay_RawClient_StopsTheFlow_ResumesWhereItWas_AndOutlastsTheStallTimeout()
    {
        await using var c = await OpenAsync();
        var play = await c.SendAsync("PLAY", _url);
        Assert.Equal(200, play.StatusCode);
        Assert.StartsWith("npt=0", play.Header("Range"));
        AssertRtpInfoNamesOnlyTheViewersTrack(play);
        await Wait.UntilAsync(() => c.InterleavedFrames(0) > 40, "packets before the pause");

        var pause = await c.SendAsync("PAUSE", _url);
        Assert.Equal(200, pause.StatusCode);
        var atPause = c.InterleavedFrames(0);
        // The behaviour under test is a duration: paused for longer than the upstream stall timeout
        // (Rtsp:UpstreamTimeoutSeconds = 5), the session survives, because a pause is not a stall.
        await Task.Delay(TimeSpan.FromSeconds(6));
        // A response leaves behind everything queued on the viewer's connection before it (one writer per socket):
        // once it is here, any packet sent during the pause would have been counted.
        Assert.Equal(200, (await c.SendAsync("GET_PARAMETER", _url)).StatusCode);
        Assert.Equal(atPause, c.InterleavedFrames(0));

        var resume = await c.SendAsync("PLAY", _url);
        Assert.Equal(200, resume.StatusCode);
        Assert.True(RtspRangeStart(resume) is > 0.2 and < 5, resume.ToString()); // where it paused, not 0
        AssertRtpInfoNamesOnlyTheViewersTrack(resume);
        await Wait.UntilAsync(() => c.InterleavedFrames(0) > atPause + 20, "packets after resuming");
    }

    [Fact]
    public async Task SeekByNptAndByClock_AnswersInTheViewersUnit_ThenTheEndOfTheRecordingEndsTheSession()
    {
        await using var c = await OpenAsync();
        var play = await c.SendAsync("PLAY", _url, [new("Range", "npt=2-")]);
        Assert.Equal(200, play.StatusCode);
        Assert.StartsWith("npt=2", play.Header("Range"));
        await Wait.UntilAsync(() => c.InterleavedFrames(0) > 10, "packets from 2 s");

        // clock= is UTC on the recording: start (10:00:00) + 8 s. The recorder speaks npt; the viewer gets clock back.
        var seek = await c.SendAsync("PLAY", _url, [new("Range", "clock=20261125T100008Z-")]);
        Assert.Equal(200, seek.StatusCode);
        Assert.Matches(@"^clock=20261125T100008(\.\d+)?Z-20261125T100010Z$", seek.Header("Range"));
        AssertRtpInfoNamesOnlyTheViewersTrack(seek);

        // 2 s left: RTCP BYE from the recorder, then the gateway closes the session once the rest was sent.
        await c.Closed.WaitAsync(TimeSpan.FromSeconds(8));
    }

    [Fact]
    public async Task Scale2_IsPassedOn_AndTheRecordingPlaysInHalfTheTime()
    {
        await using var c = await OpenAsync();
        var started = DateTime.UtcNow;
        var play = await c.SendAsync("PLAY", _url, [new("Range", "npt=0-"), new("Scale", "2.0")]);

        Assert.Equal(200, play.StatusCode);
        // gst-rtsp-server 1.22 plays a file faster by rate ("Speed: 2.000") and reports "Scale: 1.000"; both pass back.
        Assert.Equal("2.000", play.Header("Speed"));
        Assert.NotNull(play.Header("Scale"));
        await c.Closed.WaitAsync(TimeSpan.FromSeconds(9));
        Assert.InRange(DateTime.UtcNow - started, TimeSpan.FromSeconds(4), TimeSpan.FromSeconds(8)); // 10 s of recording at 2x
        Assert.True(c.InterleavedFrames(0) > 250, "RTP packets: " + c.InterleavedFrames(0)); // all of it (frames span several packets)
    }

    [Fact]
    public async Task LiveViewOnly_IsRefused403_ByFfprobeAndRawRtsp()
    {
        _gateway.Grant(Privilege.LiveView, version: 2);

        var probe = await Ffprobe.CountPacketsAsync(_gateway.PlaybackUrl(), timeout: TimeSpan.FromSeconds(10));
        Assert.NotEqual(0, probe.ExitCode);
        Assert.Contains("403", probe.Stderr);

        await using var c = await RtspTestClient.ConnectAsync(new Uri(_gateway.PlaybackUrl()));
        var describe = await c.SendAsync("DESCRIBE", _gateway.PlaybackUrl(), [new("Accept", "application/sdp")]);
        Assert.Equal(403, describe.StatusCode);
    }

    [Fact]
    public async Task PlaybackRevoked_WhilePlaying_ClosesTheSession()
    {
        await using var c = await OpenAsync();
        Assert.Equal(200, (await c.SendAsync("PLAY", _url)).StatusCode);
        await Wait.UntilAsync(() => c.InterleavedFrames(0) > 5, "packets");

        _gateway.Grant(Privilege.LiveView, version: 2); // playback removed, live view kept

        await c.Closed.WaitAsync(TimeSpan.FromSeconds(2));
    }

    [Fact]
    public async Task TwoViewers_HaveTheirOwnPositions()
    {
        await using var a = await OpenAsync();
        var urlA = _url;
        await using var b = await OpenAsync();
        var playA = await a.SendAsync("PLAY", urlA, [new("Range", "npt=1-")]);
        var playB = await b.SendAsync("PLAY", _url, [new("Range", "npt=6-")]);

        Assert.StartsWith("npt=1", playA.Header("Range"));
        Assert.StartsWith("npt=6", playB.Header("Range"));
        await Wait.UntilAsync(() => a.InterleavedFrames(0) > 10 && b.InterleavedFrames(0) > 10, "both viewers receive");
    }

    [Fact]
    public async Task GstLaunchRtspsrc_PlaysBack()
    {
        var r = await GstLaunch.ReadVideoAsync(new Uri(_gateway.PlaybackUrl()), buffers: 60, timeout: TimeSpan.FromSeconds(15));
        Assert.True(r.ReachedEos, r.ToString());
    }

    [Fact]
    public async Task LiveRelay_OnTheSameUpstreamClient_StillPlays()
    {
        // The live path (ConnectAsync with PLAY, then RunAsync) is unchanged by playback's additions to the client;
        // channel 1's Main points at the recorder's mount, which plays like a camera.
        var live = $"rtsp://127.0.0.1:{_gateway.RtspPort}/live/{Nvr}/1/main?token={PlaybackTestGateway.Token()}";
        var r = await Ffprobe.CountPacketsAsync(live, packets: 50, timeout: TimeSpan.FromSeconds(15));
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal(("h264", 320, 240), (r.CodecName, r.Width, r.Height));
    }

    private string _url = "";
    private string _setupUrl = "";

    /// <summary>DESCRIBE and SETUP of the video track as ffmpeg does it (track control appended after the query).</summary>
    private async Task<RtspTestClient> OpenAsync()
    {
        _url = _gateway.PlaybackUrl(end: "20261125T100010Z");
        _setupUrl = _url + "/trackID=0";
        var c = await RtspTestClient.ConnectAsync(new Uri(_url));
        var describe = await c.SendAsync("DESCRIBE", _url, [new("Accept", "application/sdp")]);
        Assert.Equal(200, describe.StatusCode);
        Assert.Contains("a=range:npt=0-10", describe.Body);
        Assert.DoesNotContain("Streaming", describe.Body);
        var setup = await c.SendAsync("SETUP", _setupUrl, [new("Transport", "RTP/AVP/TCP;unicast;interleaved=0-1")]);
        Assert.Equal(200, setup.StatusCode);
        return c;
    }

    /// <summary>RTP-Info carries the viewer's own SETUP URL, and nothing of the recorder's address or paths.</summary>
    private void AssertRtpInfoNamesOnlyTheViewersTrack(RtspResponse response)
    {
        var rtpInfo = response.Header("RTP-Info");
        Assert.NotNull(rtpInfo);
        Assert.StartsWith("url=" + _setupUrl + ";", rtpInfo);
        Assert.Matches(@";seq=\d+;rtptime=\d+$", rtpInfo);
        Assert.DoesNotContain("Streaming", response.ToString());
        Assert.DoesNotContain(":" + recorder.Camera.Port, response.ToString());
    }

    private static double RtspRangeStart(RtspResponse response)
    {
        var range = response.Header("Range") ?? "";
        var value = range["npt=".Length..range.IndexOf('-')];
        return double.Parse(value, System.Globalization.CultureInfo.InvariantCulture);
    }
}
