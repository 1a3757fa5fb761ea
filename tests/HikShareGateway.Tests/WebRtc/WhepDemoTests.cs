using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.RegularExpressions;
using HikShareCloud;
using HikShareGateway.Composition;
using HikShareGateway.Core.Devices;
using HikShareGateway.Tests.Infrastructure;
using Microsoft.Playwright;
using Xunit.Abstractions;

namespace HikShareGateway.Tests.WebRtc;

/// <summary>
/// WHEP against the real demo process (demo recorder + embedded MQTT broker + signed grants): Debian's Chromium opens the
/// demo page the gateway serves, which does the WHEP POST itself; the share's removal by a grants delta cuts the session.
/// </summary>
[Trait("Category", "Integration")]
public sealed partial class WhepDemoTests(ITestOutputHelper output)
{
    private static readonly Dictionary<string, string> Environment = new()
    {
        // Chromium and the gateway on one machine: loopback candidates (Chromium needs --allow-loopback-in-peer-connection).
        ["HIKSHARE_WebRtc__IncludeLoopback"] = "true",
        ["HIKSHARE_WebRtc__MaxSessionsPerAccount"] = "3",
    };

    private const string FramesDecoded = """
        async () => {
          if (!window.pc) return 0;
          let frames = 0;
          (await window.pc.getStats()).forEach(r => { if (r.type === 'inbound-rtp' && r.kind === 'video') frames = r.framesDecoded || 0; });
          return frames;
        }
        """;

