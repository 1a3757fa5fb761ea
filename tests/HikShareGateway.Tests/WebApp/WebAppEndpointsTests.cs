using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using HikShareGateway.Http.WebApp;
using HikShareGateway.Tests.Http;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Patterns;

namespace HikShareGateway.Tests.WebApp;

/// <summary>
/// The web viewer's files (contract §5.4) as the gateway serves them: from the assembly, with a strict CSP and the
/// other security headers on every answer, no inline script or style anywhere, and the token never put in a URL.
/// </summary>
[Trait("Category", "Unit")]
public sealed partial class WebAppEndpointsTests : IAsyncLifetime
{
    private ApiTestHost _host = null!;

    public async Task InitializeAsync() => _host = await ApiTestHost.StartAsync(map: app => app.MapWebApp());

    public async Task DisposeAsync() => await _host.DisposeAsync();

    private static void AssertSecurityHeaders(HttpResponseMessage r)
    {
        var csp = string.Join(",", r.Headers.GetValues("Content-Security-Policy"));
        Assert.Contains("default-src 'none'", csp);
        Assert.Contains("script-src 'self'", csp);
        Assert.Contains("frame-ancestors 'none'", csp);
        Assert.DoesNotContain("unsafe-inline", csp);
        Assert.DoesNotContain("unsafe-eval", csp);
        Assert.DoesNotContain("http:", csp);
        Assert.Equal("nosniff", Assert.Single(r.Headers.GetValues("X-Content-Type-Options")));
        Assert.Equal("no-referrer", Assert.Single(r.Headers.GetValues("Referrer-Policy")));
        Assert.Equal("DENY", Assert.Single(r.Headers.GetValues("X-Frame-Options")));
    }

    [Fact]
    public async Task Root_ServesTheAppPage_WithoutAToken_WithCspNosniffAndNoReferrer()
    {
        using var r = await _host.Client.GetAsync("/");

        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.Equal("text/html", r.Content.Headers.ContentType!.MediaType);
        // Relative (app/…): the same page works at / on the gateway and at /gw/{gatewayId}/ on the sharing service.
        Assert.Contains("<script type=\"module\" src=\"app/js/main.js\"></script>", await r.Content.ReadAsStringAsync());
        AssertSecurityHeaders(r);
    }

    [Fact]
    public async Task EveryEmbeddedFile_IsServedWithItsContentTypeAndTheSecurityHeaders()
    {
        Assert.Contains("/index.html", WebAppEndpoints.All.Keys);
        Assert.Contains("/app/js/main.js", WebAppEndpoints.All.Keys);
        Assert.Contains("/app/app.css", WebAppEndpoints.All.Keys);
        foreach (var file in WebAppEndpoints.All.Values)
        {
            var path = file.Path == "/index.html" ? "/" : file.Path;
            using var r = await _host.Client.GetAsync(path);
            Assert.True(r.StatusCode == HttpStatusCode.OK, path);
            Assert.Equal(file.ContentType, r.Content.Headers.ContentType!.ToString());
            Assert.Equal(file.Content, await r.Content.ReadAsByteArrayAsync());
            AssertSecurityHeaders(r);
        }
        Assert.Equal("text/javascript; charset=utf-8", WebAppEndpoints.All["/app/js/main.js"].ContentType);
    }

    [Fact]
    public async Task UnknownAppFile_Is404Problem_StillWithTheSecurityHeaders()
    {
        using var r = await _host.Client.GetAsync("/app/js/nothing-here.js");

        Assert.Equal(HttpStatusCode.NotFound, r.StatusCode);
        Assert.Equal("application/problem+json", r.Content.Headers.ContentType!.MediaType);
        AssertSecurityHeaders(r);
    }

    [Fact]
    public async Task RepeatedRequest_WithTheETag_Is304WithoutABody()
    {
        using var first = await _host.Client.GetAsync("/app/js/main.js");
        var etag = first.Headers.ETag!.Tag;
        using var again = new HttpRequestMessage(HttpMethod.Get, "/app/js/main.js");
        again.Headers.TryAddWithoutValidation("If-None-Match", etag);

        using var r = await _host.Client.SendAsync(again);

        Assert.Equal(HttpStatusCode.NotModified, r.StatusCode);
        Assert.Empty(await r.Content.ReadAsByteArrayAsync());
        Assert.Equal("no-cache", first.Headers.CacheControl!.ToString());
    }

