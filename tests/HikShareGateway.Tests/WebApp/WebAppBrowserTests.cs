using System.Text.Json;
using HikShareGateway.Composition;
using HikShareGateway.Tests.Onvif.Simulator;
using Microsoft.Playwright;
using static HikShareGateway.Tests.WebApp.WebAppLab;

namespace HikShareGateway.Tests.WebApp;

/// <summary>
/// The web viewer in Debian's Chromium against the real gateway process (mosquitto, an ONVIF NVR whose streams are a
/// gst-rtsp-server camera): sign-in, what each account sees, PTZ reaching the camera, alarms arriving live, the
/// security headers and a console without errors; screenshots for the README.
/// </summary>
[Trait("Category", "Integration")]
public sealed partial class WebAppBrowserTests(WebAppFixture f) : IClassFixture<WebAppFixture>
{
    private WebAppLab Lab => f.Lab;

    private static async Task<IReadOnlyList<string>> TextsAsync(ILocator l) => await l.AllInnerTextsAsync();

    [Fact]
    public async Task SignIn_FromTheFragmentLink_StripsTheTokenFromTheUrl_KeepsItInSessionStorage_ShowsAccountAndExpiry()
    {
        var token = Lab.Token(Alice, TimeSpan.FromMinutes(90));
        await using var app = await AppPage.OpenAsync(f, token);

        Assert.DoesNotContain("token", app.Page.Url);
        Assert.Equal(Lab.BaseUrl + "/", app.Page.Url);
        Assert.Equal(Alice, await app.Page.Locator("#account").InnerTextAsync());
        Assert.Equal(token, await app.Page.EvaluateAsync<string>("() => sessionStorage.getItem('hikshare.token')"));
        Assert.Equal(0, await app.Page.EvaluateAsync<int>("() => localStorage.length"));
        // The expiry shown is the token's exp claim.
        var exp = DateTimeOffset.Parse(await app.Page.Locator("#expiry").GetAttributeAsync("data-exp") ?? "");
        var claims = JsonDocument.Parse(Base64Url(token.Split('.')[1])).RootElement;
        Assert.Equal(claims.GetProperty("exp").GetInt64(), exp.ToUnixTimeSeconds());
        Assert.Contains("min left", await app.Page.Locator("#expiry").InnerTextAsync());

        await app.Page.GetByRole(AriaRole.Button, new() { Name = "Sign out" }).ClickAsync();

        await app.Page.Locator("#view-signin").WaitForAsync();
        Assert.Null(await app.Page.EvaluateAsync<string?>("() => sessionStorage.getItem('hikshare.token')"));
        Assert.Equal(0, await app.Page.Locator("li.device").CountAsync());
        AssertNoErrors(app);
    }

    [Fact]
    public async Task SignIn_PastedToken_SignsIn_AndAForgedOneIsRefusedWithAMessage()
    {
        await using var app = await AppPage.OpenAsync(f, null);
        await app.Page.Locator("#view-signin").WaitForAsync();

        // Signed by a key the gateway does not trust: the gateway answers 401, the app says so.
        var forged = HikShareGateway.Access.Tokens.ViewerTokens.Mint(HikShareGateway.Access.Jose.Ed25519SigningKey.Generate("x"), Bob,
            [DemoDefaults.GatewayId], TimeSpan.FromHours(1), DateTimeOffset.UtcNow);
        await app.Page.Locator("#token-input").FillAsync(forged);
        await app.Page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await app.Page.Locator("#signin-error").WaitForAsync();
        Assert.Contains("refused", await app.Page.Locator("#signin-error").InnerTextAsync());

        await app.Page.Locator("#token-input").FillAsync(Lab.Token(Bob));
        await app.Page.Locator("#token-input").PressAsync("Tab");
        await app.Page.Keyboard.PressAsync("Enter"); // the Sign in button, from the keyboard

        await app.Device(NvrId).WaitForAsync();
        Assert.Equal(Bob, await app.Page.Locator("#account").InnerTextAsync());
        // The refused token's 401 is the only error the browser logged.
        Assert.All(app.Errors, e => Assert.Contains("401", e));
    }

