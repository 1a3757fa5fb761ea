using System.Net;
using System.Net.Http.Headers;
using System.Text;
using HikShareGateway.Composition;
using HikShareGateway.Tests.Infrastructure;
using Microsoft.Playwright;
using Xunit.Abstractions;

namespace HikShareGateway.Tests.WebRtc;

/// <summary>
/// An H.265 camera (gst-rtsp-server, x265enc) as the demo gateway's sub stream, watched over WHEP by Debian's Chromium,
/// which has no H.265 decoder for WebRTC: its offer has no H.265, so the gateway answers H.264 from the FFmpeg
/// transcoder's derived stream. With <c>Media:MaxTranscoders</c> = 1 a second viewer is still served: the transcoder is
/// shared. An offer that does carry H.265 is answered with it (passed through, no transcoder).
/// </summary>
[Trait("Category", "Integration")]
public sealed class WhepH265Tests(ITestOutputHelper output)
{
    private const string CreateOffer = """
        async () => {
          const pc = new RTCPeerConnection();
          (window.pcs = window.pcs || []).push(pc);
          pc.addTransceiver('video', { direction: 'recvonly' });
          pc.addTransceiver('audio', { direction: 'recvonly' });
          await pc.setLocalDescription(await pc.createOffer());
          return pc.localDescription.sdp;
        }
        """;

    private const string Stats = """
        async (i) => {
          const pc = window.pcs[i];
          let frames = 0, codec = '', codecId = '';
          const stats = await pc.getStats();
          stats.forEach(r => { if (r.type === 'inbound-rtp' && r.kind === 'video') { frames = r.framesDecoded || 0; codecId = r.codecId; } });
          if (codecId && stats.get(codecId)) codec = stats.get(codecId).mimeType;
          return frames + ' ' + codec;
        }
        """;

    [Fact]
    public async Task ChromiumWithoutH265_DecodesTheH265CameraThroughTheSharedTranscoder_AnH265OfferGetsH265()
    {
        await using var camera = await GstRtspCamera.StartAsync(new GstCameraOptions
        {
            Codec = GstVideoCodec.H265, Backchannel = false, User = "admin", Password = "Gst-Pa55",
        });
        await using var demo = await DemoGatewayProcess.StartAsync(new Dictionary<string, string>
        {
            ["HIKSHARE_WebRtc__IncludeLoopback"] = "true",
            ["HIKSHARE_Media__MaxTranscoders"] = "1",
            // The demo recorder takes the main URL's port: the H.265 camera is the channel's sub stream.
            ["HIKSHARE_Devices__0__Channels__0__Sub"] = camera.Url().ToString(),
            ["HIKSHARE_Devices__0__Username"] = "admin",
            ["HIKSHARE_Devices__0__Password"] = "Gst-Pa55",
        });
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{demo.HttpPort}") };
        const string path = $"/whep/live/{DemoDefaults.DeviceId}/1/sub";

        async Task<(HttpStatusCode Status, string Body, string? Location)> PostAsync(string offer)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(offer, Encoding.UTF8) };
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/sdp");
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", demo.Token);
            using var response = await http.SendAsync(request);
            return (response.StatusCode, await response.Content.ReadAsStringAsync(), response.Headers.Location?.OriginalString);
        }

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = "/usr/bin/chromium",
            Headless = true,
            Args = ["--allow-loopback-in-peer-connection", "--no-sandbox"],
        });
        var page = await browser.NewPageAsync();

        // Two viewers on one transcoder (Media:MaxTranscoders = 1: a second transcoder would be a 503).
        var offers = new List<string>();
        for (var i = 0; i < 2; i++)
        {
            var offer = await page.EvaluateAsync<string>(CreateOffer);
            Assert.DoesNotContain("H265/90000", offer); // Debian's Chromium: no H.265 for WebRTC
            offers.Add(offer);
            var (status, answer, location) = await PostAsync(offer);
            Assert.True(status == HttpStatusCode.Created, $"{(int)status} {answer}\n{demo.Output}");
            Assert.Contains(" H264/90000", answer);
            Assert.NotNull(location);
            await page.EvaluateAsync("([i, sdp]) => window.pcs[i].setRemoteDescription({ type: 'answer', sdp })", new object[] { i, answer });
        }
        await demo.WaitForOutputAsync("has no H265: sending the transcoded H264 stream", 10_000);

        var stats = new string[2];
        for (var i = 0; i < 2; i++)
        {
            var viewer = i;
            await Wait.UntilAsync(async () => int.Parse((stats[viewer] = await page.EvaluateAsync<string>(Stats, viewer)).Split(' ')[0]) >= 25,
                $"25 frames decoded by viewer {viewer}", 60_000);
            var first = int.Parse(stats[viewer].Split(' ')[0]);
            await Wait.UntilAsync(async () => int.Parse((stats[viewer] = await page.EvaluateAsync<string>(Stats, viewer)).Split(' ')[0]) > first + 10,
                $"framesDecoded of viewer {viewer} still rising", 20_000);
            Assert.EndsWith("video/H264", stats[viewer]);
        }
        output.WriteLine($"framesDecoded / codec: {stats[0]}; {stats[1]}");

        // A viewer that offers H.265 gets the camera's H.265 as is (RFC 7798), on the payload type it offered.
        var (withH265, pt) = WithH265(offers[0]);
        var (h265Status, h265Answer, h265Location) = await PostAsync(withH265);
        Assert.True(h265Status == HttpStatusCode.Created, $"{(int)h265Status} {h265Answer}");
        Assert.True(h265Answer.Contains($"a=rtpmap:{pt} H265/90000", StringComparison.Ordinal), h265Answer);
        Assert.Contains($"a=fmtp:{pt} level-id=93;profile-id=1;tier-flag=0;tx-mode=SRST", h265Answer);
        Assert.DoesNotContain(" H264/90000", h265Answer);
        using var delete = new HttpRequestMessage(HttpMethod.Delete, h265Location);
        delete.Headers.Authorization = new AuthenticationHeaderValue("Bearer", demo.Token);
        Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(delete)).StatusCode);
    }

    /// <summary>The offer with an H.265 payload type added in front of the video formats (as a Chromium with an H.265 decoder offers it).</summary>
    private static (string Offer, int PayloadType) WithH265(string offer)
    {
        var pt = Enumerable.Range(96, 32).Concat(Enumerable.Range(35, 29)).First(p => !offer.Contains($"a=rtpmap:{p} ", StringComparison.Ordinal));
        var m = offer.IndexOf("m=video 9 UDP/TLS/RTP/SAVPF ", StringComparison.Ordinal);
        var formats = m + "m=video 9 UDP/TLS/RTP/SAVPF ".Length;
        offer = offer[..formats] + pt + " " + offer[formats..];
        var rtpmap = offer.IndexOf("a=rtpmap:", m, StringComparison.Ordinal);
        return (offer[..rtpmap] + $"a=rtpmap:{pt} H265/90000\r\na=rtcp-fb:{pt} nack\r\na=rtcp-fb:{pt} nack pli\r\n"
            + $"a=fmtp:{pt} level-id=93;profile-id=1;tier-flag=0;tx-mode=SRST\r\n" + offer[rtpmap..], pt);
    }
}
