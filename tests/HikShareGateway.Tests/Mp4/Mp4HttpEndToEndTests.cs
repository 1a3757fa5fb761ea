using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using HikShareCloud;
using HikShareGateway.Composition;
using HikShareGateway.Tests.Infrastructure;
using Microsoft.Playwright;
using Xunit.Abstractions;

namespace HikShareGateway.Tests.Mp4;

/// <summary>One real demo gateway (demo recorder, embedded broker, demo grants) for the fMP4 tests that do not revoke.</summary>
public sealed class Mp4DemoFixture : IAsyncLifetime
{
    public DemoGatewayProcess Demo { get; private set; } = null!;

    public async Task InitializeAsync() => Demo = await DemoGatewayProcess.StartAsync(new Dictionary<string, string>
    {
        // The request line with its query at Information: the token must still not reach the output.
        ["HIKSHARE_Logging__Serilog__MinimumLevel__Override__Microsoft.AspNetCore.Hosting.Diagnostics"] = "Information",
        // A reader that never reads is cut sooner than the 10 s default.
        ["HIKSHARE_Rtsp__StalledViewerSeconds"] = "2",
    });

    public async Task DisposeAsync() => await Demo.DisposeAsync();
}

/// <summary>
/// <c>GET /api/v1/live/…/{stream}.mp4</c> against the real gateway process with real players: ffprobe, Chromium's
/// <c>&lt;video src&gt;</c>, raw sockets for a slow reader; and a grants delta cutting a running response.
/// </summary>
[Trait("Category", "Integration")]
public sealed partial class Mp4HttpEndToEndTests(Mp4DemoFixture fixture, ITestOutputHelper log) : IClassFixture<Mp4DemoFixture>
{
    private DemoGatewayProcess Demo => fixture.Demo;

    private string LiveUrl(string stream = "main", bool withToken = true) =>
        $"http://127.0.0.1:{Demo.HttpPort}/api/v1/live/{DemoDefaults.DeviceId}/1/{stream}.mp4" + (withToken ? "?token=" + Demo.Token : "");

    private static int Occurrences(string text, string what) => Regex.Matches(text, Regex.Escape(what)).Count;

