using Microsoft.Playwright;

namespace HikShareGateway.Tests.WebApp;

/// <summary>
/// The lab and Debian's Chromium (through Playwright, no browser download), shared by one test class. The fake
/// media flags give the page a microphone without a prompt (push-to-talk).
/// </summary>
public sealed class WebAppFixture : IAsyncLifetime
{
    public WebAppLab Lab { get; private set; } = null!;
    public IPlaywright Playwright { get; private set; } = null!;
    public IBrowser Browser { get; private set; } = null!;

    private static readonly string[] Flags = ["--no-sandbox", "--autoplay-policy=no-user-gesture-required", "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"];

    public async Task InitializeAsync()
    {
        Lab = await WebAppLab.StartAsync();
        Playwright = await Microsoft.Playwright.Playwright.CreateAsync();
        Browser = await Playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions { ExecutablePath = "/usr/bin/chromium", Headless = true, Args = Flags });
    }

    public async Task DisposeAsync()
    {
        await Browser.DisposeAsync();
        Playwright.Dispose();
        await Lab.DisposeAsync();
    }
}

/// <summary>One page of the app with everything the browser reported as an error (console and uncaught).</summary>
public sealed class AppPage : IAsyncDisposable
{
    public static readonly ViewportSize Desktop = new() { Width = 1280, Height = 800 };
    public static readonly ViewportSize Phone = new() { Width = 390, Height = 844 };

    private readonly IBrowserContext _context;
    private readonly List<string> _errors = [];

    private AppPage(IBrowserContext context, IPage page)
    {
        _context = context;
        Page = page;
        page.Console += (_, m) =>
        {
            if (m.Type is "error" or "warning")
            {
                lock (_errors) { _errors.Add($"console {m.Type}: {m.Text} ({m.Location})"); }
            }
        };
        page.PageError += (_, e) => { lock (_errors) { _errors.Add("uncaught: " + e); } };
    }

    public IPage Page { get; }
    public IResponse? Response { get; private set; }

    public IReadOnlyList<string> Errors { get { lock (_errors) { return [.. _errors]; } } }

    /// <summary>A fresh browser context (own sessionStorage) at <paramref name="viewport"/>, the app opened with the cloud portal's <c>/#token=</c> link (or without a token).</summary>
    /// <param name="blockWebRtc">
    /// The gateway's media port unreachable, as when a firewall drops UDP: the page's answers lose their ICE candidates,
    /// and the offer its own, so neither ICE agent has anything to check and none connects (Chromium on loopback ignores
    /// its UDP policy switches).
    /// </param>
    public static async Task<AppPage> OpenAsync(WebAppFixture f, string? token, ViewportSize? viewport = null, bool isMobile = false, bool blockWebRtc = false)
    {
        var context = await f.Browser.NewContextAsync(new BrowserNewContextOptions
        {
            ViewportSize = viewport ?? Desktop,
            IsMobile = isMobile,
            HasTouch = isMobile,
            DeviceScaleFactor = 1,
            Permissions = ["microphone"],
        });
        if (blockWebRtc)
        {
            await context.AddInitScriptAsync("""
                const setRemote = RTCPeerConnection.prototype.setRemoteDescription;
                RTCPeerConnection.prototype.setRemoteDescription = function (d) {
                  const sdp = d.sdp.split('\r\n').filter(l => !l.startsWith('a=candidate')).join('\r\n');
                  return setRemote.call(this, { type: d.type, sdp });
                };
                """);
            // The gateway is a full ICE agent: with the browser's candidates it would check them itself (and the browser
            // would learn it as peer-reflexive). Take them out of the offer and of any trickled fragment too.
            await context.RouteAsync("**/whep/**", async route =>
            {
                if (route.Request.Method is "POST" or "PATCH" && route.Request.PostData is { } body)
                {
                    var stripped = string.Join("\r\n", body.Split("\r\n").Where(l => !l.StartsWith("a=candidate", StringComparison.Ordinal)));
                    await route.ContinueAsync(new RouteContinueOptions { PostData = System.Text.Encoding.UTF8.GetBytes(stripped) });
                }
                else
                {
                    await route.ContinueAsync();
                }
            });
        }
        var app = new AppPage(context, await context.NewPageAsync());
        app.Response = await app.Page.GotoAsync(f.Lab.BaseUrl + "/" + (token is null ? "" : "#token=" + token));
        await app.Page.WaitForSelectorAsync("body[data-ready=true]", new() { State = WaitForSelectorState.Attached, Timeout = 15_000 });
        return app;
    }

    public ILocator Device(string deviceId) => Page.Locator($"li.device[data-device-id='{deviceId}']");

    public async Task OpenChannelAsync(string deviceId, int channel)
    {
        await Device(deviceId).Locator($"li.channel-row[data-channel='{channel}']").GetByRole(AriaRole.Button, new() { Name = "Watch" }).ClickAsync();
        await Page.Locator("#view-channel").WaitForAsync();
    }

    /// <summary>Writes a full-page PNG to <see cref="ScreenshotDirectory"/>.</summary>
    public async Task ScreenshotAsync(string name)
    {
        Directory.CreateDirectory(ScreenshotDirectory);
        await Page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(ScreenshotDirectory, name + ".png"), FullPage = true, Animations = ScreenshotAnimations.Disabled });
    }

    /// <summary>
    /// docs/screenshots of the repository (shown in the README) with HIKSHARE_UPDATE_SCREENSHOTS=1, which is how they are
    /// made; a temporary folder otherwise, so that a test run leaves the tree clean.
    /// </summary>
    public static string ScreenshotDirectory => Environment.GetEnvironmentVariable("HIKSHARE_UPDATE_SCREENSHOTS") == "1"
        ? Path.Combine(RepositoryRoot(), "docs", "screenshots")
        : Path.Combine(Path.GetTempPath(), "hikshare-webapp-screenshots");

    private static string RepositoryRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            if (File.Exists(Path.Combine(d.FullName, "HikShareGateway.sln")))
            {
                return d.FullName;
            }
        }
        throw new InvalidOperationException("HikShareGateway.sln not found above " + AppContext.BaseDirectory);
    }

    public async ValueTask DisposeAsync() => await _context.DisposeAsync();
}
