using System.Diagnostics;
using HikShareGateway.Core.Access;
using HikShareGateway.Media;
using HikShareGateway.Rtsp.Protocol;
using HikShareGateway.Rtsp.Server;
using HikShareGateway.Tests.Infrastructure;
using static HikShareGateway.Tests.Access.AccessTestKit;
using static HikShareGateway.Tests.Rtsp.Relay.RelayHarness;

namespace HikShareGateway.Tests.Rtsp.Relay;

/// <summary>The shared live relay: one upstream per stream, GOP start, linger, reconnect, slow viewers.</summary>
[Trait("Category", "Unit")]
public sealed class RelayFanoutTests
{
    [Fact]
    public async Task ManyViewers_ShareOneUpstreamSession()
    {
        await using var h = await StartAsync();
        h.Grant(LiveShare(Bob));
        var clients = new List<RtspTestClient>();
        try
        {
            for (var i = 0; i < 8; i++)
            {
                var c = await RtspTestClient.ConnectAsync(h.Port);
                clients.Add(c);
                Assert.Equal(200, (await c.PlayAsync(h.Url(token: Token(Bob)))).Play.StatusCode);
            }
            foreach (var c in clients)
            {
                Assert.Equal(20, (await c.ReadPacketsAsync(20, TimeSpan.FromSeconds(10))).Count);
            }
            Assert.Equal(1, h.Camera!.Plays);
            Assert.Single(h.Relay.Streams);
            Assert.Equal(8, h.Relay.Streams[0].SubscriberCount);
        }
        finally
        {
            foreach (var c in clients)
            {
                await c.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task MainAndSub_AreSeparateUpstreams()
    {
        await using var h = await StartAsync();
        h.Grant(LiveShare(Bob));
        await using var main = await RtspTestClient.ConnectAsync(h.Port);
        await using var sub = await RtspTestClient.ConnectAsync(h.Port);
        Assert.Equal(200, (await main.PlayAsync(h.Url(token: Token(Bob)))).Play.StatusCode);
        Assert.Equal(200, (await sub.PlayAsync(h.Url("/live/" + Device + "/1/sub", Token(Bob)))).Play.StatusCode);
        Assert.NotEmpty(await sub.ReadPacketsAsync(5, TimeSpan.FromSeconds(10)));
        Assert.Equal(2, h.Camera!.Plays);
        Assert.Equal(2, h.Relay.Streams.Count);
    }

    [Fact]
    public async Task JoiningARunningStream_FirstPacketIsAKeyframeStart_AndArrivesAtOnce()
    {
        await using var h = await StartAsync();
        h.Grant(LiveShare(Bob));
        await using var first = await RtspTestClient.ConnectAsync(h.Port);
        Assert.Equal(200, (await first.PlayAsync(h.Url(token: Token(Bob)))).Play.StatusCode);
        // Let the stream run into the middle of a GOP (one IDR per second in the clip).
        Assert.NotEmpty(await first.ReadPacketsAsync(60, TimeSpan.FromSeconds(10)));
        for (var round = 0; round < 3; round++)
        {
            await using var joiner = await RtspTestClient.ConnectAsync(h.Port);
            var (describe, play) = await joiner.PlayAsync(h.Url(token: Token(Bob)));
            Assert.Equal(200, play.StatusCode);
            var sw = Stopwatch.StartNew();
            var packets = await joiner.ReadPacketsAsync(1, TimeSpan.FromSeconds(5));
            // The cached GOP is queued right behind the PLAY response: no wait for the next IDR (up to 1 s away).
            Assert.True(sw.ElapsedMilliseconds < 500, $"first packet after {sw.ElapsedMilliseconds} ms");
            Assert.True(RtpPacket.TryParse(packets[0], out var rtp));
            var mark = KeyframeDetector.H264(rtp.Payload);
            Assert.True(mark is KeyframeMark.ParameterSets or KeyframeMark.KeyframeSlice, $"first packet is {mark}");
            await Task.Delay(137 * (round + 1));
        }
    }

    [Fact]
    public async Task SequenceNumbersAreContiguous_ForAViewer()
    {
        await using var h = await StartAsync();
        h.Grant(LiveShare(Bob));
        await using var c = await RtspTestClient.ConnectAsync(h.Port);
        Assert.Equal(200, (await c.PlayAsync(h.Url(token: Token(Bob)))).Play.StatusCode);
        var packets = await c.ReadPacketsAsync(300, TimeSpan.FromSeconds(15));
        Assert.Equal(300, packets.Count);
        ushort? last = null;
        foreach (var p in packets)
        {
            Assert.True(RtpPacket.TryParse(p, out var rtp));
            if (last is { } l)
            {
                Assert.Equal((ushort)(l + 1), rtp.SequenceNumber);
            }
            last = rtp.SequenceNumber;
        }
    }

    [Fact]
    public async Task ViewerChoosesOtherInterleavedChannels_HeaderRewrittenForIt()
    {
        await using var h = await StartAsync();
        h.Grant(LiveShare(Bob));
        await using var c = await RtspTestClient.ConnectAsync(h.Port);
        var url = h.Url(token: Token(Bob));
        Assert.Equal(200, (await c.RequestAsync("DESCRIBE", url)).StatusCode);
        var setup = await c.RequestAsync("SETUP", h.Url() + "/trackID=0", ("Transport", "RTP/AVP/TCP;unicast;interleaved=6-7"));
        Assert.Equal(200, setup.StatusCode);
        Assert.Contains("interleaved=6-7", setup.Header("Transport"));
        Assert.Equal(200, (await c.RequestAsync("PLAY", url, ("Session", setup.Header("Session")!.Split(';')[0]))).StatusCode);
        Assert.Equal(10, (await c.ReadPacketsAsync(10, TimeSpan.FromSeconds(10), channel: 6)).Count);
    }

    [Fact]
    public async Task LastViewerLeaves_UpstreamClosesAfterLinger_AndAQuickReturnReusesIt()
    {
        await using var h = await StartAsync();
        h.Grant(LiveShare(Bob));
        await using (var c = await RtspTestClient.ConnectAsync(h.Port))
        {
            Assert.Equal(200, (await c.PlayAsync(h.Url(token: Token(Bob)))).Play.StatusCode);
            Assert.NotEmpty(await c.ReadPacketsAsync(5, TimeSpan.FromSeconds(10)));
        }
        // Back within the linger time (300 ms in the harness): same upstream.
        await using (var c = await RtspTestClient.ConnectAsync(h.Port))
        {
            Assert.Equal(200, (await c.PlayAsync(h.Url(token: Token(Bob)))).Play.StatusCode);
            Assert.NotEmpty(await c.ReadPacketsAsync(5, TimeSpan.FromSeconds(10)));
        }
        Assert.Equal(1, h.Camera!.Plays);
        await Wait.UntilAsync(() => h.Relay.Streams.Count == 0 && h.Camera.Streaming == 0, "h.Relay.Streams.Count == 0 && h.Camera.Streaming == 0");
    }

    [Fact]
    public async Task UpstreamDrops_Reconnects_ViewerKeepsItsConnectionAndGetsMediaAgain()
    {
        await using var h = await StartAsync();
        h.Grant(LiveShare(Bob));
        await using var c = await RtspTestClient.ConnectAsync(h.Port);
        Assert.Equal(200, (await c.PlayAsync(h.Url(token: Token(Bob)))).Play.StatusCode);
        var before = await c.ReadPacketsAsync(10, TimeSpan.FromSeconds(10));
        Assert.NotEmpty(before);
        await h.RestartCameraAsync(TimeSpan.FromMilliseconds(500));
        // Media again on the same viewer connection: the new camera session picks a new SSRC, sequence and timestamp
        // base; the viewer must see one continuous stream (same SSRC, sequence +1, timestamps moving on by the gap).
        var again = await c.ReadPacketsAsync(150, TimeSpan.FromSeconds(15));
        Assert.True(again.Count >= 150, $"only {again.Count} packets after the camera came back");
        Assert.True(h.Camera!.Plays >= 1);
        Assert.Single(h.Registry.ActiveSessions);
        uint? ssrc = null;
        ushort? lastSeq = null;
        uint? lastTs = null;
        var biggestJump = 0L;
        foreach (var p in before.Concat(again))
        {
            Assert.True(RtpPacket.TryParse(p, out var rtp));
            ssrc ??= rtp.Ssrc;
            Assert.Equal(ssrc, rtp.Ssrc);
            if (lastSeq is { } ls)
            {
                Assert.Equal((ushort)(ls + 1), rtp.SequenceNumber);
                var step = (int)(rtp.Timestamp - lastTs!.Value);
                Assert.True(step >= 0, $"timestamp went back by {-step}");
                biggestJump = Math.Max(biggestJump, step);
            }
            lastSeq = rtp.SequenceNumber;
            lastTs = rtp.Timestamp;
        }
        // The outage (camera down 0.5 s and reconnect backoff) shows as one timestamp jump of about its length at 90 kHz.
        Assert.InRange(biggestJump, 90_000 / 4, 90_000 * 10);
    }

    [Fact]
    public async Task CameraRefusesTcp_461_GatewayTakesRtpOverUdp_ViewersStillGetTcpInterleaved()
    {
        await using var h = await StartAsync(new Options { UdpOnlyCamera = true });
        h.Grant(LiveShare(Bob));
        await using var c = await RtspTestClient.ConnectAsync(h.Port);
        Assert.Equal(200, (await c.PlayAsync(h.Url(token: Token(Bob)))).Play.StatusCode);
        var packets = await c.ReadPacketsAsync(50, TimeSpan.FromSeconds(10));
        Assert.Equal(50, packets.Count);
        Assert.All(packets, p => Assert.True(RtpPacket.TryParse(p, out _)));
        Assert.Equal(1, h.Camera!.Plays);
    }

    [Fact]
    public async Task UnreachableDevice_Describe502Quickly_AndTheGatewayCarriesOn()
    {
        var dead = Infrastructure.PortAllocator.GetFreeTcpPort();
        await using var h = await StartAsync(new Options { MainUri = new Uri($"rtsp://127.0.0.1:{dead}/Streaming/Channels/101") });
        h.Grant(LiveShare(Bob));
        await using var c = await RtspTestClient.ConnectAsync(h.Port);
        var sw = Stopwatch.StartNew();
        var r = await c.RequestAsync("DESCRIBE", h.Url(token: Token(Bob)));
        Assert.Equal(502, r.StatusCode);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(5));
        Assert.DoesNotContain(dead.ToString(), r.Body); // no upstream address in what viewers see
        Assert.Empty(h.Relay.Streams);
        // The connection still answers.
        Assert.Equal(200, (await c.RequestAsync("OPTIONS", "*")).StatusCode);
    }

    [Fact]
    public async Task WrongDevicePassword_502_AndNoCredentialInTheAnswer()
    {
        await using var h = await StartAsync(new Options { Credentials = new HikShareGateway.Core.Devices.DeviceCredentials(CameraUser, "wrong-password") });
        h.Grant(LiveShare(Bob));
        await using var c = await RtspTestClient.ConnectAsync(h.Port);
        var r = await c.RequestAsync("DESCRIBE", h.Url(token: Token(Bob)));
        Assert.Equal(502, r.StatusCode);
        Assert.Contains("credentials", r.Body);
        Assert.DoesNotContain("wrong-password", r.Body);
    }

    [Fact]
    public async Task Sdp_IsRebuilt_NoCameraAddressCredentialOrUpstreamPath()
    {
        await using var h = await StartAsync();
        h.Grant(LiveShare(Bob));
        await using var c = await RtspTestClient.ConnectAsync(h.Port);
        var r = await c.RequestAsync("DESCRIBE", h.Url(token: Token(Bob)));
        Assert.Equal(200, r.StatusCode);
        Assert.Equal("application/sdp", r.Header("Content-Type"));
        var sdp = r.Body;
        Assert.DoesNotContain("Streaming", sdp);
        Assert.DoesNotContain(h.CameraPort.ToString(), sdp);
        Assert.DoesNotContain(CameraPassword, sdp);
        Assert.DoesNotContain("demo camera", sdp);
        var parsed = SessionDescription.Parse(sdp);
        var video = Assert.Single(parsed.Media);
        Assert.Equal(VideoCodec.H264, video.VideoCodec);
        Assert.Equal("trackID=0", video.Control);
        Assert.Contains("sprop-parameter-sets=", video.Attribute("fmtp"));
        foreach (var (name, value) in r.Headers)
        {
            Assert.DoesNotContain(h.CameraPort.ToString(), value);
        }
    }

    [Fact]
    public async Task SlowViewer_SkipsToKeyframeThenIsDisconnected_OthersUntouched()
    {
        var limits = new ViewerQueueLimits(MaxBytes: 48 * 1024, MaxDelay: TimeSpan.FromMilliseconds(300), MaxOverflows: 2, OverflowWindow: TimeSpan.FromSeconds(30), StalledSend: TimeSpan.FromSeconds(3), SendBufferBytes: 32 * 1024);
        await using var h = await StartAsync(new Options { QueueLimits = limits });
        h.Grant(LiveShare(Bob));
        await using var fast = await RtspTestClient.ConnectAsync(h.Port);
        await using var slow = await RtspTestClient.ConnectAsync(h.Port, receiveBuffer: 4096);
        Assert.Equal(200, (await fast.PlayAsync(h.Url(token: Token(Bob)))).Play.StatusCode);
        Assert.Equal(200, (await slow.PlayAsync(h.Url(token: Token(Bob)))).Play.StatusCode);
        var slowConnection = h.Server.Connections.Single(x => x.Remote.EndsWith(":" + ((System.Net.IPEndPoint)slow.Socket.LocalEndPoint!).Port));
        // The slow viewer stops reading; the fast one keeps up for several seconds.
        var fastPackets = await fast.ReadPacketsAsync(400, TimeSpan.FromSeconds(20));
        Assert.Equal(400, fastPackets.Count);
        await Wait.UntilAsync(() => slowConnection.Output.PacketsDropped > 0 || !h.Server.Connections.Contains(slowConnection), "slowConnection.Output.PacketsDropped > 0 || !h.Server.Connections.Contains(slowConnection)", 10000);
        await Wait.UntilAsync(() => !h.Server.Connections.Contains(slowConnection), "!h.Server.Connections.Contains(slowConnection)", 15000);
        Assert.True(await slow.WaitClosedAsync(TimeSpan.FromSeconds(10)));
        // Still flowing to the fast viewer, in sequence.
        Assert.Equal(50, (await fast.ReadPacketsAsync(50, TimeSpan.FromSeconds(10))).Count);
    }
}
