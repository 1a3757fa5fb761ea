using HikShareGateway.Core.Access;
using HikShareGateway.Tests.Infrastructure;
using static HikShareGateway.Tests.Access.AccessTestKit;

namespace HikShareGateway.Tests.Talk;

/// <summary>
/// Two-way audio END TO END (contract §5): a talker speaks ONVIF backchannel to the gateway, the gateway opens the
/// camera's own backchannel and the camera's pipeline (<c>rtppcmudepay ! filesink</c>) writes what arrived.
/// Each test gets its own gst-rtsp-server camera, so the backchannel file is one test's alone.
/// </summary>
[Trait("Category", "Integration")]
public sealed class OnvifBackchannelEndToEndTests : IAsyncLifetime
{
    private const string Require = BackchannelTalker.RequireBackchannel;
    private GstRtspCamera Camera { get; set; } = null!;

    public async Task InitializeAsync() => Camera = await GstRtspCamera.StartAsync(new GstCameraOptions());

    public async Task DisposeAsync() => await Camera.DisposeAsync();

    [Fact]
    public async Task Talk_TalkerThroughGateway_PcmuBytesLandInTheCameraBackchannelFile()
    {
        await using var gw = await TalkTestGateway.StartAsync(Camera.Url());
        gw.Grant((Bob, Privilege.LiveView | Privilege.TwoWayAudio));
        // One second of PCMU, 50 packets of 160 bytes each; every packet is one distinct byte value so order shows.
        var audio = new byte[8000];
        for (var i = 0; i < audio.Length; i++)
        {
            audio[i] = (byte)(0x20 + i / BackchannelTalker.SamplesPer20Ms);
        }

        await using var talker = await BackchannelTalker.StartAsync(gw.LiveUrl(), TalkTestGateway.Credential(Bob));
        // The viewer's SDP: the live tracks, then the backchannel as sendonly PCMU; nothing of the camera.
        var media = TestSdp.ParseMedia(talker.Describe.Body);
        Assert.Equal(["video", "audio", "audio"], media.Select(m => m.Media));
        Assert.Equal(["recvonly", "recvonly", "sendonly"], media.Select(m => m.Direction));
        Assert.Equal([0], media[2].Formats);
        Assert.Contains("0 PCMU/8000", media[2].RtpMaps);
        Assert.DoesNotContain(Camera.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), talker.Describe.Body);
        Assert.DoesNotContain("Streaming", talker.Describe.Body);
        Assert.DoesNotContain("stream=", talker.Describe.Body);
        Assert.Equal(0, talker.PayloadType);
        Assert.True(gw.Talk.Floor.IsHeld(TalkTestGateway.DeviceId, 1));

        await talker.SendPcmuAsync(audio);