    [Fact]
    public async Task TwoAccounts_SeeExactlyTheirDevicesAndTheControlsTheirPrivilegesAllow()
    {
        await using var alice = await AppPage.OpenAsync(f, Lab.Token(Alice));
        await using var bob = await AppPage.OpenAsync(f, Lab.Token(Bob));
        await alice.Device(NvrId).WaitForAsync();
        await bob.Device(NvrId).WaitForAsync();

        // :: Alice: both devices, the NVR's two cameras with every privilege, the share's details, the Alarms tab.
        Assert.Equal([NvrId, DemoDefaults.DeviceId], (await alice.Page.Locator("li.device").EvaluateAllAsync<string[]>("l => l.map(e => e.dataset.deviceId)")).Order(StringComparer.Ordinal));
        var nvr = alice.Device(NvrId);
        Assert.Equal(["1", "2"], await nvr.Locator("li.channel-row").EvaluateAllAsync<string[]>("l => l.map(e => e.dataset.channel)"));
        Assert.Equal(["alarmPush", "liveView", "playback", "ptz", "twoWayAudio"],
            (await nvr.Locator("li.channel-row[data-channel='1'] .chip").EvaluateAllAsync<string[]>("l => l.map(e => e.dataset.privilege)")).Order(StringComparer.Ordinal));
        Assert.Contains("Online", await nvr.Locator(".state").InnerTextAsync());
        Assert.True(await alice.Page.Locator("#tab-alarms").IsVisibleAsync());
        Assert.Equal(1, await nvr.GetByRole(AriaRole.Button, new() { Name = "All 2 cameras" }).CountAsync());
        var demo = alice.Device(DemoDefaults.DeviceId);
        Assert.Equal(["liveView"], await demo.Locator(".chip").EvaluateAllAsync<string[]>("l => l.map(e => e.dataset.privilege)"));

        // :: Bob: the NVR only, channel 1 only, live view only; no alarms, no playback, no PTZ, no talk.
        Assert.Equal([NvrId], await bob.Page.Locator("li.device").EvaluateAllAsync<string[]>("l => l.map(e => e.dataset.deviceId)"));
        Assert.Equal(["1"], await bob.Device(NvrId).Locator("li.channel-row").EvaluateAllAsync<string[]>("l => l.map(e => e.dataset.channel)"));
        Assert.Equal(["liveView"], await bob.Device(NvrId).Locator(".chip").EvaluateAllAsync<string[]>("l => l.map(e => e.dataset.privilege)"));
        Assert.Equal(["Watch"], await TextsAsync(bob.Device(NvrId).Locator(".actions button")));
        Assert.False(await bob.Page.Locator("#tab-alarms").IsVisibleAsync());

        // :: The camera page: Alice gets the PTZ pad, push-to-talk and playback; Bob the picture alone.
        await alice.OpenChannelAsync(NvrId, 1);
        await bob.OpenChannelAsync(NvrId, 1);
        Assert.Equal(10, await alice.Page.Locator("#channel-controls .ptz button.ptz-btn").CountAsync());
        Assert.Equal(1, await alice.Page.GetByRole(AriaRole.Button, new() { Name = "Hold to talk" }).CountAsync());
        Assert.Equal(1, await alice.Page.Locator("#channel-controls").GetByRole(AriaRole.Button, new() { Name = "Playback" }).CountAsync());
        Assert.Equal(1, await bob.Page.Locator("#channel-player .player").CountAsync());
        Assert.Equal(["Save picture"], await TextsAsync(bob.Page.Locator("#channel-controls > *")));
        // Channel 2 of the NVR has no PTZ (the simulator's PTZ is on channel 1): no pad there even for Alice.
        await alice.Page.Locator("#channel-back").ClickAsync();
        await alice.Page.Locator("#view-live").WaitForAsync();
        await alice.Page.GetByRole(AriaRole.Button, new() { Name = "Camera 2 — full screen" }).Or(alice.Page.Locator(".tile[data-channel='2'] .tile-open")).First.ClickAsync();
        await alice.Page.Locator("#view-channel").WaitForAsync();
        Assert.Equal(0, await alice.Page.Locator("#channel-controls .ptz").CountAsync());

        AssertNoErrors(alice);
        AssertNoErrors(bob);
    }

