using System.Net.Sockets;

namespace HikShareGateway.Tests.Infrastructure;

/// <summary>
/// Proves the camera harness against real viewers (ffprobe, ffmpeg, gst-launch rtspsrc) and a raw
/// RTSP client: the live mounts, sharing, authentication, the backchannel. One live camera serves
/// the whole class (viewers do not disturb each other on a shared mount).
/// </summary>
[Trait("Category", "Integration")]
public sealed class GstRtspCameraLiveTests : IAsyncLifetime
{
    private GstRtspCamera _camera = null!;

    public async Task InitializeAsync() => _camera = await GstRtspCamera.StartAsync(new GstCameraOptions());
    public async Task DisposeAsync() => await _camera.DisposeAsync();

    [Fact]
    public async Task Live_MainMount_FfprobeReadsH264At640x360WithKeyframes()
    {
        var r = await Ffprobe.CountPacketsAsync(_camera.Url(GstRtspCamera.MainPath).ToString(), seconds: 3);

        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal(("h264", 640, 360), (r.CodecName, r.Width, r.Height));
        // 3 s at 25 fps is 75 frames; a viewer joins mid-GOP, so allow slack but demand a real stream.
        Assert.InRange(r.VideoPackets, 50, 90);
        Assert.True(r.KeyframePackets >= 2, r.ToString()); // GOP 25 = one keyframe a second
    }

    [Fact]
    public async Task Live_SubMount_FfprobeReadsH264At320x180()
    {
        var r = await Ffprobe.CountPacketsAsync(_camera.Url(GstRtspCamera.SubPath).ToString(), packets: 25);

        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal(("h264", 320, 180), (r.CodecName, r.Width, r.Height));
        Assert.InRange(r.VideoPackets, 25, 30);
    }

    [Fact]
    public async Task Live_GstLaunchRtspsrc_Reads100VideoBuffersAndExitsCleanly()
    {
        var r = await GstLaunch.ReadVideoAsync(_camera.Url(), buffers: 100, timeout: TimeSpan.FromSeconds(15));

        Assert.True(r.ReachedEos, r.ToString()); // fakesink got its 100 buffers, no error before
    }

    [Fact]
    public async Task Live_TwoViewersAtOnce_BothPlayFromOneSharedPipeline()
    {
        // Two different RTSP clients at the same time on the same mount.
        var ffprobe = Ffprobe.CountPacketsAsync(_camera.Url().ToString(), seconds: 3);
        var gst = GstLaunch.ReadVideoAsync(_camera.Url(), buffers: 100, timeout: TimeSpan.FromSeconds(15));
        // Shared media: DESCRIBE answers for the pipeline the viewers use, so every SDP names the
        // same RTP SSRC (gst-rtsp-server puts it in a=ssrc); an unshared factory would differ.
        // A raw viewer of our own holds the shared pipeline (it plays, frames arrive) while we describe.
        await using var holder = await RtspTestClient.ConnectAsync(_camera.Url());
        var url = _camera.Url().ToString();
        Assert.Equal(200, (await holder.SendAsync("DESCRIBE", url, [new("Accept", "application/sdp")])).StatusCode);
        // Both streams, as ffprobe and rtspsrc beside it set them up. With the video stream alone the holder once got
        // no video for 10 s (one fresh-clone run in nine) while the other two clients played the same shared media.
        Assert.Equal(200, (await holder.SendAsync("SETUP", url + "/stream=0", [new("Transport", "RTP/AVP/TCP;unicast;interleaved=0-1")])).StatusCode);
        Assert.Equal(200, (await holder.SendAsync("SETUP", url + "/stream=1", [new("Transport", "RTP/AVP/TCP;unicast;interleaved=2-3")])).StatusCode);
        Assert.Equal(200, (await holder.SendAsync("PLAY", url, [new("Range", "npt=0.000-")])).StatusCode);
        await Wait.UntilAsync(() => holder.InterleavedFrames(0) > 0, "video on the holding session");
        var ssrcA = await VideoSsrcAsync();
        var ssrcB = await VideoSsrcAsync();

        var (p, g) = (await ffprobe, await gst);
        Assert.True(p.ExitCode == 0 && p.VideoPackets >= 50, p.ToString());
        Assert.True(g.ReachedEos, g.ToString());
        Assert.NotNull(ssrcA);
        Assert.Equal(ssrcA, ssrcB);
    }

