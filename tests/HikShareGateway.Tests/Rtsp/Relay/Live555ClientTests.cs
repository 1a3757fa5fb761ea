using System.Text;
using HikShareGateway.Media;
using HikShareGateway.Rtsp.Protocol;
using HikShareGateway.Tests.Infrastructure;
using static HikShareGateway.Tests.Access.AccessTestKit;
using static HikShareGateway.Tests.Rtsp.Relay.RelayHarness;

namespace HikShareGateway.Tests.Rtsp.Relay;

/// <summary>
/// VLC's RTSP client, request for request. VLC plays RTSP through LIVE555's <c>RTSPClient</c> (VLC 3.0
/// <c>modules/access/live555.cpp</c>); Debian 12's VLC is built without it, so no real VLC can play RTSP
/// on this machine, and this test replays what that client sends instead:
/// OPTIONS; DESCRIBE without credentials, then again with <c>Authorization: Basic</c> after the 401 (the
/// user and password of <c>rtsp://user:password@host/…</c> only go out once challenged); per track a SETUP
/// over UDP first (<c>client_port</c>) and, on 461, the same SETUP over TCP (<c>interleaved</c> channels
/// numbered 0-1, 2-3 … in SETUP order), the later tracks over TCP at once; track URLs built from
/// <c>Content-Base</c> + "/" + control; PLAY of the aggregate URL with <c>Range: npt=0.000-</c>;
/// GET_PARAMETER keep-alives (since OPTIONS listed it); TEARDOWN.
/// </summary>
[Trait("Category", "Unit")]
public sealed class Live555ClientTests
{
    private const string UserAgent = "LibVLC/3.0.18 (LIVE555 Streaming Media v2016.11.28)";

    /// <param name="queryToken">
    /// false: <c>rtsp://bob%40example.com:TOKEN@host/…</c>, Basic after the challenge; true: <c>…/main?token=TOKEN</c>,
    /// where LIVE555 puts the track control after the query (<c>…/main?token=TOKEN/trackID=0</c>).
    /// </param>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task VlcRequestSequence_UdpThen461ThenTcp_PlaysFromAKeyframe(bool queryToken)
    {
        await using var h = await StartAsync();
        h.Grant(LiveShare(Bob));
        await using var c = await RtspTestClient.ConnectAsync(h.Port);
        var url = queryToken ? h.Url(token: Token(Bob)) : h.Url();
        (string, string) agent = ("User-Agent", UserAgent);
        (string, string)[] basic = queryToken ? [] : [("Authorization", "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes(Bob + ":" + Token(Bob))))];

        var options = await c.RequestAsync("OPTIONS", url, agent);
        Assert.Equal(200, options.StatusCode);
        Assert.Contains("GET_PARAMETER", options.Header("Public"));

        if (!queryToken)
        {
            var challenged = await c.RequestAsync("DESCRIBE", url, agent, ("Accept", "application/sdp"));
            Assert.Equal(401, challenged.StatusCode);
            Assert.StartsWith("Basic realm=\"HikShareGateway\"", challenged.Header("WWW-Authenticate"));
        }

        var describe = await c.RequestAsync("DESCRIBE", url, [agent, ("Accept", "application/sdp"), .. basic]);
        Assert.Equal(200, describe.StatusCode);
        Assert.Equal("application/sdp", describe.Header("Content-Type"));
        var sdp = SessionDescription.Parse(describe.Body);
        Assert.Equal("video", sdp.Media[0].Type);
        var baseUrl = describe.Header("Content-Base") ?? url;

        string? session = null;
        var tcp = false;
        for (var i = 0; i < sdp.Media.Count; i++)
        {
            var trackUrl = SubsessionUrl(baseUrl, sdp.Media[i].Control!);
            if (queryToken)
            {
                Assert.Matches(@"/main\?token=[^/]+/" + sdp.Media[i].Control + "$", trackUrl);
            }
            var sessionHeader = session is null ? [] : new[] { ("Session", session) };
            RtspResponse setup;
            if (!tcp)
            {
                setup = await c.RequestAsync("SETUP", trackUrl, [agent, ("Transport", $"RTP/AVP;unicast;client_port={50000 + 2 * i}-{50001 + 2 * i}"), .. basic, .. sessionHeader]);
                Assert.Equal(461, setup.StatusCode);
                tcp = true;
            }
            setup = await c.RequestAsync("SETUP", trackUrl, [agent, ("Transport", $"RTP/AVP/TCP;unicast;interleaved={2 * i}-{2 * i + 1}"), .. basic, .. sessionHeader]);
            Assert.Equal(200, setup.StatusCode);
            Assert.Contains($"interleaved={2 * i}-{2 * i + 1}", setup.Header("Transport"));
            session ??= setup.Header("Session")!.Split(';')[0];
        }

        var aggregate = sdp.SessionControl is null or "*" ? baseUrl : SubsessionUrl(baseUrl, sdp.SessionControl);
        var play = await c.RequestAsync("PLAY", aggregate, [agent, ("Session", session!), ("Range", "npt=0.000-"), .. basic]);
        Assert.Equal(200, play.StatusCode);

        var packets = await c.ReadPacketsAsync(100, TimeSpan.FromSeconds(15));
        Assert.Equal(100, packets.Count);
        Assert.True(RtpPacket.TryParse(packets[0], out var first));
        Assert.True(KeyframeDetector.H264(first.Payload) is KeyframeMark.ParameterSets or KeyframeMark.KeyframeSlice);

        // live555 sends its keep-alive with the session and no body; the stream goes on around the answer.
        var keepAlive = await c.RequestAsync("GET_PARAMETER", aggregate, [agent, ("Session", session!), .. basic]);
        Assert.Equal(200, keepAlive.StatusCode);
        Assert.Equal(10, (await c.ReadPacketsAsync(10, TimeSpan.FromSeconds(5))).Count);

        var teardown = await c.RequestAsync("TEARDOWN", aggregate, [agent, ("Session", session!), .. basic]);
        Assert.Equal(200, teardown.StatusCode);
        await Wait.UntilAsync(() => h.Registry.ActiveSessions.Count == 0, "the session ended after TEARDOWN");
    }

    /// <summary>LIVE555's rule: an absolute control as is; otherwise base + control, with a '/' between unless one side has it.</summary>
    private static string SubsessionUrl(string baseUrl, string control)
    {
        if (control.StartsWith("rtsp://", StringComparison.OrdinalIgnoreCase))
        {
            return control;
        }
        return baseUrl.EndsWith('/') || control.StartsWith('/') ? baseUrl + control : baseUrl + "/" + control;
    }
}