    [Fact]
    public async Task PtzPad_PressAndHold_IsContinuousMoveOnTheCamera_Release_IsStop_FromMouseAndKeyboard()
    {
        await using var app = await AppPage.OpenAsync(f, Lab.Token(Alice));
        await app.Device(NvrId).WaitForAsync();
        await app.OpenChannelAsync(NvrId, 1);
        var up = app.Page.GetByRole(AriaRole.Button, new() { Name = "Up", Exact = true });
        var before = Lab.Onvif.Operations.Count;

        await up.HoverAsync();
        await app.Page.Mouse.DownAsync();
        await Wait.UntilAsync(() => Ops(before).Contains("ContinuousMove"), "ContinuousMove at the camera while the button is held", 10_000);
        Assert.DoesNotContain("Stop", Ops(before));
        await app.Page.Mouse.UpAsync();
        await Wait.UntilAsync(() => Ops(before).Contains("Stop"), "Stop at the camera on release", 10_000);

        // The move was a tilt upwards (pan 0, tilt +0.5) on channel 1's main profile.
        var move = Lab.Onvif.PtzRequests.Last(r => r.Name.LocalName == "ContinuousMove");
        Assert.Contains(OnvifSimulator.MainProfile(1), move.ToString());
        var panTilt = move.Descendants().First(e => e.Name.LocalName == "PanTilt");
        Assert.Equal("0", panTilt.Attribute("x")!.Value);
        Assert.Equal("0.5", panTilt.Attribute("y")!.Value);

        // Keyboard: Space held on "Zoom in" is a zoom, its release a stop.
        var mark = Lab.Onvif.Operations.Count;
        await app.Page.GetByRole(AriaRole.Button, new() { Name = "Zoom in" }).FocusAsync();
        await app.Page.Keyboard.DownAsync(" ");
        await Wait.UntilAsync(() => Ops(mark).Contains("ContinuousMove"), "ContinuousMove (zoom) from the keyboard", 10_000);
        await app.Page.Keyboard.UpAsync(" ");
        await Wait.UntilAsync(() => Ops(mark).Contains("Stop"), "Stop when the key is released", 10_000);
        var zoom = Lab.Onvif.PtzRequests.Last(r => r.Name.LocalName == "ContinuousMove");
        Assert.Equal("0.5", zoom.Descendants().First(e => e.Name.LocalName == "Zoom").Attribute("x")!.Value);
        AssertNoErrors(app);
    }

    [Fact]
    public async Task LiveView_PlaysOverWebRtc_MainFullScreen_SubInTheGrid_WithTransportAndResolutionShown()
    {
        await using var app = await AppPage.OpenAsync(f, Lab.Token(Alice));
        await app.Device(NvrId).WaitForAsync();

        // :: The grid: both cameras on the sub stream (the gst camera's 320x180).
        await app.Device(NvrId).GetByRole(AriaRole.Button, new() { Name = "All 2 cameras" }).ClickAsync();
        await WaitPlayingAsync(app, "#live-grid .tile[data-channel='1']", 1);
        await WaitPlayingAsync(app, "#live-grid .tile[data-channel='2']", 1);
        Assert.Equal("WebRTC · 320×180", await app.Page.Locator("#live-grid .tile[data-channel='1'] [data-role=transport]").InnerTextAsync());

        // :: One camera full screen on the main stream (640x360); the grid's players are stopped.
        await app.Page.Locator(".tile[data-channel='1'] .tile-open").ClickAsync();
        await WaitPlayingAsync(app, "#channel-player", 2);
        Assert.Equal("WebRTC · 640×360", await app.Page.Locator("#channel-player [data-role=transport]").InnerTextAsync());
        var quality = await app.Page.EvaluateAsync<JsonElement>(
            "() => { const v = document.querySelector('#channel-player video'); const q = v.getVideoPlaybackQuality(); return { frames: q.totalVideoFrames, error: v.error ? v.error.message : '' }; }");
        Assert.True(quality.GetProperty("frames").GetInt32() > 25, quality.ToString());
        // The grid's two streams were closed when the camera opened: only this one is fed.
        Assert.Equal(2, await app.Page.Locator("#live-grid video").CountAsync());
        Assert.True(await app.Page.EvaluateAsync<bool>("() => [...document.querySelectorAll('#live-grid video')].every(v => !v.src && !v.srcObject)"));
        AssertNoErrors(app);
    }