    private async Task<string?> VideoSsrcAsync()
    {
        await using var c = await RtspTestClient.ConnectAsync(_camera.Url());
        var d = await c.SendAsync("DESCRIBE", _camera.Url().ToString(), [new("Accept", "application/sdp")]);
        Assert.Equal(200, d.StatusCode);
        var video = d.Body[d.Body.IndexOf("m=video", StringComparison.Ordinal)..];
        return video.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.StartsWith("a=ssrc:", StringComparison.Ordinal))?.Split(' ')[0];
    }

    [Fact]
    public async Task Backchannel_DescribeWithOnvifRequire_AddsSendonlyPcmuTrack_AndOnlyThen()
    {
        // Separate connections: gst-rtsp-server's client reuses the media it already has for a path
        // on the same connection, so a Require after a plain DESCRIBE there would not get a backchannel.
        var plain = await DescribeAsync([new("Accept", "application/sdp")]);
        var onvif = await DescribeAsync([new("Accept", "application/sdp"), new("Require", BackchannelTalker.RequireBackchannel)]);

        Assert.Equal(200, plain.StatusCode);
        Assert.Equal(200, onvif.StatusCode);
        var plainMedia = TestSdp.ParseMedia(plain.Body);
        Assert.Equal(["video", "audio"], plainMedia.Select(m => m.Media));
        Assert.DoesNotContain(plainMedia, m => m.IsSendOnly);

        var media = TestSdp.ParseMedia(onvif.Body);
        Assert.Equal(["video", "audio", "audio"], media.Select(m => m.Media));
        Assert.Equal("recvonly", media[1].Direction); // the camera's microphone, towards the viewer
        var back = media[2];
        Assert.True(back.IsSendOnly, onvif.Body); // ONVIF: sendonly from the viewer's point of view
        Assert.Equal([0], back.Formats);
        Assert.Contains("0 PCMU/8000", back.RtpMaps);
        Assert.Equal("stream=2", back.Control);
        Assert.Contains("m=audio 0 RTP/AVP 0", onvif.Body);
    }

    [Fact]
    public async Task Backchannel_TalkerSendsPcmu_PayloadBytesLandInTheBackchannelFile()
    {
        File.Delete(_camera.BackchannelFile);
        // One second of PCMU: 50 packets of 160 bytes, each packet a different byte so order shows.
        var audio = new byte[8000];
        for (var i = 0; i < audio.Length; i++)
        {
            audio[i] = (byte)(0x10 + i / BackchannelTalker.SamplesPer20Ms);
        }

        await using (var talker = await BackchannelTalker.StartAsync(_camera.Url()))
        {
            Assert.Equal(0, talker.PayloadType);
            await talker.SendPcmuAsync(audio);
            // The sink writes each buffer as it arrives (buffer-mode=unbuffered): every byte is in the file while the
            // session still runs; the last packets wait out the jitter buffer's latency first.
            await Wait.UntilAsync(() => FileLength(_camera.BackchannelFile) >= audio.Length,
                $"all {audio.Length} bytes in the backchannel file", 5000);
            var teardown = await talker.TeardownAsync();
            Assert.Equal(200, teardown.StatusCode);
        }

        Assert.Equal(audio, await File.ReadAllBytesAsync(_camera.BackchannelFile)); // rtppcmudepay strips the RTP header only
    }

    private async Task<RtspResponse> DescribeAsync(KeyValuePair<string, string>[] headers)
    {
        await using var c = await RtspTestClient.ConnectAsync(_camera.Url());
        return await c.SendAsync("DESCRIBE", _camera.Url().ToString(), headers);
    }

    private static long FileLength(string path) => File.Exists(path) ? new FileInfo(path).Length : 0;
}

