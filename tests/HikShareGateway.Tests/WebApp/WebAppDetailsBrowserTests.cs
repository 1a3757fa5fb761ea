using System.Globalization;
using Microsoft.Playwright;
using static HikShareGateway.Tests.WebApp.WebAppLab;

namespace HikShareGateway.Tests.WebApp;

/// <summary>Points of the web viewer's issue that had no browser test: the share's details, PTZ presets, the timeline from the keyboard.</summary>
public sealed partial class WebAppBrowserTests
{
    [Fact]
    public async Task Devices_ShowTheSharesDetails_SourceRemarkExpiryAndCameraNames_AsHikConnectDoes()
    {
        await using var alice = await AppPage.OpenAsync(f, Lab.Token(Alice));
        await using var bob = await AppPage.OpenAsync(f, Lab.Token(Bob));
        await alice.Device(NvrId).WaitForAsync();
        await bob.Device(NvrId).WaitForAsync();

        var facts = await Facts(alice.Device(NvrId));
        Assert.Equal("Shop NVR", await alice.Device(NvrId).Locator("h2").InnerTextAsync());
        Assert.Equal(Owner, facts["Source"]);
        Assert.Equal(AliceRemark, facts["Remark"]);
        // The share's expiry (not the token's), in the browser's own words for that instant.
        var expires = await alice.Page.EvaluateAsync<string>("t => new Date(t).toLocaleString()", Lab.AliceShareExpires.ToString("o", CultureInfo.InvariantCulture));
        Assert.Equal(expires, facts["Expires"]);
        Assert.All(await alice.Device(NvrId).Locator(".channel-name").AllInnerTextsAsync(), n => Assert.False(string.IsNullOrWhiteSpace(n)));
        Assert.Equal(2, await alice.Device(NvrId).Locator(".channel-name").CountAsync());

        var bobs = await Facts(bob.Device(NvrId));
        Assert.Equal(("Front door only", "never"), (bobs["Remark"], bobs["Expires"]));
        AssertNoErrors(alice);
        AssertNoErrors(bob);
    }

    [Fact]
    public async Task PtzPresets_ChoosingOneAndGo_IsGotoPresetOnTheCamera()
    {
        await using var app = await AppPage.OpenAsync(f, Lab.Token(Alice));
        await app.Device(NvrId).WaitForAsync();
        await app.OpenChannelAsync(NvrId, 1);
        var presets = app.Page.GetByLabel("Preset", new() { Exact = true });
        await presets.Locator("option", new() { HasText = "Parking" }).WaitForAsync(new() { State = WaitForSelectorState.Attached });
        Assert.Equal(["Presets…", "Gate", "Parking"], await presets.Locator("option").AllInnerTextsAsync());
        var mark = Lab.Onvif.PtzRequests.Count;

        await presets.SelectOptionAsync(new SelectOptionValue { Label = "Parking" });
        await app.Page.Locator("#channel-controls .presets").GetByRole(AriaRole.Button, new() { Name = "Go" }).ClickAsync();

        await Wait.UntilAsync(() => Lab.Onvif.PtzRequests.Skip(mark).Any(r => r.Name.LocalName == "GotoPreset"), "GotoPreset at the camera", 10_000);
        var go = Lab.Onvif.PtzRequests.Skip(mark).First(r => r.Name.LocalName == "GotoPreset");
        Assert.Equal("2", go.Elements().First(e => e.Name.LocalName == "PresetToken").Value);
        AssertNoErrors(app);
    }