    [Fact]
    public async Task LiveView_WhenUdpIsBlocked_FallsBackToFmp4_AndPlays()
    {
        await using var app = await AppPage.OpenAsync(f, Lab.Token(Alice), blockWebRtc: true);
        await app.Device(DemoDefaults.DeviceId).WaitForAsync();

        await app.OpenChannelAsync(DemoDefaults.DeviceId, 1);
        // WebRTC is tried first and given up when ICE does not connect; then fMP4 over HTTP.
        await WaitPlayingAsync(app, "#channel-player", 2);

        Assert.Equal("fMP4 · 640×360", await app.Page.Locator("#channel-player [data-role=transport]").InnerTextAsync());
        Assert.Equal("blob:", (await app.Page.EvaluateAsync<string>("() => document.querySelector('#channel-player video').src"))[..5]);
        AssertNoErrors(app);
    }

    [Fact]
    public async Task LiveView_ShareDeleted_PictureStopsWithTheWithdrawnMessage_WithinOneSecond_AndTheDeviceGoesFromTheList()
    {
        await using var app = await AppPage.OpenAsync(f, Lab.Token(Carol));
        await app.Device(NvrId).WaitForAsync();
        await app.OpenChannelAsync(NvrId, 1);
        await WaitPlayingAsync(app, "#channel-player", 1);

        // The clock starts when the broker has the delta (its PUBACK), not before the one-shot publisher's own MQTT
        // connection, whose set-up is the test's and took hundreds of milliseconds on a loaded machine.
        var withdrawn = app.Page.Locator("#channel-player .player[data-state=withdrawn]").WaitForAsync(new() { Timeout = 5_000 });
        await Lab.RemoveShareAsync(CarolShare);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await withdrawn;
        var elapsed = clock.ElapsedMilliseconds;

        Assert.True(elapsed < 1000, $"the withdrawn message came {elapsed} ms after the broker had the delta");
        Assert.Equal("Access to this camera was withdrawn", await app.Page.Locator("#channel-player [data-role=message]").InnerTextAsync());
        // The picture stopped: no source any more, nothing plays.
        Assert.True(await app.Page.EvaluateAsync<bool>("() => { const v = document.querySelector('#channel-player video'); return !v.src && !v.srcObject; }"));
        // Back on the list, without a reload: nothing is shared with Carol any more.
        await app.Page.Locator("#channel-back").ClickAsync();
        await app.Page.Locator("#devices-status").Filter(new() { HasText = "Nothing is shared" }).WaitForAsync(new() { Timeout = 10_000 });
        Assert.Equal(0, await app.Device(NvrId).CountAsync());
        AssertNoErrors(app);
    }

    /// <summary>Waits until the player in <paramref name="scope"/> plays and its video's currentTime has advanced past <paramref name="seconds"/>.</summary>
    private static async Task WaitPlayingAsync(AppPage app, string scope, double seconds)
    {
        try
        {
            await app.Page.Locator($"{scope} .player[data-state=playing]").WaitForAsync(new() { Timeout = 20_000 });
        }
        catch (TimeoutException e)
        {
            var player = app.Page.Locator($"{scope} .player").First;
            throw new TimeoutException($"{scope} not playing: state {await player.GetAttributeAsync("data-state")}, message " +
                $"\"{await player.Locator("[data-role=message]").InnerTextAsync()}\"; browser: {string.Join(" | ", app.Errors)}", e);
        }
        var start = await app.Page.EvaluateAsync<double>($"() => document.querySelector(\"{scope} video\").currentTime");
        await app.Page.WaitForFunctionAsync($"() => document.querySelector(\"{scope} video\").currentTime > {start.ToString(System.Globalization.CultureInfo.InvariantCulture)} + {seconds}",
            null, new PageWaitForFunctionOptions { Timeout = 20_000, PollingInterval = 100 });
    }

