using System.Text.Json;
using System.Text.RegularExpressions;
using HikShareGateway.Composition;
using HikShareGateway.Core.Cloud;
using HikShareGateway.Core.Devices;
using HikShareGateway.Tests.Infrastructure;
using HikShareGateway.WebRtc.Viewing;
using Microsoft.Playwright;
using Xunit.Abstractions;

namespace HikShareGateway.Tests.WebRtc;

/// <summary>
/// WebRTC signalling through the cloud (contract v1.1 §3.1) against the real demo process: the test is the cloud,
/// relaying Chromium's offer and the gateway's answer over the demo's MQTT broker; the token in the offer decides.
/// </summary>
[Trait("Category", "Integration")]
public sealed partial class CloudSignallingTests(ITestOutputHelper output)
{
    private const string CreateOffer = """
        async () => {
          const pc = new RTCPeerConnection();
          window.pc = pc;
          pc.addTransceiver('video', { direction: 'recvonly' });
          pc.addTransceiver('audio', { direction: 'recvonly' });
          await pc.setLocalDescription(await pc.createOffer());
          return pc.localDescription.sdp;
        }
        """;

    private const string FramesDecoded = """
        async () => {
          let frames = 0;
          (await window.pc.getStats()).forEach(r => { if (r.type === 'inbound-rtp' && r.kind === 'video') frames = r.framesDecoded || 0; });
          return frames;
        }
        """;