    [Fact]
    public async Task Config_OnTheApiAlone_OffersNoBrowserTransport_ButTheDeviceChangeStream()
    {
        using var r = await _host.Client.GetAsync("/app/config.json");

        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        AssertSecurityHeaders(r);
        using var json = JsonDocument.Parse(await r.Content.ReadAsStringAsync());
        Assert.False(json.RootElement.GetProperty("whep").GetBoolean());
        Assert.False(json.RootElement.GetProperty("fmp4").GetBoolean());
        Assert.False(json.RootElement.GetProperty("snapshots").GetBoolean());
        Assert.Equal("/api/v1/devices/events", json.RootElement.GetProperty("deviceChanges").GetString());
    }

    [Fact]
    public void Config_ReadsTheMappedEndpoints_WhepFmp4SnapshotsAndTheDeviceChangeStream()
    {
        static RouteEndpoint At(string pattern) => new(_ => Task.CompletedTask, RoutePatternFactory.Parse(pattern), 0, null, pattern);
        var endpoints = new DefaultEndpointDataSource(
            At("/whep/live/{deviceId}/{channel}/{stream}"),
            At("/api/v1/live/{deviceId}/{channel}/{stream}.mp4"),
            At("/api/v1/devices/{deviceId}/channels/{channel}/snapshot.jpg"),
            At("/api/v1/devices/events"),
            At("/api/v1/playback/{deviceId}/{channel}.mp4"));

        var config = WebAppConfig.From(endpoints);

        Assert.Equal(new WebAppConfig(true, true, true, "/api/v1/devices/events", WhepPlayback: false, Fmp4Playback: true), config);
        Assert.Equal(new WebAppConfig(false, false, false, null), WebAppConfig.From(new DefaultEndpointDataSource(At("/api/v1/devices"))));
    }

    [Fact]
    public void Html_HasNoInlineScriptStyleOrEventHandler()
    {
        var html = Encoding.UTF8.GetString(WebAppEndpoints.All["/index.html"].Content);

        foreach (Match script in ScriptTag().Matches(html))
        {
            Assert.Contains(" src=\"app/", script.Value); // our own file, relative to the page (/ or /gw/{gatewayId}/)
            Assert.Contains("type=\"module\"", script.Value);
        }
        Assert.Single(ScriptTag().Matches(html));
        Assert.DoesNotContain("<style", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotMatch(InlineAttribute(), html);
        Assert.DoesNotContain("http://", html);
        Assert.DoesNotContain("https://", html);
    }

    [Fact]
    public void Scripts_NeitherEvalNorWriteHtml_NorSetStyleAttributes_NorPutTheTokenInAUrl()
    {
        var scripts = WebAppEndpoints.All.Values.Where(f => f.Path.EndsWith(".js", StringComparison.Ordinal)).ToList();
        Assert.True(scripts.Count >= 10, "the app's modules");
        foreach (var file in scripts)
        {
            var js = Encoding.UTF8.GetString(file.Content);
            // Text from the network is a text node, never markup; the CSP forbids eval and inline style anyway.
            Assert.DoesNotContain("innerHTML", js);
            Assert.DoesNotContain("outerHTML", js);
            Assert.DoesNotContain("insertAdjacentHTML", js);
            Assert.DoesNotContain("document.write", js);
            Assert.DoesNotContain("eval(", js);
            Assert.DoesNotContain("new Function", js);
            Assert.DoesNotContain("setAttribute('style'", js);
            Assert.DoesNotMatch(StyleAttributeInBuilder(), js);
            // The token travels in the Authorization header only: no URL the app builds carries it.
            Assert.DoesNotContain("?token=", js);
            Assert.DoesNotContain("&token=", js);
            Assert.DoesNotContain("localStorage", js);
            // No CDN or other origin: the app works offline on the LAN.
            Assert.DoesNotMatch(ImportFromElsewhere(), js);
        }
    }

    [GeneratedRegex("<script[^>]*>", RegexOptions.IgnoreCase)]
    private static partial Regex ScriptTag();

    [GeneratedRegex(@"\s(on[a-z]+|style)\s*=", RegexOptions.IgnoreCase)]
    private static partial Regex InlineAttribute();

    [GeneratedRegex(@"\{\s*[^}]*\bstyle\s*:")]
    private static partial Regex StyleAttributeInBuilder();

    [GeneratedRegex(@"(import|from)\s*['""](https?:)?//")]
    private static partial Regex ImportFromElsewhere();
}