        // The camera's pipeline (rtppcmudepay ! filesink, unbuffered) writes every payload as it arrives: all of them
        // landing, byte for byte and in order, proves the gateway forwarded every talker packet unchanged.
        await Wait.UntilAsync(() => FileLength(Camera.BackchannelFile) >= audio.Length,
            $"all {audio.Length} bytes in the camera's backchannel file (talker sent {talker.PacketsSent} packets)", 5000);
        Assert.Equal(audio, await File.ReadAllBytesAsync(Camera.BackchannelFile));
        Assert.Equal(200, (await talker.TeardownAsync()).StatusCode);
        await Wait.UntilAsync(() => !gw.Talk.Floor.IsHeld(TalkTestGateway.DeviceId, 1), "the floor is free again", 3000);
    }

    [Fact]
    public async Task Talk_OneSession_CarriesTheLiveVideoToo_WhenTheAccountMayWatch()
    {
        await using var gw = await TalkTestGateway.StartAsync(Camera.Url());
        gw.Grant((Bob, Privilege.LiveView | Privilege.TwoWayAudio));
        await using var client = await RtspTestClient.ConnectAsync(gw.LiveUrl(), TalkTestGateway.Credential(Bob));
        var url = gw.LiveUrl().ToString();
        var describe = await client.SendAsync("DESCRIBE", url, [new("Require", Require)]);
        Assert.Equal(200, describe.StatusCode);
        Assert.Equal(3, TestSdp.ParseMedia(describe.Body).Count);
        // GStreamer-style: only the first SETUP carries the Require header.
        Assert.Equal(200, (await client.SendAsync("SETUP", url + "/trackID=0", [new("Transport", "RTP/AVP/TCP;unicast;interleaved=0-1"), new("Require", Require)])).StatusCode);
        Assert.Equal(200, (await client.SendAsync("SETUP", url + "/trackID=2", [new("Transport", "RTP/AVP/TCP;unicast;interleaved=4-5")])).StatusCode);
        Assert.Equal(200, (await client.SendAsync("PLAY", url, [new("Range", "npt=0.000-")])).StatusCode);
        await Wait.UntilAsync(() => client.InterleavedFrames(0) >= 20, "live video on the talk session", 10_000);
        Assert.Equal(0, client.InterleavedFrames(4)); // nothing comes back on the sendonly track
    }

    [Fact]
    public async Task Talk_AccountWithoutLiveView_GetsOnlyTheBackchannelTrack()
    {
        await using var gw = await TalkTestGateway.StartAsync(Camera.Url());
        gw.Grant((Bob, Privilege.TwoWayAudio));
        await using var client = await RtspTestClient.ConnectAsync(gw.LiveUrl(), TalkTestGateway.Credential(Bob));
        var describe = await client.SendAsync("DESCRIBE", gw.LiveUrl().ToString(), [new("Require", Require)]);
        Assert.Equal(200, describe.StatusCode);
        var media = TestSdp.ParseMedia(describe.Body);
        Assert.Single(media);
        Assert.True(media[0].IsSendOnly);
        // SETUP and PLAY without the Require header (as GStreamer sends them) still belong to the talk session.
        var url = gw.LiveUrl().ToString();
        Assert.Equal(200, (await client.SendAsync("SETUP", url + "/trackID=0", [new("Transport", "RTP/AVP/TCP;unicast;interleaved=0-1")])).StatusCode);
        Assert.Equal(200, (await client.SendAsync("PLAY", url, [new("Range", "npt=0.000-")])).StatusCode);
        Assert.True(gw.Talk.Floor.IsHeld(TalkTestGateway.DeviceId, 1));
        await client.SendAsync("TEARDOWN", url);

        // Without Require it is a plain live request: no liveView, 403.
        await using var again = await RtspTestClient.ConnectAsync(gw.LiveUrl(), TalkTestGateway.Credential(Bob));
        Assert.Equal(403, (await again.SendAsync("DESCRIBE", gw.LiveUrl().ToString())).StatusCode);
    }

    [Fact]
    public async Task Talk_GrantLosesLiveView_StopsThePictures_ButNotTheTalk()
    {
        await using var gw = await TalkTestGateway.StartAsync(Camera.Url());
        gw.Grant((Bob, Privilege.LiveView | Privilege.TwoWayAudio));
        await using var client = await RtspTestClient.ConnectAsync(gw.LiveUrl(), TalkTestGateway.Credential(Bob));
        var url = gw.LiveUrl().ToString();
        Assert.Equal(200, (await client.SendAsync("DESCRIBE", url, [new("Require", Require)])).StatusCode);
        Assert.Equal(200, (await client.SendAsync("SETUP", url + "/trackID=0", [new("Transport", "RTP/AVP/TCP;unicast;interleaved=0-1")])).StatusCode);
        Assert.Equal(200, (await client.SendAsync("SETUP", url + "/trackID=2", [new("Transport", "RTP/AVP/TCP;unicast;interleaved=4-5")])).StatusCode);
        Assert.Equal(200, (await client.SendAsync("PLAY", url)).StatusCode);
        await Wait.UntilAsync(() => client.InterleavedFrames(0) >= 10, "live video on the talk session", 10_000);

        // Bob keeps the talk and loses the pictures; Carol may watch, and is the witness that the camera goes on.
        gw.Grant((Bob, Privilege.TwoWayAudio), (Carol, Privilege.LiveView));
        // The grants' Changed handlers run inside Grant, so Bob's video is unsubscribed now. A response goes out behind
        // everything queued on his connection before it (one writer per viewer socket): after it, nothing is in flight.
        Assert.Equal(200, (await client.SendAsync("GET_PARAMETER", url)).StatusCode);
        var frames = client.InterleavedFrames(0);

        await using (var carol = await RtspTestClient.ConnectAsync(gw.LiveUrl(), TalkTestGateway.Credential(Carol)))
        {
            Assert.Equal(200, (await carol.SendAsync("DESCRIBE", url)).StatusCode);
            Assert.Equal(200, (await carol.SendAsync("SETUP", url + "/trackID=0", [new("Transport", "RTP/AVP/TCP;unicast;interleaved=0-1")])).StatusCode);
            Assert.Equal(200, (await carol.SendAsync("PLAY", url)).StatusCode);
            // A second of video (25 fps) reaches Carol from the same camera stream ...
            await Wait.UntilAsync(() => carol.InterleavedFrames(0) >= 25, "live video for the witness", 10_000);
        }
        // ... and none of it reached Bob: a second barrier on his connection flushes anything sent meanwhile.
        Assert.Equal(200, (await client.SendAsync("GET_PARAMETER", url)).StatusCode);
        Assert.Equal(frames, client.InterleavedFrames(0));
        Assert.False(client.IsClosed);
        Assert.True(gw.Talk.Floor.IsHeld(TalkTestGateway.DeviceId, 1));
    }

    [Fact]
    public async Task Talk_SecondTalker_Gets453_UntilTheFirstLeaves()
    {
        await using var gw = await TalkTestGateway.StartAsync(Camera.Url());
        gw.Grant((Bob, Privilege.LiveView | Privilege.TwoWayAudio), (Carol, Privilege.TwoWayAudio));
        var first = await BackchannelTalker.StartAsync(gw.LiveUrl(), TalkTestGateway.Credential(Bob));
        try
        {
            await using var second = await RtspTestClient.ConnectAsync(gw.LiveUrl(), TalkTestGateway.Credential(Carol));
            var busy = await second.SendAsync("DESCRIBE", gw.LiveUrl().ToString(), [new("Require", Require)]);
            Assert.Equal(453, busy.StatusCode);
            // The sub stream URL is the same speaker.
            var sub = await second.SendAsync("DESCRIBE", gw.LiveUrl(stream: "sub").ToString(), [new("Require", Require)]);
            Assert.True(sub.StatusCode is 453 or 404, sub.ToString());
        }
        finally
        {
            await first.TeardownAsync();
            await first.DisposeAsync();
        }
        await Wait.UntilAsync(() => !gw.Talk.Floor.IsHeld(TalkTestGateway.DeviceId, 1), "the floor is free again", 3000);
        await using var third = await BackchannelTalker.StartAsync(gw.LiveUrl(), TalkTestGateway.Credential(Carol));
        Assert.True(third.Track.IsSendOnly);
    }

    [Fact]
    public async Task Talk_WithoutTwoWayAudio_Gets403_WithoutToken_Gets401_BadToken_Gets401()
    {
        await using var gw = await TalkTestGateway.StartAsync(Camera.Url());
        gw.Grant((Carol, Privilege.LiveView));
        var url = gw.LiveUrl().ToString();

        await using (var anonymous = await RtspTestClient.ConnectAsync(gw.LiveUrl()))
        {
            var r = await anonymous.SendAsync("DESCRIBE", url, [new("Require", Require)]);
            Assert.Equal(401, r.StatusCode);
            Assert.StartsWith("Basic ", r.Header("WWW-Authenticate"));
        }
        await using (var bad = await RtspTestClient.ConnectAsync(gw.LiveUrl()))
        {
            Assert.Equal(401, (await bad.SendAsync("DESCRIBE", url + "?token=not.a.jwt", [new("Require", Require)])).StatusCode);
        }
        await using (var carol = await RtspTestClient.ConnectAsync(gw.LiveUrl(), TalkTestGateway.Credential(Carol)))
        {
            Assert.Equal(403, (await carol.SendAsync("DESCRIBE", url, [new("Require", Require)])).StatusCode);
            Assert.Equal(200, (await carol.SendAsync("DESCRIBE", url)).StatusCode); // she may watch, not talk
        }
        Assert.False(gw.Talk.Floor.IsHeld(TalkTestGateway.DeviceId, 1)); // a refused talker never touched the device
    }

    [Fact]
    public async Task Talk_GrantLosesTwoWayAudio_CutsTheTalker_AndFreesTheFloor()
    {
        await using var gw = await TalkTestGateway.StartAsync(Camera.Url());
        gw.Grant((Bob, Privilege.LiveView | Privilege.TwoWayAudio));
        await using var talker = await BackchannelTalker.StartAsync(gw.LiveUrl(), TalkTestGateway.Credential(Bob));
        await talker.SendPcmuAsync(new byte[1600]);
        Assert.False(talker.ConnectionClosed);

        var started = DateTime.UtcNow;
        gw.Grant((Bob, Privilege.LiveView)); // still a viewer, no longer a talker
        await Wait.UntilAsync(() => talker.ConnectionClosed, "the gateway closes the talker's connection", 2000);
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(1), $"cut after {(DateTime.UtcNow - started).TotalMilliseconds:0} ms");
        await Wait.UntilAsync(() => !gw.Talk.Floor.IsHeld(TalkTestGateway.DeviceId, 1), "the floor is free again", 3000);
    }

    private static long FileLength(string path) => File.Exists(path) ? new FileInfo(path).Length : 0;
}

/// <summary>A camera without a backchannel: the gateway answers 551 with the Unsupported header.</summary>
[Trait("Category", "Integration")]
public sealed class NoBackchannelTests
{
    [Fact]
    public async Task Talk_CameraWithoutBackchannel_Gets551_WithUnsupportedHeader()
    {
        await using var camera = await GstRtspCamera.StartAsync(new GstCameraOptions { Backchannel = false });
        await using var gw = await TalkTestGateway.StartAsync(camera.Url());
        gw.Grant((Bob, Privilege.LiveView | Privilege.TwoWayAudio));
        await using var client = await RtspTestClient.ConnectAsync(gw.LiveUrl(), TalkTestGateway.Credential(Bob));
        var r = await client.SendAsync("DESCRIBE", gw.LiveUrl().ToString(), [new("Require", BackchannelTalker.RequireBackchannel)]);
        Assert.Equal(551, r.StatusCode);
        Assert.Equal(BackchannelTalker.RequireBackchannel, r.Header("Unsupported"));
        Assert.False(gw.Talk.Floor.IsHeld(TalkTestGateway.DeviceId, 1));
        Assert.Equal(200, (await client.SendAsync("DESCRIBE", gw.LiveUrl().ToString())).StatusCode); // live still works
    }
}
