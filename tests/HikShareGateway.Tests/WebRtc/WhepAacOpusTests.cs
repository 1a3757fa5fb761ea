using System.Net;
using System.Net.Http.Headers;
using System.Text;
using HikShareGateway.Composition;
using HikShareGateway.Tests.Infrastructure;
using Microsoft.Playwright;
using Xunit.Abstractions;

namespace HikShareGateway.Tests.WebRtc;

/// <summary>
/// An AAC camera (gst-rtsp-server, RFC 3640 AAC-LC) watched over WHEP by Debian's Chromium: WebRTC cannot carry AAC, so
/// the gateway answers Opus (opus/48000/2) from the FFmpeg AAC → Opus derived stream, shared by every viewer of the
/// stream (<c>Media:MaxTranscoders</c> = 1 serves two), and Chromium's audio receiver counts samples that are not all
/// concealment, beside the decoded video. A video-only offer starts no transcoder; the transcoder stops with its last
/// viewer and its slot serves the next.
/// </summary>
[Trait("Category", "Integration")]
public sealed class WhepAacOpusTests(ITestOutputHelper output)
{
    private const string CreateOffer = """
        async (withAudio) => {
          const pc = new RTCPeerConnection();
          (window.pcs = window.pcs || []).push(pc);
          pc.addTransceiver('video', { direction: 'recvonly' });
          if (withAudio) pc.addTransceiver('audio', { direction: 'recvonly' });
          // Played out, so that the audio receiver is pulled as a page's would be.
          pc.ontrack = e => {
            if (e.track.kind !== 'audio') return;
            const a = document.createElement('audio');
            a.autoplay = true;
            a.srcObject = new MediaStream([e.track]);
            document.body.appendChild(a);
          };
          await pc.setLocalDescription(await pc.createOffer());
          return pc.localDescription.sdp;
        }
        """;

    /// <summary>"framesDecoded totalSamplesReceived concealedSamples audioLevel audioCodec" of viewer i.</summary>
    private const string Stats = """
        async (i) => {
          const stats = await window.pcs[i].getStats();
          let frames = 0, samples = 0, concealed = 0, level = 0, codec = '';
          stats.forEach(r => {
            if (r.type !== 'inbound-rtp') return;
            if (r.kind === 'video') frames = r.framesDecoded || 0;
            if (r.kind === 'audio') {
              samples = r.totalSamplesReceived || 0; concealed = r.concealedSamples || 0; level = r.audioLevel || 0;
              if (r.codecId && stats.get(r.codecId)) codec = stats.get(r.codecId).mimeType;
            }
          });
          return [frames, samples, concealed, level, codec || '-'].join(' ');
        }
        """;

    [Fact]
    public async Task ChromiumWatchingAnAacCamera_GetsOpusFromOneSharedTranscoder_ReceivesAudioSamples_TranscoderStopsWithTheLastViewer()
    {
        await using var camera = await GstRtspCamera.StartAsync(new GstCameraOptions { AacAudio = true, Backchannel = false });
        await using var demo = await DemoGatewayProcess.StartAsync(new Dictionary<string, string>
        {
            ["HIKSHARE_WebRtc__IncludeLoopback"] = "true",
            ["HIKSHARE_Media__MaxTranscoders"] = "1",
            // The demo recorder takes the main URL's port: the AAC camera is the channel's sub stream.
            ["HIKSHARE_Devices__0__Channels__0__Sub"] = camera.Url().ToString(),
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
            Args = ["--allow-loopback-in-peer-connection", "--no-sandbox", "--autoplay-policy=no-user-gesture-required"],
        });
        var page = await browser.NewPageAsync();

        // A video-only offer: the camera's stream as it is, no transcoder.
        var videoOnly = await page.EvaluateAsync<string>(CreateOffer, false);
        var (plainStatus, plainAnswer, _) = await PostAsync(videoOnly);
        Assert.True(plainStatus == HttpStatusCode.Created, $"{(int)plainStatus} {plainAnswer}\n{demo.Output}");
        Assert.DoesNotContain("opus", plainAnswer, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("gets the camera's AAC as Opus", demo.Output);

        // Two viewers with audio, one transcoder (Media:MaxTranscoders = 1: a second would be refused).
        var locations = new List<string>();
        for (var i = 1; i <= 2; i++)
        {
            var offer = await page.EvaluateAsync<string>(CreateOffer, true);
            Assert.Contains("opus/48000/2", offer);
            var (status, answer, location) = await PostAsync(offer);
            Assert.True(status == HttpStatusCode.Created, $"{(int)status} {answer}\n{demo.Output}");
            Assert.Matches(@"a=rtpmap:\d+ opus/48000/2", answer);
            Assert.Contains(" H264/90000", answer);
            locations.Add(location!);
            await page.EvaluateAsync("([i, sdp]) => window.pcs[i].setRemoteDescription({ type: 'answer', sdp })", new object[] { i, answer });
        }
        await demo.WaitForOutputAsync("gets the camera's AAC as Opus", 10_000);
        Assert.DoesNotContain("no AAC to Opus transcoder", demo.Output);

        var stats = new string[3];
        for (var i = 1; i <= 2; i++)
        {
            var viewer = i;
            string[] Read() => stats[viewer].Split(' ');
            // 48 kHz: a second of audio is 48,000 samples.
            await Wait.UntilAsync(async () => { stats[viewer] = await page.EvaluateAsync<string>(Stats, viewer); return long.Parse(Read()[1]) >= 48_000 && int.Parse(Read()[0]) >= 10; },
                $"a second of audio samples and 10 frames at viewer {viewer}", 60_000);
            var samples = long.Parse(Read()[1]);
            await Wait.UntilAsync(async () => { stats[viewer] = await page.EvaluateAsync<string>(Stats, viewer); return long.Parse(Read()[1]) >= samples + 48_000; },
                $"audio samples still rising at viewer {viewer}", 30_000);
            var parts = Read();
            Assert.Equal("audio/opus", parts[4]);
            var concealed = double.Parse(parts[2], System.Globalization.CultureInfo.InvariantCulture) / double.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture);
            Assert.True(concealed < 0.5, $"concealed share of the samples at viewer {viewer}: {concealed:P0} ({stats[viewer]})");
        }
        output.WriteLine($"frames samples concealed audioLevel codec: viewer 1 {stats[1]}; viewer 2 {stats[2]}");

        foreach (var location in locations)
        {
            using var delete = new HttpRequestMessage(HttpMethod.Delete, location);
            delete.Headers.Authorization = new AuthenticationHeaderValue("Bearer", demo.Token);
            Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(delete)).StatusCode);
        }
        // The last Opus viewer gone, the transcoder stops (no linger) and gives its slot back: a new viewer gets a new one.
        await demo.WaitForOutputAsync("closed: no viewer left", 10_000);
        var again = await page.EvaluateAsync<string>(CreateOffer, true);
        var (againStatus, againAnswer, _) = await PostAsync(again);
        Assert.True(againStatus == HttpStatusCode.Created, $"{(int)againStatus} {againAnswer}\n{demo.Output}");
        Assert.Matches(@"a=rtpmap:\d+ opus/48000/2", againAnswer);
        Assert.DoesNotContain("no AAC to Opus transcoder", demo.Output);
    }
}