    [Fact]
    public async Task PushToTalk_HoldingTheButton_SendsTheMicrophoneToTheCamerasBackchannel_ASecondTalkerIsToldSomeoneElseIsTalking()
    {
        await using var app = await AppPage.OpenAsync(f, Lab.Token(Alice));
        await app.Device(NvrId).WaitForAsync();
        await app.OpenChannelAsync(NvrId, 1);
        var talk = app.Page.GetByRole(AriaRole.Button, new() { Name = "Hold to talk" });
        var status = app.Page.Locator("[data-role=talk-status]");
        var file = Lab.Camera.BackchannelFile;

        // gst-rtsp-server's backchannel sometimes writes nothing in a session although the gateway forwarded the audio:
        // such a press is repeated (at most three), only when the gateway's end-of-talk line says frames reached the camera.
        for (var attempt = 1; ; attempt++)
        {
            await talk.HoverAsync();
            await app.Page.Mouse.DownAsync();
            try
            {
                await status.Filter(new() { HasText = "Talking" }).WaitForAsync(new() { Timeout = 20_000 });
            }
            catch (TimeoutException e)
            {
                throw new TimeoutException($"talk status \"{await status.InnerTextAsync()}\"; browser: {string.Join(" | ", app.Errors)}", e);
            }
            Assert.Equal("true", await talk.GetAttributeAsync("aria-pressed"));
            try
            {
                // Half a second of G.711 from Chromium's fake microphone in the camera's backchannel file.
                await Wait.UntilAsync(() => File.Exists(file) && new FileInfo(file).Length >= 4000, "the microphone's audio in the camera's backchannel file", 15_000);
                break;
            }
            catch (TimeoutException) when (attempt < 3)
            {
                var before = Lab.Gateway.Output.Split('\n').Count(l => l.Contains("WebRTC talk ", StringComparison.Ordinal) && l.Contains(" ended: ", StringComparison.Ordinal));
                await app.Page.Mouse.UpAsync();
                await Wait.UntilAsync(() => TalkEndedLines().Count > before, "the gateway's end-of-talk line", 10_000);
                Assert.DoesNotContain(" 0 frames to the device;", TalkEndedLines()[^1], StringComparison.Ordinal);
            }
        }

        // A second viewer presses on the same camera while Alice talks.
        await using (var other = await AppPage.OpenAsync(f, Lab.Token(Alice)))
        {
            await other.Device(NvrId).WaitForAsync();
            await other.OpenChannelAsync(NvrId, 1);
            var otherTalk = other.Page.GetByRole(AriaRole.Button, new() { Name = "Hold to talk" });
            await otherTalk.HoverAsync();
            await other.Page.Mouse.DownAsync();
            await other.Page.Locator("[data-role=talk-status]").Filter(new() { HasText = "Someone else is talking on this camera." }).WaitForAsync(new() { Timeout = 20_000 });
            Assert.Equal("false", await otherTalk.GetAttributeAsync("aria-pressed"));
            await other.Page.Mouse.UpAsync();
            // The one error Chromium logs there is the refused offer's 409.
            Assert.All(other.Errors, e => Assert.Contains("409", e));
        }

        var ended = TalkEndedLines().Count;
        await app.Page.Mouse.UpAsync();
        Assert.Equal("false", await talk.GetAttributeAsync("aria-pressed"));
        // Releasing ends the session (WHEP DELETE): the gateway closes the camera's backchannel and frees the floor.
        await Wait.UntilAsync(() => TalkEndedLines().Count > ended, "the talk ended at the gateway", 10_000);
        Assert.Empty(app.Errors);
    }

    private List<string> TalkEndedLines() =>
        [.. Lab.Gateway.Output.Split('\n').Where(l => l.Contains("WebRTC talk ", StringComparison.Ordinal) && l.Contains(" ended: ", StringComparison.Ordinal))];

    private List<string> Ops(int skip) => [.. Lab.Onvif.Operations.Skip(skip)];