/// <summary>RTSP authentication on the camera (gst-rtsp-server's RTSPAuth), Digest and Basic.</summary>
[Trait("Category", "Integration")]
public sealed class GstRtspCameraAuthTests
{
    private const string User = "admin";
    private const string Password = "S3cret!pw"; // '!' checks the URL escaping of credentials

    [Fact]
    public async Task Auth_Digest_NoCredentialsGet401DigestChallenge_CorrectCredentialsPlay()
    {
        await using var camera = await GstRtspCamera.StartAsync(new GstCameraOptions { User = User, Password = Password, AuthMethod = GstAuthMethod.Digest });

        await using (var raw = await RtspTestClient.ConnectAsync(camera.Url()))
        {
            var anonymous = await raw.SendAsync("DESCRIBE", camera.Url().ToString());
            Assert.Equal(401, anonymous.StatusCode);
            Assert.StartsWith("Digest ", anonymous.Header("WWW-Authenticate"));
            Assert.Contains("nonce=", anonymous.Header("WWW-Authenticate"));
        }
        await using (var raw = await RtspTestClient.ConnectAsync(camera.Url(), camera.Credentials))
        {
            var authed = await raw.SendAsync("DESCRIBE", camera.Url().ToString());
            Assert.True(authed.StatusCode == 200, authed.ToString()); // our own RFC 2617 digest answer
        }

        var noCreds = await Ffprobe.CountPacketsAsync(camera.Url().ToString(), packets: 10);
        Assert.NotEqual(0, noCreds.ExitCode);
        Assert.Contains("401", noCreds.Stderr);

        var wrong = await Ffprobe.CountPacketsAsync(new UriBuilder(camera.Url()) { UserName = User, Password = "wrong" }.Uri.ToString(), packets: 10);
        Assert.NotEqual(0, wrong.ExitCode);
        Assert.Contains("401", wrong.Stderr);

        var ok = await Ffprobe.CountPacketsAsync(camera.UrlWithCredentials().ToString(), packets: 25);
        Assert.True(ok.ExitCode == 0 && ok.VideoPackets >= 25, ok.ToString());
        Assert.Equal("h264", ok.CodecName);

        var gst = await GstLaunch.ReadVideoAsync(camera.Url(), 50, User, Password, TimeSpan.FromSeconds(15));
        Assert.True(gst.ReachedEos, gst.ToString());
    }

    [Fact]
    public async Task Auth_Basic_ChallengesWithBasic_AndAcceptsTheRightPasswordOnly()
    {
        await using var camera = await GstRtspCamera.StartAsync(new GstCameraOptions { User = User, Password = Password, AuthMethod = GstAuthMethod.Basic, Backchannel = false });

        await using (var raw = await RtspTestClient.ConnectAsync(camera.Url()))
        {
            var anonymous = await raw.SendAsync("DESCRIBE", camera.Url().ToString());
            Assert.Equal(401, anonymous.StatusCode);
            Assert.StartsWith("Basic ", anonymous.Header("WWW-Authenticate"));
        }
        await using (var raw = await RtspTestClient.ConnectAsync(camera.Url(), new System.Net.NetworkCredential(User, "wrong")))
        {
            Assert.Equal(401, (await raw.SendAsync("DESCRIBE", camera.Url().ToString())).StatusCode);
        }
        var ok = await Ffprobe.CountPacketsAsync(camera.UrlWithCredentials().ToString(), packets: 25);
        Assert.True(ok.ExitCode == 0 && ok.VideoPackets >= 25, ok.ToString());
    }
}