    [Fact]
    public async Task DemoPage_ChromiumDecodesTheLiveStreamOverWhep_RemovingTheShareClosesTheSessionWithin100ms()
    {
        await using var demo = await DemoGatewayProcess.StartAsync(Environment);
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = "/usr/bin/chromium",
            Headless = true,
            Args = ["--allow-loopback-in-peer-connection", "--no-sandbox", "--autoplay-policy=no-user-gesture-required"],
        });
        var page = await browser.NewPageAsync();
        var printed = Regex.Match(demo.Output, @"http://127\.0\.0\.1:\d+/webrtc-demo\.html#token=[A-Za-z0-9_\-\.]+");
        Assert.True(printed.Success, "the demo prints the browser URL:\n" + demo.Output);
        await page.GotoAsync(printed.Value);

        // framesDecoded rising: 25 frames (one second of the 25 fps demo clip), then more.
        var frames = 0;
        await Wait.UntilAsync(async () => (frames = await page.EvaluateAsync<int>(FramesDecoded)) >= 25,
            "25 frames decoded by Chromium", 30_000);
        var first = frames;
        await Wait.UntilAsync(async () => (frames = await page.EvaluateAsync<int>(FramesDecoded)) > first + 10,
            "framesDecoded still rising", 10_000);
        var status = await page.EvaluateAsync<int>("() => window.whep.status");
        var location = await page.EvaluateAsync<string>("() => window.whep.location");
        var firstFrameMs = await page.EvaluateAsync<double?>("() => window.whep.firstFrameMs");
        output.WriteLine($"WHEP {status} {location}; first frame {firstFrameMs:0} ms after the POST; framesDecoded {frames}");
        Assert.Equal(201, status);
        Assert.Matches("^/whep/sessions/[0-9a-f]{24}$", location);
        Assert.NotNull(firstFrameMs);
        var sessionId = location["/whep/sessions/".Length..];
        await demo.WaitForOutputAsync($"WebRTC session {sessionId} of viewer@example.com on demo-nvr-1/1 started (whep)");

        // The share goes: the demo's own revoke command, a signed delta published to the embedded broker.
        var revoke = Revoke().Match(demo.Output);
        Assert.True(revoke.Success, demo.Output);
        var delta = new StringWriter();
        Assert.Equal(0, await CloudTool.RunAsync(["delta", "--key", revoke.Groups["key"].Value, "--gateway", DemoDefaults.GatewayId, "--base", revoke.Groups["base"].Value,
            "--version", revoke.Groups["version"].Value, "--remove-share", DemoCloud.ShareId], delta, TextWriter.Null, TextReader.Null));
        Assert.Equal(0, await CloudTool.RunAsync(["publish", "--broker", revoke.Groups["broker"].Value, "--gateway", DemoDefaults.GatewayId, "--delta", "-"],
            TextWriter.Null, TextWriter.Null, new StringReader(delta.ToString())));
        var ended = $"WebRTC session {sessionId} ended: revoked";
        await demo.WaitForOutputAsync(ended, 20_000);

        // Measured on the gateway's own clock: the delta applied → the session closed. The store logs "Applied" after it
        // has swapped the grants in and the registry has revoked (it logs "Revoked session" then): the earlier of the two.
        await demo.WaitForOutputAsync("Applied grants Delta");
        var revokedLine = $"Revoked session {sessionId} of viewer@example.com on demo-nvr-1/1 (liveView)";
        var applied = LogTime(demo.Output, "Applied grants Delta");
        var revokedAt = LogTime(demo.Output, revokedLine);
        if (revokedAt < applied) applied = revokedAt;
        var closed = LogTime(demo.Output, ended);
        var latency = closed - applied;
        // Across midnight only; a small negative value is a close logged before the apply's own log lines.
        if (latency < -TimeSpan.FromHours(12)) latency += TimeSpan.FromDays(1);
        output.WriteLine($"grants delta applied → WebRTC session closed: {latency.TotalMilliseconds:0} ms");
        Assert.True(latency < TimeSpan.FromMilliseconds(100), $"closed {latency.TotalMilliseconds} ms after the delta was applied");
    }

    [Fact]
    public async Task Whep_RefusesLikeRtsp_401_403_404_415_400_422_503_AndDeleteEndsTheSession()
    {
        await using var demo = await DemoGatewayProcess.StartAsync(Environment);
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{demo.HttpPort}") };
        var offer = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "TestData", "webrtc", "chromium-recvonly-video-audio.sdp"));
        const string live = "/whep/live/demo-nvr-1/1/main";

        async Task<HttpResponseMessage> PostAsync(string path, string? token, string body, string contentType = "application/sdp")
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(body, Encoding.UTF8) };
            request.Content.Headers.ContentType = new MediaTypeHeaderValue(contentType);
            if (token is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            return await http.SendAsync(request);
        }

        Assert.Equal(HttpStatusCode.Unauthorized, (await PostAsync(live, null, offer)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await PostAsync(live, demo.Token[..^4] + "AAAA", offer)).StatusCode);
        // The viewer's share covers channel 1 only: channel 2 is not permitted (whether or not it exists).
        Assert.Equal(HttpStatusCode.Forbidden, (await PostAsync("/whep/live/demo-nvr-1/2/main", demo.Token, offer)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await PostAsync("/whep/live/no-such-device/1/main", demo.Token, offer)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await PostAsync("/whep/live/demo-nvr-1/0/main", demo.Token, offer)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await PostAsync("/whep/live/demo-nvr-1/1/third", demo.Token, offer)).StatusCode);
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, (await PostAsync(live, demo.Token, offer, "text/plain")).StatusCode);
        var garbage = await PostAsync(live, demo.Token, "this is not SDP");
        Assert.Equal(HttpStatusCode.BadRequest, garbage.StatusCode);
        Assert.Equal("application/problem+json", garbage.Content.Headers.ContentType?.MediaType);
        var noH264 = await PostAsync(live, demo.Token, offer.Replace(" H264/90000", " XVID/90000", StringComparison.Ordinal));
        Assert.Equal((HttpStatusCode)422, noH264.StatusCode);
        Assert.Contains("H264", await noH264.Content.ReadAsStringAsync());

        // Three sessions of one account are the configured maximum: the fourth is 503.
        var locations = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            var created = await PostAsync(live, demo.Token, offer);
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
            Assert.Equal("application/sdp", created.Content.Headers.ContentType?.MediaType);
            var answer = await created.Content.ReadAsStringAsync();
            Assert.DoesNotContain("a=ice-lite", answer); // A full ICE agent by default (it must check through NAT).
            Assert.Contains("a=candidate:", answer);
            Assert.Contains("a=setup:passive", answer);
            locations.Add(created.Headers.Location!.OriginalString);
        }
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await PostAsync(live, demo.Token, offer)).StatusCode);
        // Metrics: the WebRTC sessions by signalling, beside the viewer sessions by transport.
        var metrics = await http.GetStringAsync("/metrics");
        Assert.Contains("hikshare_webrtc_sessions", metrics);
        Assert.Contains("transport=\"webrtc\"", metrics);

        // PATCH (trickle) is accepted; DELETE ends the session, a second DELETE finds nothing; a slot is free again.
        using (var patch = new HttpRequestMessage(HttpMethod.Patch, locations[0]) { Content = new StringContent("a=candidate:1 1 udp 1 127.0.0.1 9 typ host\r\n") })
        {
            patch.Content.Headers.ContentType = new MediaTypeHeaderValue("application/trickle-ice-sdpfrag");
            patch.Headers.Authorization = new AuthenticationHeaderValue("Bearer", demo.Token);
            Assert.Equal(HttpStatusCode.NoContent, (await http.SendAsync(patch)).StatusCode);
        }
        async Task<HttpStatusCode> DeleteAsync(string location)
        {
            using var delete = new HttpRequestMessage(HttpMethod.Delete, location);
            delete.Headers.Authorization = new AuthenticationHeaderValue("Bearer", demo.Token);
            return (await http.SendAsync(delete)).StatusCode;
        }
        Assert.Equal(HttpStatusCode.OK, await DeleteAsync(locations[0]));
        Assert.Equal(HttpStatusCode.NotFound, await DeleteAsync(locations[0]));
        Assert.Equal(HttpStatusCode.Created, (await PostAsync(live, demo.Token, offer)).StatusCode);
        await demo.WaitForOutputAsync($"WebRTC session {locations[0]["/whep/sessions/".Length..]} ended: ended by the viewer (WHEP DELETE)");
    }

    /// <summary>The time of the first log line containing <paramref name="text"/> ("[HH:mm:ss.fff LVL] …").</summary>
    private static TimeSpan LogTime(string log, string text)
    {
        foreach (var line in log.Split('\n'))
        {
            if (line.Contains(text, StringComparison.Ordinal) && line.StartsWith('['))
            {
                return TimeSpan.ParseExact(line[1..13], @"hh\:mm\:ss\.fff", CultureInfo.InvariantCulture);
            }
        }
        throw new Xunit.Sdk.XunitException($"no log line with \"{text}\" in:\n{log}");
    }

    [GeneratedRegex(@"delta --key (?<key>\S+) --gateway \S+ --base (?<base>\d+) --version (?<version>\d+).*\n.*publish --broker (?<broker>\S+)")]
    private static partial Regex Revoke();
}
