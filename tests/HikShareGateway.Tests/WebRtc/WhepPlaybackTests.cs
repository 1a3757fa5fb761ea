using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using HikShareGateway.Composition;
using HikShareGateway.Tests.Infrastructure;
using HikShareGateway.Tests.Playback;
using Microsoft.Playwright;
using Xunit.Abstractions;

namespace HikShareGateway.Tests.WebRtc;

/// <summary>
/// WebRTC playback over WHEP against the real demo process, the demo device's playback pointing at gst-rtsp-server
/// replaying a 10 s recording: Debian's Chromium decodes it; a seek starts a new upstream session and frames keep coming;
/// a pause stops <c>framesDecoded</c> (unchanged over a second of the browser's own stats clock); resuming restarts it;
/// a channel without the playback grant is 403; DELETE ends the session.
/// </summary>
[Trait("Category", "Integration")]
[Collection(PlaybackRecorderCollection.Name)]
public sealed class WhepPlaybackTests(PlaybackRecorder recorder, ITestOutputHelper output)
{
    private const string CreateOffer = """
        async () => {
          const pc = new RTCPeerConnection();
          window.pc = pc;
          pc.addTransceiver('video', { direction: 'recvonly' });
          await pc.setLocalDescription(await pc.createOffer());
          return pc.localDescription.sdp;
        }
        """;

    /// <summary>"framesDecoded timestamp" of the video inbound-rtp report (the timestamp is the browser's, in ms).</summary>
    private const string Stats = """
        async () => {
          let s = '0 0';
          (await window.pc.getStats()).forEach(r => { if (r.type === 'inbound-rtp' && r.kind === 'video') s = (r.framesDecoded || 0) + ' ' + r.timestamp; });
          return s;
        }
        """;

    [Fact]
    public async Task Chromium_PlaysARecordingOverWhep_SeekMoves_PauseStopsFrames_ResumeRestarts_403WithoutPlayback()
    {
        await using var demo = await DemoGatewayProcess.StartAsync(new Dictionary<string, string>
        {
            ["HIKSHARE_WebRtc__IncludeLoopback"] = "true",
            ["HIKSHARE_Devices__0__Channels__0__Playback"] = recorder.Template,
        });
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{demo.HttpPort}") };
        async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, string? body, string contentType)
        {
            using var request = new HttpRequestMessage(method, path);
            if (body is not null)
            {
                request.Content = new StringContent(body, Encoding.UTF8);
                request.Content.Headers.ContentType = new MediaTypeHeaderValue(contentType);
            }
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", demo.Token);
            return await http.SendAsync(request);
        }

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = "/usr/bin/chromium",
            Headless = true,
            Args = ["--allow-loopback-in-peer-connection", "--no-sandbox"],
        });
        var page = await browser.NewPageAsync();
        var offer = await page.EvaluateAsync<string>(CreateOffer);

        const string span = "?start=20261125T100000Z&end=20261125T100010Z";
        Assert.Equal(HttpStatusCode.Forbidden, (await SendAsync(HttpMethod.Post, $"/whep/playback/{DemoDefaults.DeviceId}/2" + span, offer, "application/sdp")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await SendAsync(HttpMethod.Post, $"/whep/playback/{DemoDefaults.DeviceId}/1", offer, "application/sdp")).StatusCode);
        using var created = await SendAsync(HttpMethod.Post, $"/whep/playback/{DemoDefaults.DeviceId}/1" + span, offer, "application/sdp");
        var answer = await created.Content.ReadAsStringAsync();
        Assert.True(created.StatusCode == HttpStatusCode.Created, $"{(int)created.StatusCode} {answer}\n{demo.Output}");
        var location = created.Headers.Location!.OriginalString;
        await page.EvaluateAsync("sdp => window.pc.setRemoteDescription({ type: 'answer', sdp })", answer);

        async Task<(int Frames, double At)> ReadAsync()
        {
            var parts = (await page.EvaluateAsync<string>(Stats)).Split(' ');
            return (int.Parse(parts[0]), double.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture));
        }
        async Task<int> RisingAsync(int above, string what)
        {
            var frames = 0;
            await Wait.UntilAsync(async () => (frames = (await ReadAsync()).Frames) >= above, what, 30_000);
            return frames;
        }
        async Task<JsonElement> ControlAsync(string json)
        {
            using var response = await SendAsync(HttpMethod.Post, location + "/seek", json, "application/json");
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{json} → {(int)response.StatusCode} {text}");
            return JsonDocument.Parse(text).RootElement.Clone();
        }

        var playing = await RisingAsync(25, "25 frames of the recording decoded");

        // Seek: a new upstream session at 00:05; the browser keeps decoding.
        var seek = await ControlAsync("""{"start":"2026-11-25T10:00:05Z"}""");
        Assert.Equal("2026-11-25T10:00:05.000Z", seek.GetProperty("position").GetString());
        Assert.False(seek.GetProperty("paused").GetBoolean());
        await demo.WaitForOutputAsync("control 204 (playing), position 2026-11-25T10:00:05");
        var seeked = await RisingAsync(playing + 25, "25 more frames decoded after the seek");

        // Pause: framesDecoded stays put over one second of the browser's stats clock.
        var paused = await ControlAsync("""{"pause":true}""");
        Assert.True(paused.GetProperty("paused").GetBoolean());
        var (framesAtPause, at) = await ReadAsync();
        // Frames in flight when the upstream closed may still be decoded: the baseline is taken once the count settles.
        await Wait.UntilAsync(async () =>
        {
            var (f, t) = await ReadAsync();
            if (f != framesAtPause) { framesAtPause = f; at = t; }
            return t - at >= 1000;
        }, "framesDecoded unchanged for 1 s of the browser's clock while paused", 20_000);
        Assert.Equal(framesAtPause, (await ReadAsync()).Frames);

        // Resume from where it paused.
        var resumed = await ControlAsync("""{"pause":false}""");
        Assert.False(resumed.GetProperty("paused").GetBoolean());
        var after = await RisingAsync(framesAtPause + 10, "frames decoded again after resuming");
        output.WriteLine($"framesDecoded: {playing} playing, {seeked} after the seek, {framesAtPause} paused, {after} resumed; paused at {paused.GetProperty("position")}");

        // Scale other than 1 is refused clearly; a body that is no control is 400.
        using (var scale = await SendAsync(HttpMethod.Post, location + "/seek", """{"scale":2}""", "application/json"))
            Assert.Equal(HttpStatusCode.NotImplemented, scale.StatusCode);
        using (var bad = await SendAsync(HttpMethod.Post, location + "/seek", """{"rewind":1}""", "application/json"))
            Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);

        using var delete = await SendAsync(HttpMethod.Delete, location, null, "");
        Assert.Equal(HttpStatusCode.OK, delete.StatusCode);
        using var gone = await SendAsync(HttpMethod.Post, location + "/seek", """{"pause":true}""", "application/json");
        Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
    }
}