    [Fact]
    public async Task Alarm_FromTheCamerasEvents_AppearsLiveInTheAlarmsList_NewestFirst()
    {
        await using var app = await AppPage.OpenAsync(f, Lab.Token(Alice));
        await app.Device(NvrId).WaitForAsync();
        await Wait.UntilAsync(() => Lab.Onvif.ActiveSubscriptions > 0, "the gateway's PullPoint subscription on the NVR", 30_000);
        await app.Page.Locator("#alarms-status").Filter(new() { HasText = "Connected" }).WaitForAsync(new() { State = WaitForSelectorState.Attached });

        Lab.Onvif.EmitMotion(1, true);
        // While the Devices page is open, the tab counts what came.
        await app.Page.Locator("#alarm-count").Filter(new() { HasText = "1" }).WaitForAsync(new() { Timeout = 15_000 });
        Lab.Onvif.EmitMotion(1, false);
        await app.Page.Locator("#tab-alarms").ClickAsync();
        await app.Page.Locator("li.alarm").Nth(1).WaitForAsync(new() { Timeout = 15_000 });

        var items = await TextsAsync(app.Page.Locator("li.alarm strong"));
        Assert.Equal(["Motion ended", "Motion"], items);
        // The device as named by its ONVIF name scope (the devices API's "name"), no longer by its model.
        Assert.Contains("Shop NVR", await app.Page.Locator("li.alarm").First.InnerTextAsync());
        Assert.False(await app.Page.Locator("#alarm-count").IsVisibleAsync());
        // The start carries the picture the gateway took at that instant (contract §7), fetched with the token in the
        // Authorization header and shown from a blob: URL; the stop has none.
        var picture = app.Page.Locator("li.alarm-start img.snapshot");
        await picture.WaitForAsync(new() { Timeout = 20_000 });
        await app.Page.WaitForFunctionAsync("() => document.querySelector('li.alarm-start img.snapshot').naturalWidth > 0", null, new() { Timeout = 10_000 });
        Assert.StartsWith("blob:", await picture.GetAttributeAsync("src"));
        Assert.Equal(0, await app.Page.Locator("li.alarm-stop img.snapshot:visible").CountAsync());
        await app.ScreenshotAsync("alarms-desktop");
        AssertNoErrors(app);
    }

    [Fact]
    public async Task EveryPage_CarriesTheStrictCsp_AndTheBrowserReportsNoViolationOrError()
    {
        await using var app = await AppPage.OpenAsync(f, Lab.Token(Alice));
        var headers = await app.Response!.AllHeadersAsync();
        Assert.StartsWith("default-src 'none'; script-src 'self'", headers["content-security-policy"]);
        Assert.Equal("nosniff", headers["x-content-type-options"]);
        Assert.Equal("no-referrer", headers["referrer-policy"]);
        // A CSP violation would be a console error; walk every view to give one the chance.
        await app.Device(NvrId).WaitForAsync();
        await app.Device(NvrId).GetByRole(AriaRole.Button, new() { Name = "All 2 cameras" }).ClickAsync();
        await app.Page.Locator("#view-live .player").Nth(1).WaitForAsync();
        await app.Page.Locator(".tile[data-channel='1'] .tile-open").ClickAsync();
        await app.Page.Locator("#channel-controls .ptz").WaitForAsync();
        await app.Page.Locator("#tab-alarms").ClickAsync();
        await app.Page.Locator("#view-alarms").WaitForAsync();
        await app.Page.Locator("#tabs button[data-view='devices']").ClickAsync();
        await app.Device(NvrId).WaitForAsync();

        AssertNoErrors(app);
    }

    [Fact]
    public async Task Screenshots_OfTheMainPages_AtDesktopAndPhoneSize_GoToDocs()
    {
        foreach (var (size, viewport, mobile) in new[] { ("desktop", AppPage.Desktop, false), ("phone", AppPage.Phone, true) })
        {
            await using (var signin = await AppPage.OpenAsync(f, null, viewport, mobile))
            {
                await signin.Page.Locator("#view-signin").WaitForAsync();
                await signin.ScreenshotAsync($"signin-{size}");
            }
            await using var app = await AppPage.OpenAsync(f, Lab.Token(Alice), viewport, mobile);
            await app.Device(NvrId).WaitForAsync();
            await app.ScreenshotAsync($"devices-{size}");
            await app.OpenChannelAsync(NvrId, 1);
            await app.Page.Locator("#channel-controls .ptz").WaitForAsync();
            await app.Page.Locator("#channel-player .player:not([data-state='connecting'])").WaitForAsync(new() { Timeout = 15_000 });
            await app.ScreenshotAsync($"camera-{size}");
            AssertNoErrors(app);
        }
        foreach (var name in new[] { "signin", "devices", "camera" })
        {
            Assert.True(new FileInfo(Path.Combine(AppPage.ScreenshotDirectory, $"{name}-phone.png")).Length > 10_000, name);
            Assert.True(new FileInfo(Path.Combine(AppPage.ScreenshotDirectory, $"{name}-desktop.png")).Length > 10_000, name);
        }
    }

    private static void AssertNoErrors(AppPage app) =>
        Assert.True(app.Errors.Count == 0, "the browser reported:\n" + string.Join("\n", app.Errors));

    private static byte[] Base64Url(string s) => Convert.FromBase64String(s.Replace('-', '+').Replace('_', '/') + new string('=', (4 - s.Length % 4) % 4));
}
