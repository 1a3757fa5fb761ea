using HikShareGateway.Tests.Infrastructure;
using System.Net.Sockets;
using System.Text;
using static HikShareGateway.Tests.Access.AccessTestKit;
using static HikShareGateway.Tests.Rtsp.Relay.RelayHarness;

namespace HikShareGateway.Tests.Rtsp.Relay;

/// <summary>Bad input from viewers gets a clear answer and costs nothing: the server stays up, other viewers are untouched.</summary>
[Trait("Category", "Unit")]
public sealed class RelayRobustnessTests
{
    public static TheoryData<string> Garbage => new()
    {
        "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        "\u0001\u0002\u0003binary junk\r\n\r\n",
        "DESCRIBE rtsp://x/live RTSP/2.5\r\nCSeq: 1\r\n\r\n",
        "DESCRIBE\r\n\r\n",
        "OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nContent-Length: nope\r\n\r\n",
        "OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nContent-Length: 9999999\r\n\r\n",
    };

    [Theory]
    [MemberData(nameof(Garbage))]
    public async Task MalformedRequest_400AndClose_WhileAPlayingViewerIsUntouched(string junk)
    {
        await using var h = await StartAsync();
        h.Grant(LiveShare(Bob));
        await using var viewer = await RtspTestClient.ConnectAsync(h.Port);
        Assert.Equal(200, (await viewer.PlayAsync(h.Url(token: Token(Bob)))).Play.StatusCode);

        await using var bad = await RtspTestClient.ConnectAsync(h.Port);
        await bad.SendRawAsync(junk);
        var item = await bad.ReadAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(400, item.Message?.StatusCode);
        Assert.True(await bad.WaitClosedAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal(20, (await viewer.ReadPacketsAsync(20, TimeSpan.FromSeconds(10))).Count);
    }

    [Fact]
    public async Task HugeHeaders_RefusedWithoutBufferingThemAll()
    {
        await using var h = await StartAsync();
        await using var c = await RtspTestClient.ConnectAsync(h.Port);
        var sb = new StringBuilder("OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n");
        for (var i = 0; i < 2000; i++)
        {
            sb.Append("X-Filler-").Append(i).Append(": ").Append('a', 40).Append("\r\n");
        }
        try
        {
            await c.SendRawAsync(sb.ToString());
        }
        catch (IOException)
        {
            // The server may close while we are still sending: that is fine too.
        }
        var item = await c.ReadAsync(TimeSpan.FromSeconds(5));
        Assert.True(item.Closed || item.Message?.StatusCode == 400);
        Assert.True(item.Closed || await c.WaitClosedAsync(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task SlowLoris_IdleConnectionIsClosed()
    {
        await using var h = await StartAsync(new Options { IdleTimeout = TimeSpan.FromMilliseconds(500) });
        await using var c = await RtspTestClient.ConnectAsync(h.Port);
        await c.SendRawAsync("OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n"); // never finished
        Assert.True(await c.WaitClosedAsync(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task Setup_UdpOnly_461Immediately_TcpAlternativeAccepted()
    {
        await using var h = await StartAsync();
        h.Grant(LiveShare(Bob));
        await using var c = await RtspTestClient.ConnectAsync(h.Port);
        Assert.Equal(200, (await c.RequestAsync("DESCRIBE", h.Url(token: Token(Bob)))).StatusCode);
        var udp = await c.RequestAsync("SETUP", h.Url(token: Token(Bob)) + "/trackID=0", ("Transport", "RTP/AVP;unicast;client_port=5000-5001"));
        Assert.Equal(461, udp.StatusCode);
        // ffmpeg offers several alternatives at once; the TCP one is taken.
        var both = await c.RequestAsync("SETUP", h.Url(token: Token(Bob)) + "/trackID=0", ("Transport", "RTP/AVP;unicast;client_port=5000-5001,RTP/AVP/TCP;unicast;interleaved=0-1"));
        Assert.Equal(200, both.StatusCode);
    }

    [Theory]
    [InlineData("/live/dev")]
    [InlineData("/live/dev/0/main")]
    [InlineData("/live/dev/1/third")]
    [InlineData("/record/dev/1")]
    public async Task UnknownPathForm_404BeforeAuthentication(string path)
    {
        await using var h = await StartAsync();
        await using var c = await RtspTestClient.ConnectAsync(h.Port);
        Assert.Equal(404, (await c.RequestAsync("DESCRIBE", $"rtsp://127.0.0.1:{h.Port}{path}")).StatusCode);
    }

    [Fact]
    public async Task UnsupportedRequireOption_551WithUnsupportedHeader()
    {
        await using var h = await StartAsync();
        await using var c = await RtspTestClient.ConnectAsync(h.Port);
        var r = await c.RequestAsync("DESCRIBE", h.Url(token: Token(Bob)), ("Require", "com.example.teleport"));
        Assert.Equal(551, r.StatusCode);
        Assert.Equal("com.example.teleport", r.Header("Unsupported"));
    }

    [Fact]
    public async Task PlayWithoutSetup_455_AndWrongSession_454()
    {
        await using var h = await StartAsync();
        h.Grant(LiveShare(Bob));
        await using var c = await RtspTestClient.ConnectAsync(h.Port);
        Assert.Equal(455, (await c.RequestAsync("PLAY", h.Url(token: Token(Bob)))).StatusCode);
        Assert.Equal(200, (await c.RequestAsync("DESCRIBE", h.Url(token: Token(Bob)))).StatusCode);
        var setup = await c.RequestAsync("SETUP", h.Url(token: Token(Bob)) + "/trackID=0", ("Transport", "RTP/AVP/TCP;unicast;interleaved=0-1"));
        Assert.Equal(200, setup.StatusCode);
        Assert.Equal(454, (await c.RequestAsync("PLAY", h.Url(token: Token(Bob)), ("Session", "DEADBEEF"))).StatusCode);
        Assert.Equal(404, (await c.RequestAsync("SETUP", h.Url(token: Token(Bob)) + "/trackID=7", ("Transport", "RTP/AVP/TCP;unicast;interleaved=2-3"))).StatusCode);
    }

    [Fact]
    public async Task ManyConnectionsBeyondTheLimit_503_AndTheServerStaysUp()
    {
        // OPTIONS does not authenticate: the three held connections fill the unauthenticated pool.
        await using var h = await StartAsync(new Options { MaxConnections = 3, MaxUnauthenticated = 3 });
        var held = new List<RtspTestClient>();
        try
        {
            for (var i = 0; i < 3; i++)
            {
                var c = await RtspTestClient.ConnectAsync(h.Port);
                held.Add(c);
                Assert.Equal(200, (await c.RequestAsync("OPTIONS", "*")).StatusCode);
            }
            await using var extra = await RtspTestClient.ConnectAsync(h.Port);
            var item = await extra.ReadAsync(TimeSpan.FromSeconds(5));
            Assert.Equal(503, item.Message?.StatusCode);
        }
        finally
        {
            foreach (var c in held)
            {
                await c.DisposeAsync();
            }
        }
        await Wait.UntilAsync(() => h.Server.Connections.Count == 0, "h.Server.Connections.Count == 0");
        await using var again = await RtspTestClient.ConnectAsync(h.Port);
        Assert.Equal(200, (await again.RequestAsync("OPTIONS", "*")).StatusCode);
    }

    [Fact]
    public async Task ViewerVanishesMidStream_SessionEndsAndUpstreamLingersThenCloses()
    {
        await using var h = await StartAsync();
        h.Grant(LiveShare(Bob));
        var c = await RtspTestClient.ConnectAsync(h.Port);
        Assert.Equal(200, (await c.PlayAsync(h.Url(token: Token(Bob)))).Play.StatusCode);
        Assert.NotEmpty(await c.ReadPacketsAsync(5, TimeSpan.FromSeconds(10)));
        c.Socket.LingerState = new LingerOption(true, 0); // RST, no goodbye
        await c.DisposeAsync();
        await Wait.UntilAsync(() => h.Registry.ActiveSessions.Count == 0, "h.Registry.ActiveSessions.Count == 0");
        await Wait.UntilAsync(() => h.Relay.Streams.Count == 0, "h.Relay.Streams.Count == 0", 5000);
        Assert.Contains(h.Audit.Events, e => e.Decision == HikShareGateway.Core.Access.AuditDecision.End);
    }

    [Fact]
    public async Task RtcpAndJunkFramesFromAViewer_AreIgnored()
    {
        await using var h = await StartAsync();
        h.Grant(LiveShare(Bob));
        await using var c = await RtspTestClient.ConnectAsync(h.Port);
        Assert.Equal(200, (await c.PlayAsync(h.Url(token: Token(Bob)))).Play.StatusCode);
        await c.SendRawAsync([(byte)'$', 1, 0, 8, 0x81, 201, 0, 1, 1, 2, 3, 4, (byte)'$', 9, 0, 2, 0xFF, 0xFF]);
        var keepAlive = await c.RequestAsync("GET_PARAMETER", h.Url(), ("Session", "x"));
        Assert.Equal(200, keepAlive.StatusCode);
        Assert.Equal(10, (await c.ReadPacketsAsync(10, TimeSpan.FromSeconds(10))).Count);
    }
}