    [Fact]
    public async Task Playback_FromTheKeyboard_ArrowKeysMoveTheCursorByMinutes_EnterPlaysFromThere()
    {
        await using var app = await AppPage.OpenAsync(f, Lab.Token(Alice));
        await app.Device(NvrId).WaitForAsync();
        await app.Device(NvrId).Locator("li.channel-row[data-channel='1']").GetByRole(AriaRole.Button, new() { Name = "Playback" }).ClickAsync();
        var status = app.Page.Locator("[data-role=playback-status]");
        var day = await app.Page.EvaluateAsync<string>("() => { const d = new Date(); d.setDate(d.getDate() - 1); return d.toLocaleDateString('sv'); }");
        await app.Page.GetByLabel("Day", new() { Exact = true }).FillAsync(day);
        await status.Filter(new() { HasText = "1 recording(s) on this day" }).WaitForAsync(new() { Timeout = 20_000 });

        // From the first recording's start (midnight): Shift+Right is ten minutes, Right one, Left one back.
        var timeline = app.Page.GetByRole(AriaRole.Slider, new() { Name = "Time of day" });
        await timeline.FocusAsync();
        foreach (var key in new[] { "Shift+ArrowRight", "Shift+ArrowRight", "ArrowRight", "ArrowRight", "ArrowLeft" })
        {
            await app.Page.Keyboard.PressAsync(key);
        }
        Assert.Equal("00:21:00", await timeline.GetAttributeAsync("aria-valuetext"));
        Assert.Equal("21", await timeline.GetAttributeAsync("aria-valuenow"));
        var plays = Lab.Recorder.PlayRanges.Count;
        await app.Page.Keyboard.PressAsync("Enter");

        await status.Filter(new() { HasText = "Playing from 00:21:00" }).WaitForAsync();
        var expected = "clock=" + Basic(LocalToUtc(day, "00:21:00")) + "-";
        await Wait.UntilAsync(() => Lab.Recorder.PlayRanges.Skip(plays).Any(r => r.Received.StartsWith(expected, StringComparison.Ordinal)),
            $"the recorder asked to play from {expected}", 20_000);
        await WaitPlayingAsync(app, "#playback-body", 1);
        AssertNoErrors(app);
    }

    [Fact]
    public async Task Playback_WhenUdpIsBlocked_PlaysOverFmp4_WherePauseAndSpeedAreTheVideos()
    {
        await using var app = await AppPage.OpenAsync(f, Lab.Token(Alice), blockWebRtc: true);
        await app.Device(NvrId).WaitForAsync();
        await app.Device(NvrId).Locator("li.channel-row[data-channel='1']").GetByRole(AriaRole.Button, new() { Name = "Playback" }).ClickAsync();
        var status = app.Page.Locator("[data-role=playback-status]");
        var day = await app.Page.EvaluateAsync<string>("() => { const d = new Date(); d.setDate(d.getDate() - 1); return d.toLocaleDateString('sv'); }");
        await app.Page.GetByLabel("Day", new() { Exact = true }).FillAsync(day);
        await status.Filter(new() { HasText = "1 recording(s) on this day" }).WaitForAsync(new() { Timeout = 20_000 });
        var box = (await app.Page.Locator(".timeline").BoundingBoxAsync())!;

        // WebRTC is tried first and given up when ICE does not connect; then the playback .mp4 into MSE.
        await ClickTimelineAsync(app, box, 0.5, day);
        await WaitPlayingAsync(app, "#playback-body", 1);
        Assert.StartsWith("fMP4 · 320×240", await app.Page.Locator("#playback-body [data-role=transport]").InnerTextAsync());
        Assert.StartsWith("blob:", await app.Page.EvaluateAsync<string>("() => document.querySelector('#playback-body video').src"));

        await app.Page.GetByLabel("Speed").SelectOptionAsync("0.5");
        Assert.Equal(0.5, await app.Page.EvaluateAsync<double>("() => document.querySelector('#playback-body video').playbackRate"));
        await app.Page.GetByRole(AriaRole.Button, new() { Name = "Pause" }).ClickAsync();
        await app.Page.WaitForFunctionAsync("() => document.querySelector('#playback-body video').paused");
        var pausedAt = await CurrentTimeAsync(app);
        await Task.Delay(1000); // the pause under test: a second held
        Assert.Equal(pausedAt, await CurrentTimeAsync(app));
        await app.Page.GetByRole(AriaRole.Button, new() { Name = "Resume" }).ClickAsync();
        await WaitPlayingAsync(app, "#playback-body", 0.5);
        // The browser's errors are the failed WHEP attempt's only (none: the offer was answered, ICE just never connected).
        AssertNoErrors(app);
    }

    private static async Task<Dictionary<string, string>> Facts(ILocator device)
    {
        var terms = await device.Locator("dl.facts dt").AllInnerTextsAsync();
        var values = await device.Locator("dl.facts dd").AllInnerTextsAsync();
        return terms.Zip(values).ToDictionary(p => p.First, p => p.Second);
    }
}