/// <summary>Replay mode: an MP4 made at test time, served unshared and seekable.</summary>
[Trait("Category", "Integration")]
public sealed class GstRtspCameraReplayTests : IAsyncLifetime
{
    private string _dir = null!;
    private string _mp4 = null!;
    private GstRtspCamera _camera = null!;

    public async Task InitializeAsync()
    {
        _dir = Path.Combine(Path.GetTempPath(), "hikshare-replay-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(_dir);
        _mp4 = Path.Combine(_dir, "ten-seconds.mp4");
        // 10 s, 25 fps, a keyframe every second: 250 frames, seekable to any whole second.
        var make = await ToolRunner.RunAsync("ffmpeg", ["-hide_banner", "-loglevel", "error", "-nostdin", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25",
            "-t", "10", "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p", _mp4], TimeSpan.FromSeconds(30));
        Assert.True(make.Succeeded, make.ToString());
        _camera = await GstRtspCamera.StartAsync(new GstCameraOptions { Mode = GstCameraMode.Replay, ReplayFile = _mp4 });
    }

    public async Task DisposeAsync()
    {
        await _camera.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task Replay_FfprobeReadsTheWholeFile_All250FramesAndItsDuration()
    {
        // Paced in real time by the server (Rate-Control defaults to yes): about 10 s.
        var r = await Ffprobe.CountPacketsAsync(_camera.Url().ToString(), timeout: TimeSpan.FromSeconds(20));

        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal(("h264", 320, 240), (r.CodecName, r.Width, r.Height));
        Assert.Equal(250, r.VideoPackets);
        Assert.Equal(10, r.KeyframePackets);
        Assert.Equal(10.0, r.DurationSeconds!.Value, 1); // SDP a=range:npt=0-10
    }

    [Fact]
    public async Task Replay_FfmpegSeekTo5s_GetsTheSecondHalfOnly()
    {
        // ffmpeg -ss before -i on RTSP sends PLAY with Range: npt=5-; the server seeks its pipeline.
        var started = DateTime.UtcNow;
        var r = await FfmpegRecord.RunAsync(_camera.Url().ToString(), seek: TimeSpan.FromSeconds(5), outputFile: Path.Combine(_dir, "second-half.mp4"), timeout: TimeSpan.FromSeconds(15));
        var took = DateTime.UtcNow - started;

        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.InRange(r.Frames, 120, 130); // 125 frames from 5 s to the end
        Assert.InRange(took, TimeSpan.FromSeconds(4), TimeSpan.FromSeconds(9)); // real time: ~5 s, not 10

        var recorded = await Ffprobe.CountPacketsAsync(r.OutputFile!);
        Assert.True(recorded.ExitCode == 0, recorded.ToString());
        Assert.InRange(recorded.VideoPackets, 120, 130);
        Assert.InRange(recorded.DurationSeconds!.Value, 4.5, 5.5);
    }

    [Fact]
    public async Task Replay_OnvifReplayRateControlNo_SendsTheRestOfTheFileAsFastAsItCan()
    {
        // ONVIF Streaming §6.4: "Rate-Control: no" asks for unpaced delivery; gst-rtsp-server honours it.
        await using var c = await RtspTestClient.ConnectAsync(_camera.Url());
        KeyValuePair<string, string> replay = new("Require", "onvif-replay");
        Assert.Equal(200, (await c.SendAsync("DESCRIBE", _camera.Url().ToString(), [new("Accept", "application/sdp"), replay])).StatusCode);
        Assert.Equal(200, (await c.SendAsync("SETUP", _camera.Url() + "/stream=0", [new("Transport", "RTP/AVP/TCP;unicast;interleaved=0-1"), replay])).StatusCode);

        var play = await c.SendAsync("PLAY", _camera.Url().ToString(), [new("Range", "clock=19000101T000005Z-"), new("Rate-Control", "no"), replay]);

        Assert.Equal(200, play.StatusCode);
        Assert.Equal("no", play.Header("Rate-Control"));
        // The media clock starts at the NTP epoch (1900), so clock 00:00:05 is npt 5.
        Assert.Equal("clock=19000101T000005Z-19000101T000010Z", play.Header("Range"));
        var fileBytes = new FileInfo(_mp4).Length;
        // Half the file's video (from 5 s) arrives in well under its 5 s of media time.
        await Wait.UntilAsync(() => c.InterleavedBytes(0) > fileBytes * 0.4, $"the second half in a burst (have {c.InterleavedBytes(0)} of {fileBytes} bytes)", 2500);
    }
}

/// <summary>Relay mode, the start-up contract and clean-up.</summary>
[Trait("Category", "Integration")]
public sealed class GstRtspCameraLifecycleTests
{
    [Fact]
    public async Task Relay_ServesTheSourceCamerasStream()
    {
        await using var source = await GstRtspCamera.StartAsync(new GstCameraOptions { Backchannel = false });
        await using var relay = await GstRtspCamera.StartAsync(new GstCameraOptions { Mode = GstCameraMode.Relay, RelaySource = source.Url().ToString() });

        Assert.Equal("rtsp://127.0.0.1:" + relay.Port + "/relay", relay.Url().ToString());
        var r = await Ffprobe.CountPacketsAsync(relay.Url().ToString(), packets: 50);

        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal(("h264", 640, 360), (r.CodecName, r.Width, r.Height));
        Assert.InRange(r.VideoPackets, 50, 55);
    }

    [Fact]
    public async Task Dispose_StopsTheCamera_AndFreesItsPort()
    {
        var camera = await GstRtspCamera.StartAsync(new GstCameraOptions { Backchannel = false });
        var port = camera.Port;
        using (var probe = new TcpClient())
        {
            await probe.ConnectAsync("127.0.0.1", port); // listening while alive
        }

        await camera.DisposeAsync();

        Assert.True(camera.HasExited);
        using var after = new TcpClient();
        await Assert.ThrowsAsync<SocketException>(() => after.ConnectAsync("127.0.0.1", port));
    }

    [Fact]
    public async Task StartAsync_PortAlreadyTaken_RetriesOnAnotherPort()
    {
        // The script exits 2 ("cannot listen") on a taken port and the fixture picks another.
        using var squatter = new TcpListener(System.Net.IPAddress.Loopback, 0);
        squatter.Start();
        var taken = ((System.Net.IPEndPoint)squatter.LocalEndpoint).Port;

        await using var camera = await GstRtspCamera.StartAsync(new GstCameraOptions { Port = taken, Backchannel = false });

        Assert.NotEqual(taken, camera.Port);
        var r = await Ffprobe.CountPacketsAsync(camera.Url().ToString(), packets: 10);
        Assert.True(r.ExitCode == 0 && r.VideoPackets >= 10, r.ToString());
    }

    [Fact]
    public async Task StartAsync_ScriptFails_ThrowsWithTheScriptsStderr()
    {
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() =>
            GstRtspCamera.StartAsync(new GstCameraOptions { Mode = GstCameraMode.Replay, ReplayFile = "/nonexistent/missing.mp4" }));

        Assert.Contains("needs --file pointing at an MP4", e.Message);
    }
}

/// <summary>The viewers' own plumbing that needs no peer.</summary>
[Trait("Category", "Unit")]
public sealed class GstRtspCameraViewerPlumbingTests
{
    [Fact]
    public void GstLaunchTokenize_SplitsLikeAShell_KeepingQuotedSpacesInOneToken()
    {
        var tokens = GstLaunch.Tokenize("rtspsrc location=\"rtsp://h/x y\" user-pw=\"a b!\"  ! fakesink num-buffers=3");

        Assert.Equal(["rtspsrc", "location=rtsp://h/x y", "user-pw=a b!", "!", "fakesink", "num-buffers=3"], tokens);
    }
}
