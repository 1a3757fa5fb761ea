using System.Globalization;
using System.Text.Json;
using HikShareGateway.Tests.Infrastructure;
using Microsoft.Playwright;
using static HikShareGateway.Tests.WebApp.WebAppLab;

namespace HikShareGateway.Tests.WebApp;

/// <summary>
/// Playback in the web viewer, end to end: the day timeline drawn from the NVR's ONVIF recording search (through the
/// gateway's <c>…/recordings</c>), a click playing from that time out of the recorder (ONVIF replay, <c>Range: clock=</c>),
/// a second click seeking, pause, speed, and the download of a span as an MP4 that ffprobe reads.
/// </summary>
public sealed partial class WebAppBrowserTests
{
    [Fact]
    public async Task Playback_ClickOnTheTimeline_PlaysFromThatTime_AClickElsewhereSeeks_PauseHolds_AndASpanDownloadsAsMp4()
    {
        var token = Lab.Token(Alice);
        await using var app = await AppPage.OpenAsync(f, token);
        await app.Device(NvrId).WaitForAsync();
        await app.Device(NvrId).Locator("li.channel-row[data-channel='1']").GetByRole(AriaRole.Button, new() { Name = "Playback" }).ClickAsync();
        await app.Page.Locator("#view-playback").WaitForAsync();
        var page = app.Page;
        var status = page.Locator("[data-role=playback-status]");
        // The token travels in Authorization headers only (the download too: fetch, then a blob), never in a URL.
        var urls = new List<string>();
        page.Request += (_, r) => { lock (urls) { urls.Add(r.Url); } };

        // :: The day before (in the browser's zone) lies wholly inside the NVR's recording: one span across the timeline.
        var day = await page.EvaluateAsync<string>("() => { const d = new Date(); d.setDate(d.getDate() - 1); return d.toLocaleDateString('sv'); }");
        await page.GetByLabel("Day", new() { Exact = true }).FillAsync(day);
        await status.Filter(new() { HasText = "1 recording(s) on this day" }).WaitForAsync(new() { Timeout = 20_000 });
        var timeline = page.Locator(".timeline");
        var box = (await timeline.BoundingBoxAsync())!;
        var bar = (await page.Locator(".timeline-span").BoundingBoxAsync())!;
        Assert.True(bar.Width > box.Width * 0.99, $"the span is {bar.Width} of {box.Width} px");

        // :: A click at a quarter of the day plays from there: the recorder is asked for that time (ONVIF replay, clock).
        var first = await ClickTimelineAsync(app, box, 0.25, day);
        Assert.InRange(first.TimeOfDay.TotalHours, 5.9, 6.1);
        await WaitPlayingAsync(app, "#playback-body", 1);
        Assert.StartsWith("WebRTC · 320×240", await page.Locator("#playback-body [data-role=transport]").InnerTextAsync());
        Assert.True(await FramesAsync(app) > 10);

        // :: A click elsewhere (three fifths of the day) restarts the picture there.
        var second = await ClickTimelineAsync(app, box, 0.6, day);
        Assert.InRange((second - first).TotalHours, 8.3, 8.5);
        await WaitPlayingAsync(app, "#playback-body", 1);

        // :: Pause holds the picture and the recording (the WebRTC session pauses at the gateway, which says where);
        //    resume plays on from there: the recorder is asked for that time again.
        await page.GetByRole(AriaRole.Button, new() { Name = "Pause" }).ClickAsync();
        await status.Filter(new() { HasTextRegex = new System.Text.RegularExpressions.Regex("^Paused at ") }).WaitForAsync();
        Assert.True(await page.EvaluateAsync<bool>("() => document.querySelector('#playback-body video').paused"));
        var pausedClock = (await status.InnerTextAsync())["Paused at ".Length..];
        var paused = DateTime.ParseExact(day + " " + pausedClock, "yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);
        Assert.InRange((paused - second).TotalSeconds, 1, 25);
        var pausedAt = await CurrentTimeAsync(app);
        await Task.Delay(1000); // the pause under test: a second held
        Assert.Equal(pausedAt, await CurrentTimeAsync(app));
        var beforeResume = Lab.Recorder.PlayRanges.Count;
        await page.GetByRole(AriaRole.Button, new() { Name = "Resume" }).ClickAsync();
        var resumedFrom = "clock=" + Basic(LocalToUtc(day, pausedClock))[..^1]; // the gateway's position has milliseconds
        await Wait.UntilAsync(() => Lab.Recorder.PlayRanges.Skip(beforeResume).Any(r => r.Received.StartsWith(resumedFrom, StringComparison.Ordinal)),
            $"the recorder asked to play on from {resumedFrom} (it got: {string.Join(", ", Lab.Recorder.PlayRanges.Skip(beforeResume))})", 20_000);
        await WaitPlayingAsync(app, "#playback-body", 1);

        // :: Speed: over WebRTC the session's scale. This gateway version refuses scales other than 1 (501, contract
        //    notes): the app says so and goes back to 1×; a gateway that takes it keeps 2×.
        await page.GetByLabel("Speed").SelectOptionAsync("2");
        var speedStatus = status.Filter(new() { HasTextRegex = new System.Text.RegularExpressions.Regex("^(Playing at 2×|This gateway plays recordings at normal speed only\\.)$") });
        await speedStatus.WaitForAsync();
        Assert.Equal((await status.InnerTextAsync()).StartsWith("Playing at", StringComparison.Ordinal) ? "2" : "1", await page.GetByLabel("Speed").InputValueAsync());

        // :: The span from the second click's time, 3 s long, downloads as an MP4 of that span (ffprobe reads it).
        var from = second.ToString("HH:mm:ss", CultureInfo.InvariantCulture);
        var to = second.AddSeconds(3).ToString("HH:mm:ss", CultureInfo.InvariantCulture);
        await page.GetByLabel("Download from").FillAsync(from);
        await page.GetByLabel("Download to").FillAsync(to);
        var plays = Lab.Recorder.PlayRanges.Count;
        var download = await page.RunAndWaitForDownloadAsync(() => page.GetByRole(AriaRole.Button, new() { Name = "Download" }).ClickAsync(),
            new() { Timeout = 30_000 });
        var file = Path.Combine(Path.GetTempPath(), "hikshare-download-" + Guid.NewGuid().ToString("N")[..10] + ".mp4");
        try
        {
            await download.SaveAsAsync(file);
            Assert.EndsWith(".mp4", download.SuggestedFilename);
            var probe = await Ffprobe.CountPacketsAsync(file);
            Assert.Equal(("h264", 320, 240), (probe.CodecName, probe.Width, probe.Height));
            Assert.InRange(probe.VideoPackets, 50, 110); // 3 s at 25 fps, from the keyframe at or before the start
            Assert.InRange(probe.DurationSeconds!.Value, 2, 4.5);
        }
        finally
        {
            File.Delete(file);
        }
        var downloadRange = Lab.Recorder.PlayRanges.Skip(plays).Select(r => r.Received).ToList();
        Assert.Contains($"clock={Basic(LocalToUtc(day, from))}-{Basic(LocalToUtc(day, to))}", downloadRange);
        Assert.Equal("Downloaded.", await status.InnerTextAsync());
        lock (urls)
        {
            Assert.Contains(urls, u => u.Contains("/recordings?", StringComparison.Ordinal));
            Assert.Contains(urls, u => u.Contains("/whep/playback/", StringComparison.Ordinal));
            Assert.Contains(urls, u => u.Contains("/api/v1/playback/", StringComparison.Ordinal));
            Assert.DoesNotContain(urls, u => u.Contains(token, StringComparison.Ordinal) || u.Contains("token=", StringComparison.Ordinal));
        }
        // The one error the browser may log is the refused scale's 501.
        Assert.True(app.Errors.All(e => e.Contains("501", StringComparison.Ordinal)), "the browser reported:\n" + string.Join("\n", app.Errors));
    }

    /// <summary>
    /// Clicks the timeline at <paramref name="fraction"/> of its width and returns the time (local, on <paramref name="day"/>)
    /// the app plays from, after checking that the app says so and that the recorder was asked for exactly that time.
    /// </summary>
    private async Task<DateTime> ClickTimelineAsync(AppPage app, LocatorBoundingBoxResult box, double fraction, string day)
    {
        var plays = Lab.Recorder.PlayRanges.Count;
        await app.Page.Locator(".timeline").ClickAsync(new() { Position = new() { X = (float)(box.Width * fraction), Y = box.Height / 2 } });
        var status = app.Page.Locator("[data-role=playback-status]");
        await status.Filter(new() { HasTextRegex = new System.Text.RegularExpressions.Regex("^Playing from ") }).WaitForAsync();
        var clock = (await status.InnerTextAsync())["Playing from ".Length..];
        Assert.Equal(clock, await app.Page.Locator(".timeline").GetAttributeAsync("aria-valuetext"));
        var expected = "clock=" + Basic(LocalToUtc(day, clock)) + "-";
        await Wait.UntilAsync(() => Lab.Recorder.PlayRanges.Skip(plays).Any(r => r.Received.StartsWith(expected, StringComparison.Ordinal)),
            $"the recorder asked to play from {expected} (it got: {string.Join(", ", Lab.Recorder.PlayRanges.Skip(plays))})", 20_000);
        return DateTime.ParseExact(day + " " + clock, "yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);
    }

    // The test host and the browser share the machine's zone: the app's local times are this process's local times.
    private static DateTimeOffset LocalToUtc(string day, string clock) =>
        new DateTimeOffset(DateTime.SpecifyKind(DateTime.ParseExact(day + " " + clock, "yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture), DateTimeKind.Local)).ToUniversalTime();

    private static string Basic(DateTimeOffset t) => t.UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);

    private static Task<double> CurrentTimeAsync(AppPage app) => app.Page.EvaluateAsync<double>("() => document.querySelector('#playback-body video').currentTime");

    private static async Task<int> FramesAsync(AppPage app) =>
        (await app.Page.EvaluateAsync<JsonElement>("() => ({ n: document.querySelector('#playback-body video').getVideoPlaybackQuality().totalVideoFrames })")).GetProperty("n").GetInt32();
}
