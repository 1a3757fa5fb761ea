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
public sealed class WebAppBrowserTests(WebAppFixture f) : IClassFixture<WebAppFixture>
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
        Assert.Empty(app.Errors);
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
        Assert.Contains("Front door only", await bob.Device(NvrId).InnerTextAsync());

        // :: The camera page: Alice gets the PTZ pad, push-to-talk and playback; Bob the picture alone.
        await alice.OpenChannelAsync(NvrId, 1);
        await bob.OpenChannelAsync(NvrId, 1);
        Assert.Equal(10, await alice.Page.Locator("#channel-controls .ptz button.ptz-btn").CountAsync());
        Assert.Equal(1, await alice.Page.GetByRole(AriaRole.Button, new() { Name = "Hold to talk" }).CountAsync());
        Assert.Equal(1, await alice.Page.Locator("#channel-controls").GetByRole(AriaRole.Button, new() { Name = "Playback" }).CountAsync());
        Assert.Equal(1, await bob.Page.Locator("#channel-player .player").CountAsync());
        Assert.Equal(0, await bob.Page.Locator("#channel-controls > *").CountAsync());
        // Channel 2 of the NVR has no PTZ (the simulator's PTZ is on channel 1): no pad there even for Alice.
        await alice.Page.Locator("#channel-back").ClickAsync();
        await alice.Page.Locator("#view-live").WaitForAsync();
        await alice.Page.GetByRole(AriaRole.Button, new() { Name = "Camera 2 — full screen" }).Or(alice.Page.Locator(".tile[data-channel='2'] .tile-open")).First.ClickAsync();
        await alice.Page.Locator("#view-channel").WaitForAsync();
        Assert.Equal(0, await alice.Page.Locator("#channel-controls .ptz").CountAsync());

        Assert.Empty(alice.Errors);
        Assert.Empty(bob.Errors);
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
        Assert.Empty(app.Errors);
    }

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
        Assert.Contains("DS-7608NI-K2", await app.Page.Locator("li.alarm").First.InnerTextAsync());
        Assert.False(await app.Page.Locator("#alarm-count").IsVisibleAsync());
        Assert.Empty(app.Errors);
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

        Assert.Empty(app.Errors);
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
            Assert.Empty(app.Errors);
        }
        foreach (var name in new[] { "signin", "devices", "camera" })
        {
            Assert.True(new FileInfo(Path.Combine(AppPage.ScreenshotDirectory, $"{name}-phone.png")).Length > 10_000, name);
            Assert.True(new FileInfo(Path.Combine(AppPage.ScreenshotDirectory, $"{name}-desktop.png")).Length > 10_000, name);
        }
    }

    private static byte[] Base64Url(string s) => Convert.FromBase64String(s.Replace('-', '+').Replace('_', '/') + new string('=', (4 - s.Length % 4) % 4));
}