    [Fact]
    public async Task Ffprobe_LiveMp4WithQueryToken_ReadsH264_100FramesFromAKeyframe_TimestampsIncreasing_TokenNeverLogged()
    {
        var printed = Occurrences(Demo.Output, Demo.Token);
        var run = await ToolRunner.RunAsync("ffprobe", ["-v", "error", "-show_streams", "-show_entries", "packet=stream_index,pts_time,flags", "-read_intervals", "%+#100",
            "-of", "json", LiveUrl()], TimeSpan.FromSeconds(60));
        Assert.True(run.ExitCode == 0, run.ToString());
        using var json = JsonDocument.Parse(run.Stdout);
        var video = json.RootElement.GetProperty("streams").EnumerateArray().Single(s => s.GetProperty("codec_type").GetString() == "video");
        Assert.Equal("h264", video.GetProperty("codec_name").GetString());
        Assert.Equal(640, video.GetProperty("width").GetInt32());
        Assert.Equal(360, video.GetProperty("height").GetInt32());
        var packets = json.RootElement.GetProperty("packets").EnumerateArray()
            .Where(p => p.GetProperty("stream_index").GetInt32() == video.GetProperty("index").GetInt32()).ToList();
        Assert.True(packets.Count >= 100, $"{packets.Count} video packets");
        Assert.StartsWith("K", packets[0].GetProperty("flags").GetString());
        var times = packets.Select(p => double.Parse(p.GetProperty("pts_time").GetString()!, System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(0, times[0]);
        for (var i = 1; i < times.Count; i++)
        {
            Assert.True(times[i] > times[i - 1], $"pts {times[i]} after {times[i - 1]} at packet {i}");
        }
        // 25 fps: 100 frames span 4 s of stream time.
        Assert.InRange(times[99], 3.9, 4.1);

        // The request was logged (with its query) — the token was not.
        await Demo.WaitForOutputAsync("main.mp4?token=***");
        Assert.Equal(printed, Occurrences(Demo.Output, Demo.Token));
    }

    [Fact]
    public async Task Status_AsForLiveView_401Without_401BadToken_403NoGrant_404NoSuchStream_BearerHeaderWorks()
    {
        using var http = new HttpClient();
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync(LiveUrl(withToken: false))).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync(LiveUrl(withToken: false) + "?token=not.a.token")).StatusCode);
        var other = await http.GetAsync($"http://127.0.0.1:{Demo.HttpPort}/api/v1/live/no-such-nvr/1/main.mp4?token={Demo.Token}");
        Assert.Equal(HttpStatusCode.Forbidden, other.StatusCode);
        Assert.Equal("application/problem+json", other.Content.Headers.ContentType?.MediaType);
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync(LiveUrl("third"))).StatusCode);

        using var request = new HttpRequestMessage(HttpMethod.Get, LiveUrl("sub", withToken: false));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Demo.Token);
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.StartsWith("video/mp4; codecs=\"avc1.", response.Content.Headers.GetValues("Content-Type").Single());
        Assert.Equal("no-store", response.Headers.CacheControl?.ToString());
        await using var body = await response.Content.ReadAsStreamAsync();
        var head = new byte[8];
        await body.ReadExactlyAsync(head);
        Assert.Equal("ftyp", Encoding.ASCII.GetString(head, 4, 4));
    }

    [Fact]
    public async Task Chromium_VideoSrcWithQueryToken_Plays_CurrentTimeAdvances_FramesDecoded()
    {
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = "/usr/bin/chromium",
            Args = ["--no-sandbox", "--autoplay-policy=no-user-gesture-required"],
        });
        var page = await browser.NewPageAsync();
        var errors = new List<string>();
        page.Console += (_, m) => { if (m.Type == "error") { lock (errors) { errors.Add(m.Text); } } };
        await page.SetContentAsync($"<!doctype html><video id=\"v\" muted autoplay playsinline src=\"{LiveUrl()}\"></video>");
        await page.WaitForFunctionAsync("() => document.getElementById('v').currentTime > 2", null, new PageWaitForFunctionOptions { Timeout = 45_000 });
        var state = await page.EvaluateAsync<JsonElement>(
            "() => { const v = document.getElementById('v'); return { w: v.videoWidth, h: v.videoHeight, frames: v.getVideoPlaybackQuality().totalVideoFrames, error: v.error ? v.error.message : null }; }");
        Assert.Equal(640, state.GetProperty("w").GetInt32());
        Assert.Equal(360, state.GetProperty("h").GetInt32());
        Assert.True(state.GetProperty("frames").GetInt32() >= 40, state.ToString());
        Assert.Equal(JsonValueKind.Null, state.GetProperty("error").ValueKind);
        lock (errors)
        {
            Assert.Empty(errors);
        }
    }

    [Fact]
    public async Task SlowReader_ASocketThatNeverReads_IsCut_AndASecondViewerKeepsItsPace()
    {
        // The slow one: a tiny receive window, a request, then never a read.
        using var slow = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        await slow.ConnectAsync(IPAddress.Loopback, Demo.HttpPort);
        var slowPort = ((IPEndPoint)slow.LocalEndPoint!).Port;
        var path = new Uri(LiveUrl()).PathAndQuery;
        await slow.SendAsync(Encoding.ASCII.GetBytes($"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
        await Wait.UntilAsync(() => SessionOf(slowPort) is not null, "the slow reader's session started", 30_000);
        var slowSession = SessionOf(slowPort)!;

        // The second viewer reads as it comes.
        using var http = new HttpClient();
        using var response = await http.GetAsync(LiveUrl(), HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await using var body = await response.Content.ReadAsStreamAsync();
        long read = 0;
        using var stop = new CancellationTokenSource();
        var reader = Task.Run(async () =>
        {
            var buffer = new byte[64 * 1024];
            int n;
            while ((n = await body.ReadAsync(buffer, stop.Token)) > 0)
            {
                Interlocked.Add(ref read, n);
            }
        });

        await Demo.WaitForOutputAsync($"fMP4 session {slowSession} ended: too slow", 60_000);
        // Meanwhile and after, the second viewer gets the stream at its rate: measure 4 s of it.
        var before = Interlocked.Read(ref read);
        var clock = Stopwatch.StartNew();
        await Wait.UntilAsync(() => clock.Elapsed >= TimeSpan.FromSeconds(4) || reader.IsCompleted, "4 s of the second viewer", 10_000);
        var rate = (Interlocked.Read(ref read) - before) / clock.Elapsed.TotalSeconds;
        Assert.False(reader.IsCompleted, "the second viewer's response ended");
        // The demo clip runs at about 80 KB/s; a viewer held up by the slow one would get far less.
        log.WriteLine($"slow reader cut; second viewer meanwhile at {rate:0} B/s");
        Assert.True(rate > 40_000, $"second viewer at {rate:0} B/s");
        Assert.DoesNotContain(Demo.Output.Split('\n'), l => l.Contains("fMP4 session") && l.Contains("ended: too slow") && !l.Contains(slowSession));
        stop.Cancel();
        await Assert.ThrowsAnyAsync<Exception>(() => reader);
    }

    private string? SessionOf(int remotePort)
    {
        var m = Regex.Match(Demo.Output, $@"fMP4 session (?<id>mp4-\S+) started: \S+ for 127\.0\.0\.1:{remotePort}\b");
        return m.Success ? m.Groups["id"].Value : null;
    }
}

/// <summary>A grants delta removing the share cuts a running fMP4 response (its own demo: the share is gone afterwards).</summary>
[Trait("Category", "Integration")]
public sealed partial class Mp4RevocationEndToEndTests(ITestOutputHelper log)
{
    [Fact]
    public async Task DeltaRemovingTheShare_CutsTheRunningResponseWithin1s_AndTheAuditSaysRevoked()
    {
        await using var demo = await DemoGatewayProcess.StartAsync();
        using var http = new HttpClient();
        using var response = await http.GetAsync($"http://127.0.0.1:{demo.HttpPort}/api/v1/live/{DemoDefaults.DeviceId}/1/main.mp4?token={demo.Token}", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await using var body = await response.Content.ReadAsStreamAsync();
        long read = 0;
        var reader = Task.Run(async () =>
        {
            var buffer = new byte[64 * 1024];
            try
            {
                int n;
                while ((n = await body.ReadAsync(buffer)) > 0)
                {
                    Interlocked.Add(ref read, n);
                }
                return "end of body";
            }
            catch (Exception e) when (e is IOException or HttpRequestException)
            {
                return "reset";
            }
        });
        await Wait.UntilAsync(() => Interlocked.Read(ref read) > 100_000 || reader.IsCompleted, "the response streams", 30_000);
        Assert.False(reader.IsCompleted);

        var revoke = Revoke().Match(demo.Output);
        Assert.True(revoke.Success, demo.Output);
        var delta = new StringWriter();
        Assert.Equal(0, await CloudTool.RunAsync(["delta", "--key", revoke.Groups["key"].Value, "--gateway", DemoDefaults.GatewayId, "--base", revoke.Groups["base"].Value,
            "--version", revoke.Groups["version"].Value, "--remove-share", DemoCloud.ShareId], delta, TextWriter.Null, TextReader.Null));
        Assert.Equal(0, await CloudTool.RunAsync(["publish", "--broker", revoke.Groups["broker"].Value, "--gateway", DemoDefaults.GatewayId, "--delta", "-"],
            TextWriter.Null, TextWriter.Null, new StringReader(delta.ToString())));
        // Counted from the moment the broker has the delta.
        var published = Stopwatch.StartNew();
        var how = await reader.WaitAsync(TimeSpan.FromSeconds(10));
        var cutAfter = published.Elapsed;
        log.WriteLine($"response cut {cutAfter.TotalMilliseconds:0} ms after the delta was published");
        Assert.True(cutAfter < TimeSpan.FromSeconds(1), $"cut {cutAfter.TotalMilliseconds:0} ms after the delta was published");
        Assert.Equal("reset", how);
        await demo.WaitForOutputAsync("Revoked session mp4-");
        using var again = await http.GetAsync($"http://127.0.0.1:{demo.HttpPort}/api/v1/live/{DemoDefaults.DeviceId}/1/main.mp4?token={demo.Token}");
        Assert.Equal(HttpStatusCode.Forbidden, again.StatusCode);
    }

    [GeneratedRegex(@"delta --key (?<key>\S+) --gateway \S+ --base (?<base>\d+) --version (?<version>\d+).*\n.*publish --broker (?<broker>\S+)")]
    private static partial Regex Revoke();
}