    [Fact]
    public async Task CloudOffer_WithTheViewersToken_IsAnsweredOnTheAnswerTopic_ChromiumDecodes_CloseEndsIt_BadTokenGets401()
    {
        await using var demo = await DemoGatewayProcess.StartAsync(new Dictionary<string, string> { ["HIKSHARE_WebRtc__IncludeLoopback"] = "true" });
        var broker = int.Parse(BrokerPort().Match(demo.Output).Groups["port"].Value);
        var topics = new CloudTopics(CloudTopics.DefaultPrefix, DemoDefaults.GatewayId);
        await using var cloud = await MosquittoTestClient.ConnectAsync(broker);
        await cloud.SubscribeAsync(topics.WebRtcAnswer);
        await cloud.SubscribeAsync(topics.WebRtcClose);

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = "/usr/bin/chromium",
            Headless = true,
            Args = ["--allow-loopback-in-peer-connection", "--no-sandbox"],
        });
        var page = await browser.NewPageAsync();
        var sdp = await page.EvaluateAsync<string>(CreateOffer);

        // A bad token: 401 with a problem, no session.
        await cloud.PublishAsync(topics.WebRtcOffer, JsonSerializer.SerializeToUtf8Bytes(new
        {
            sessionId = "cloud-bad", token = demo.Token[..^4] + "AAAA", path = "/live/demo-nvr-1/1/main", sdp,
        }), retain: false);
        var refused = await cloud.WaitForAsync(topics.WebRtcAnswer, p => p.Contains("\"cloud-bad\""), 20_000);
        using (var doc = JsonDocument.Parse(refused.Payload))
        {
            Assert.Equal(401, doc.RootElement.GetProperty("status").GetInt32());
            Assert.Equal(401, doc.RootElement.GetProperty("problem").GetProperty("status").GetInt32());
            Assert.False(doc.RootElement.TryGetProperty("sdp", out _));
        }

        // The viewer's own token: 201 and the answer; Chromium plays it.
        await cloud.PublishAsync(topics.WebRtcOffer, JsonSerializer.SerializeToUtf8Bytes(new
        {
            sessionId = "cloud-1", token = demo.Token, path = "/live/demo-nvr-1/1/main", sdp,
            iceServers = Array.Empty<object>(),
        }), retain: false);
        var answered = await cloud.WaitForAsync(topics.WebRtcAnswer, p => p.Contains("\"cloud-1\""), 20_000);
        string answer;
        using (var doc = JsonDocument.Parse(answered.Payload))
        {
            Assert.Equal(201, doc.RootElement.GetProperty("status").GetInt32());
            answer = doc.RootElement.GetProperty("sdp").GetString()!;
        }
        await page.EvaluateAsync("sdp => window.pc.setRemoteDescription({ type: 'answer', sdp })", answer);
        var frames = 0;
        await Wait.UntilAsync(async () => (frames = await page.EvaluateAsync<int>(FramesDecoded)) >= 25, "25 frames decoded by Chromium", 30_000);
        output.WriteLine($"framesDecoded {frames} through cloud signalling");
        await demo.WaitForOutputAsync("started (cloud)");

        // The cloud closes it: the gateway ends the session (and says why in its log).
        await cloud.PublishAsync(topics.WebRtcClose, JsonSerializer.SerializeToUtf8Bytes(new { sessionId = "cloud-1", reason = "viewer left" }), retain: false);
        await demo.WaitForOutputAsync("ended: closed through the cloud: viewer left", 20_000);
    }

    [Theory]
    [InlineData("/live/dev/1/main", true, "dev", 1, StreamKind.Main)]
    [InlineData("/live/dev/2", true, "dev", 2, StreamKind.Main)]
    [InlineData("/live/dev/3/sub", true, "dev", 3, StreamKind.Sub)]
    [InlineData("/live/dev/0/main", false, "", 0, StreamKind.Main)]
    [InlineData("/live/dev/1/third", false, "", 0, StreamKind.Main)]
    [InlineData("/live//1", false, "", 0, StreamKind.Main)]
    [InlineData("/playback/dev/1?start=20261125T100000Z", false, "", 0, StreamKind.Main)]
    [InlineData("/live/dev/-1", false, "", 0, StreamKind.Main)]
    [InlineData(null, false, "", 0, StreamKind.Main)]
    [Trait("Category", "Unit")]
    public void TryParseLivePath_AcceptsOnlyTheContractsLiveForms(string? path, bool ok, string device, int channel, StreamKind kind)
    {
        Assert.Equal(ok, CloudWebRtcSignalling.TryParseLivePath(path, out var d, out var c, out var k));
        if (ok)
        {
            Assert.Equal((device, channel, kind), (d, c, k));
        }
    }

    [Theory]
    [InlineData("/playback/dev/1?start=20261125T100000Z", true, "dev", 1, "2026-11-25T10:00:00Z", null)]
    [InlineData("/playback/dev%201/2?start=20261125T100000Z&end=20261125T100010Z", true, "dev 1", 2, "2026-11-25T10:00:00Z", "2026-11-25T10:00:10Z")]
    [InlineData("/playback/dev/1?end=20261125T100010Z&start=2026-11-25T10:00:00Z", true, "dev", 1, "2026-11-25T10:00:00Z", "2026-11-25T10:00:10Z")]
    [InlineData("/playback/dev/1", false, "", 0, null, null)]
    [InlineData("/playback/dev/1?end=20261125T100010Z", false, "", 0, null, null)]
    [InlineData("/playback/dev/1?start=20261125T100010Z&end=20261125T100000Z", false, "", 0, null, null)]
    [InlineData("/playback/dev/1?start=yesterday", false, "", 0, null, null)]
    [InlineData("/playback/dev/0?start=20261125T100000Z", false, "", 0, null, null)]
    [InlineData("/playback//1?start=20261125T100000Z", false, "", 0, null, null)]
    [InlineData("/playback/dev/1/main?start=20261125T100000Z", false, "", 0, null, null)]
    [InlineData("/live/dev/1?start=20261125T100000Z", false, "", 0, null, null)]
    [InlineData(null, false, "", 0, null, null)]
    [Trait("Category", "Unit")]
    public void TryParsePlaybackPath_AcceptsTheContractsPlaybackForm_WithAStartAndAnOptionalLaterEnd(string? path, bool ok, string device, int channel, string? start, string? end)
    {
        Assert.Equal(ok, CloudWebRtcSignalling.TryParsePlaybackPath(path, out var d, out var c, out var s, out var e));
        if (ok)
        {
            Assert.Equal((device, channel, DateTimeOffset.Parse(start!, System.Globalization.CultureInfo.InvariantCulture)), (d, c, s));
            Assert.Equal(end is null ? null : DateTimeOffset.Parse(end, System.Globalization.CultureInfo.InvariantCulture), e);
        }
    }

    [GeneratedRegex(@"publish --broker mqtt://127\.0\.0\.1:(?<port>\d+)")]
    private static partial Regex BrokerPort();
}
