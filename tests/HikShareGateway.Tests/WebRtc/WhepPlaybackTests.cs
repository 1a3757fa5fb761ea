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
/// a channel without the playback grant is 403; DELETE ends the session. At a speed (<c>&amp;scale=</c>, <c>{"scale":n}</c>)
/// the recorder plays faster or slower and the browser decodes frames at that rate (its timestamps run at the clock's).
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

        // A speed that is no speed, and a body that is no control, are 400.
        using (var scale = await SendAsync(HttpMethod.Post, location + "/seek", """{"scale":0}""", "application/json"))
            Assert.Equal(HttpStatusCode.BadRequest, scale.StatusCode);
        using (var bad = await SendAsync(HttpMethod.Post, location + "/seek", """{"rewind":1}""", "application/json"))
            Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);

        using var delete = await SendAsync(HttpMethod.Delete, location, null, "");
        Assert.Equal(HttpStatusCode.OK, delete.StatusCode);
        using var gone = await SendAsync(HttpMethod.Post, location + "/seek", """{"pause":true}""", "application/json");
        Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
    }

    [Fact]
    public async Task Chromium_PlaysARecordingAtHalfAndDoubleSpeed_FramesDecodedAtThatRate_PositionMovesAtThatRate_ScaleKeptAcrossSeekAndResume()
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

        // The recording is 25 fps for 10 s: at half speed the recorder sends 12.5 frames a second, at double 50.
        using (var badScale = await SendAsync(HttpMethod.Post, $"/whep/playback/{DemoDefaults.DeviceId}/1?start=20261125T100000Z&scale=-2", offer, "application/sdp"))
            Assert.Equal(HttpStatusCode.BadRequest, badScale.StatusCode);
        using var created = await SendAsync(HttpMethod.Post, $"/whep/playback/{DemoDefaults.DeviceId}/1?start=20261125T100000Z&end=20261125T100010Z&scale=0.5", offer, "application/sdp");
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
        // Frames decoded per second of the browser's own stats clock, over at least overMs of it.
        async Task<double> RateAsync(double overMs, string what)
        {
            var (f0, t0) = await ReadAsync();
            var last = (f0, t0);
            await Wait.UntilAsync(async () => { last = await ReadAsync(); return last.Item2 - t0 >= overMs; }, what, 30_000);
            return (last.Item1 - f0) * 1000.0 / (last.Item2 - t0);
        }
        async Task<JsonElement> ControlAsync(string json)
        {
            using var response = await SendAsync(HttpMethod.Post, location + "/seek", json, "application/json");
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{json} → {(int)response.StatusCode} {text}\n{demo.Output}");
            return JsonDocument.Parse(text).RootElement.Clone();
        }
        DateTimeOffset PositionOf(JsonElement e) => DateTimeOffset.Parse(e.GetProperty("position").GetString()!, System.Globalization.CultureInfo.InvariantCulture);

        // Half speed from the URL: fewer frames a second than the recording's 25.
        var first = await RisingAsync(5, "frames decoded at half speed");
        var half = await RateAsync(2000, "2 s of the browser's clock at half speed");
        Assert.InRange(half, 4, 19);

        // Double speed: the same span again asked for at 2 (a no-op) reads the position without moving it.
        var faster = await ControlAsync("""{"scale":2}""");
        Assert.False(faster.GetProperty("paused").GetBoolean());
        await RisingAsync(first + 10, "frames decoded after the change to double speed");
        var before = PositionOf(await ControlAsync("""{"scale":2}"""));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var twice = await RateAsync(1500, "1.5 s of the browser's clock at double speed");
        var after = PositionOf(await ControlAsync("""{"scale":2}"""));
        var wall = clock.Elapsed;
        Assert.True(twice > 33, $"frames decoded per second at double speed: {twice:F1} (the recording has 25)");
        var moved = after - before;
        Assert.True(moved >= wall * 1.4 && moved <= wall * 2.6, $"position moved {moved.TotalMilliseconds:F0} ms in {wall.TotalMilliseconds:F0} ms at double speed");

        // A seek and a pause/resume keep the speed.
        var seek = await ControlAsync("""{"start":"2026-11-25T10:00:01Z"}""");
        Assert.Equal("2026-11-25T10:00:01.000Z", seek.GetProperty("position").GetString());
        Assert.True((await ControlAsync("""{"pause":true}""")).GetProperty("paused").GetBoolean());
        var resumedAt = await RisingAsync(0, "stats readable");
        Assert.False((await ControlAsync("""{"pause":false}""")).GetProperty("paused").GetBoolean());
        await RisingAsync(resumedAt + 10, "frames decoded after resuming at double speed");
        var resumed = await RateAsync(1000, "1 s of the browser's clock after resuming");
        Assert.True(resumed > 33, $"frames decoded per second after resuming at double speed: {resumed:F1}");
        output.WriteLine($"frames decoded per second: {half:F1} at scale 0.5, {twice:F1} at scale 2, {resumed:F1} at 2 after seek+pause+resume; position {moved.TotalMilliseconds:F0} ms in {wall.TotalMilliseconds:F0} ms");

        using var delete = await SendAsync(HttpMethod.Delete, location, null, "");
        Assert.Equal(HttpStatusCode.OK, delete.StatusCode);
    }
}
