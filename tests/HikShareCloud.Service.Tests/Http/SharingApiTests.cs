using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using HikShareCloud.Service.Tests.Infrastructure;
using HikShareGateway.Access.Jose;
using HikShareGateway.Access.Tokens;
using HikShareGateway.Core.Access;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace HikShareCloud.Service.Tests.Http;

/// <summary>
/// <c>SharingServer</c> as <c>hikshare-cloud serve</c> runs it (Kestrel on loopback, SQLite file under
/// its state directory, PBKDF2 at 600k), against a real mosquitto and a gateway's GrantsStore.
/// </summary>
[Trait("Category", "Integration")]
public sealed class SharingApiTests : IAsyncLifetime
{
    private const string Gw = "gw-lab-01";
    private const string Nvr = "DS-7608NI-K2-E12345678";
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "hikshare-serve-" + Guid.NewGuid().ToString("N")[..10]);
    private readonly RecordingSender _codes = new();
    private Mosquitto _broker = null!;
    private WebApplication _app = null!;
    private HttpClient _http = null!;
    private Ed25519SigningKey _key = null!;

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_dir);
        _key = Ed25519SigningKey.Generate("cloud-serve-1");
        var keyFile = Path.Combine(_dir, "cloud-key.json");
        await File.WriteAllTextAsync(keyFile, _key.ToPrivateJson());
        _broker = await Mosquitto.StartAsync();
        _app = await SharingServer.BuildAsync(new ServiceOptions
        {
            StateDirectory = Path.Combine(_dir, "state"),
            SigningKeyFiles = [keyFile],
            Broker = _broker.Url,
            Listen = "http://127.0.0.1:0",
            Smtp = new SmtpOptions { Host = "127.0.0.1", Port = 9 },
        }, _codes);
        await _app.StartAsync();
        var address = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        _http = new HttpClient { BaseAddress = new Uri(address) };
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        await _broker.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    private async Task<string> AccountAsync(string address, string password = "a long enough password")
    {
        var signUp = await _http.PostAsJsonAsync("/api/v1/accounts", new { address, password });
        Assert.True(signUp.StatusCode == HttpStatusCode.Accepted, await signUp.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.NoContent, (await _http.PostAsJsonAsync("/api/v1/accounts/verify", new { address, code = _codes.LastCode[address] })).StatusCode);
        var session = await _http.PostAsJsonAsync("/api/v1/sessions", new { address, password });
        Assert.Equal(HttpStatusCode.Created, session.StatusCode);
        return (await session.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("token").GetString()!;
    }

    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, string? token, object? body = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
        if (body is not null)
        {
            request.Content = JsonContent.Create(body);
        }
        return await _http.SendAsync(request);
    }

    private static async Task<JsonElement> ProblemAsync(HttpResponseMessage r, int status, string code)
    {
        Assert.Equal(status, (int)r.StatusCode);
        Assert.Equal("application/problem+json", r.Content.Headers.ContentType?.MediaType);
        var p = await r.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("urn:hikshare:problem:" + code, p.GetProperty("type").GetString());
        Assert.Equal(status, p.GetProperty("status").GetInt32());
        Assert.False(string.IsNullOrEmpty(p.GetProperty("detail").GetString()));
        return p;
    }

    [Fact]
    public async Task OwnerBindsShares_RecipientAccepts_GatewayGrantsAllowIt_AndTheViewerTokenIsForThatGateway()
    {
        var owner = await AccountAsync("owner@example.com");
        var bob = await AccountAsync("bob@example.com");
        var trusted = new TrustedKeySet([_key.Public]);
        await using var gw = await FakeGateway.ConnectAsync(_broker.Port, Gw, trusted);
        await gw.PublishAsync("binding", Harness.BindingMessage("777-111"), retain: true);
        await gw.PublishAsync("devices", Harness.Inventory((Nvr, 4)), retain: true);

        await Wait.UntilAsync(async () => (await SendAsync(HttpMethod.Post, $"/api/v1/gateways/{Gw}/bind", owner, new { code = "777-111" })).StatusCode == HttpStatusCode.NoContent,
            "the bind accepted once the gateway's binding message arrived");
        await Wait.UntilAsync(async () => (await (await SendAsync(HttpMethod.Get, "/api/v1/gateways", owner)).Content.ReadFromJsonAsync<JsonElement>())[0].GetProperty("devices").GetArrayLength() == 1,
            "the inventory's device listed");

        var created = await SendAsync(HttpMethod.Post, "/api/v1/shares", owner, new
        {
            recipient = "BOB@example.com", remark = "front shop",
            devices = new[] { new { deviceId = Nvr, channels = new[] { 1, 2 }, privileges = new[] { "liveView", "ptz" } } },
        });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var share = await created.Content.ReadFromJsonAsync<JsonElement>();
        var shareId = share.GetProperty("shareId").GetString();
        Assert.Equal("pending", share.GetProperty("state").GetString());
        Assert.Equal(shareId, (await (await SendAsync(HttpMethod.Get, "/api/v1/shares/incoming", bob)).Content.ReadFromJsonAsync<JsonElement>())[0].GetProperty("shareId").GetString());

        await ProblemAsync(await SendAsync(HttpMethod.Post, "/api/v1/viewer-tokens", bob, new { gatewayId = Gw }), 403, "no-access-to-gateway");
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Post, $"/api/v1/shares/{shareId}/accept", bob)).StatusCode);
        await Wait.UntilAsync(() => gw.Store.IsAllowed("bob@example.com", Nvr, 2, Privilege.Ptz), "the accepted share at the gateway");

        var issued = await (await SendAsync(HttpMethod.Post, "/api/v1/viewer-tokens", bob, new { gatewayId = Gw })).Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(TokenError.None, ViewerTokens.Validate(issued.GetProperty("token").GetString()!, trusted, Gw, DateTimeOffset.UtcNow, out var sub));
        Assert.Equal("bob@example.com", sub);

        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Delete, $"/api/v1/shares/{shareId}", bob)).StatusCode);
        await Wait.UntilAsync(() => !gw.Store.IsAllowed("bob@example.com", Nvr, 1, Privilege.LiveView), "the share the recipient deleted gone at the gateway");
        var history = await (await SendAsync(HttpMethod.Get, "/api/v1/shares/history", owner)).Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("bob@example.com", history[0].GetProperty("recipient").GetString());
    }

    [Fact]
    public async Task BadInput_ProblemJson_AndNothingChanges()
    {
        var owner = await AccountAsync("owner@example.com");
        await ProblemAsync(await SendAsync(HttpMethod.Get, "/api/v1/shares/outgoing", null), 401, "unauthorized");
        await ProblemAsync(await SendAsync(HttpMethod.Get, "/api/v1/shares/outgoing", "hs_forged"), 401, "unauthorized");
        await ProblemAsync(await SendAsync(HttpMethod.Post, "/api/v1/shares", owner, new { recipient = "bob@example.com", devices = new[] { new { deviceId = "NOT-MINE", channels = new[] { 1 }, privileges = new[] { "liveView" } } } }), 403, "not-your-device");
        await ProblemAsync(await SendAsync(HttpMethod.Post, "/api/v1/accounts", null, new { address = "nobody", password = "a long enough password" }), 400, "bad-account");
        await ProblemAsync(await SendAsync(HttpMethod.Post, "/api/v1/sessions", null, new { address = "owner@example.com", password = "wrong password!" }), 401, "unauthorized");
        await ProblemAsync(await SendAsync(HttpMethod.Put, "/api/v1/shares/sh-x", owner, new { devices = Array.Empty<object>() }), 400, "version-required");
        await ProblemAsync(await SendAsync(HttpMethod.Post, "/api/v1/shares/sh-nope/accept", owner), 404, "no-such-share");
        await ProblemAsync(await SendAsync(HttpMethod.Get, "/api/v1/nothing-here", owner), 404, "not-found");
        using var malformed = new HttpRequestMessage(HttpMethod.Post, "/api/v1/shares") { Content = new StringContent("{\"recipient\": ", Encoding.UTF8, "application/json") };
        malformed.Headers.Authorization = new AuthenticationHeaderValue("Bearer", owner);
        await ProblemAsync(await _http.SendAsync(malformed), 400, "bad-request");
        Assert.Equal(0, (await (await SendAsync(HttpMethod.Get, "/api/v1/shares/outgoing", owner)).Content.ReadFromJsonAsync<JsonElement>()).GetArrayLength());
    }

    [Fact]
    public async Task CookieSession_ChangesNeedTheCurrentCsrfToken_AReplayedOneIsRefused()
    {
        await AccountAsync("owner@example.com");
        var signIn = await _http.PostAsJsonAsync("/api/v1/sessions", new { address = "owner@example.com", password = "a long enough password", cookie = true });
        Assert.Equal(HttpStatusCode.Created, signIn.StatusCode);
        var setCookie = Assert.Single(signIn.Headers.GetValues("Set-Cookie"));
        Assert.Contains("httponly", setCookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=strict", setCookie, StringComparison.OrdinalIgnoreCase);
        var csrf = (await signIn.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("csrfToken").GetString()!;

        // Reading needs only the cookie.
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Get, "/api/v1/shares/outgoing", null)).StatusCode);
        var share = new { recipient = "bob@example.com", devices = new[] { new { deviceId = "NOT-MINE", channels = new[] { 1 }, privileges = new[] { "liveView" } } } };
        // A change without the token (what a cross-site form would send) is refused before anything is looked at.
        await ProblemAsync(await SendAsync(HttpMethod.Post, "/api/v1/shares", null, share), 403, "csrf-token");

        async Task<HttpResponseMessage> WithCsrf(string token)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/shares") { Content = JsonContent.Create(share) };
            request.Headers.Add("X-CSRF-Token", token);
            return await _http.SendAsync(request);
        }
        var first = await WithCsrf(csrf);
        await ProblemAsync(first, 403, "not-your-device"); // past the CSRF check; refused by the share rules
        var next = Assert.Single(first.Headers.GetValues("X-CSRF-Token"));
        await ProblemAsync(await WithCsrf(csrf), 403, "csrf-token"); // replayed
        await ProblemAsync(await WithCsrf(next), 403, "not-your-device");
    }

    [Fact]
    public async Task Portal_PageScriptAndStyle_ServedUnderAStrictCsp_WithNoInlineScriptOrStyle()
    {
        using var page = await _http.GetAsync("/");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        var csp = Assert.Single(page.Headers.GetValues("Content-Security-Policy"));
        Assert.Contains("default-src 'none'", csp);
        Assert.Contains("script-src 'self'", csp);
        Assert.DoesNotContain("unsafe-inline", csp);
        Assert.Contains("frame-ancestors 'none'", csp);
        Assert.Equal("nosniff", Assert.Single(page.Headers.GetValues("X-Content-Type-Options")));
        var html = await page.Content.ReadAsStringAsync();
        Assert.Matches("<script type=\"module\" src=\"/portal/portal.js\"></script>", html);
        Assert.DoesNotMatch("<script(?![^>]*\\ssrc=)", html); // every script has a src
        Assert.DoesNotContain(" style=", html);
        Assert.DoesNotContain("http://", html);
        Assert.DoesNotContain("https://", html);
        using var js = await _http.GetAsync("/portal/portal.js");
        Assert.Equal("text/javascript", js.Content.Headers.ContentType?.MediaType);
        var script = await js.Content.ReadAsStringAsync();
        Assert.DoesNotContain(".innerHTML =", script);
        Assert.DoesNotContain("insertAdjacentHTML", script);
        Assert.DoesNotContain("eval(", script);
        using var css = await _http.GetAsync("/portal/portal.css");
        Assert.Equal("text/css", css.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task CsrfReset_ForAReloadedPortal_GivesAWorkingToken_AndTheOldOneStopsWorking()
    {
        await AccountAsync("owner@example.com");
        await ProblemAsync(await SendAsync(HttpMethod.Get, "/api/v1/sessions/csrf", null), 401, "unauthorized");
        var signIn = await _http.PostAsJsonAsync("/api/v1/sessions", new { address = "owner@example.com", password = "a long enough password", cookie = true });
        var old = (await signIn.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("csrfToken").GetString()!;
        var reset = await (await SendAsync(HttpMethod.Get, "/api/v1/sessions/csrf", null)).Content.ReadFromJsonAsync<JsonElement>();
        var fresh = reset.GetProperty("csrfToken").GetString()!;
        Assert.NotEqual(old, fresh);

        async Task<HttpResponseMessage> Bind(string token)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, $"/api/v1/gateways/{Gw}/bind") { Content = JsonContent.Create(new { code = "1" }) };
            request.Headers.Add("X-CSRF-Token", token);
            return await _http.SendAsync(request);
        }
        await ProblemAsync(await Bind(old), 403, "csrf-token");
        await ProblemAsync(await Bind(fresh), 404, "unknown-gateway"); // past the CSRF check
    }

    [Fact]
    public async Task Watch_WithoutAccess403_ForTheOwnerAViewerUrlWithAFreshTokenInTheFragment_AuditOnlyForTheOwner()
    {
        var owner = await AccountAsync("owner@example.com");
        var mallory = await AccountAsync("mallory@example.com");
        var trusted = new TrustedKeySet([_key.Public]);
        await using var gw = await FakeGateway.ConnectAsync(_broker.Port, Gw, trusted);
        await gw.PublishAsync("binding", Harness.BindingMessage("777-111"), retain: true);
        await gw.PublishAsync("devices", Harness.Inventory((Nvr, 4)), retain: true);
        await Wait.UntilAsync(async () => (await SendAsync(HttpMethod.Post, $"/api/v1/gateways/{Gw}/bind", owner, new { code = "777-111" })).StatusCode == HttpStatusCode.NoContent,
            "the bind accepted once the gateway's binding message arrived");
        await Wait.UntilAsync(async () => (await (await SendAsync(HttpMethod.Get, "/api/v1/gateways", owner)).Content.ReadAsStringAsync()).Contains(Nvr), "the inventory's device listed");

        await ProblemAsync(await SendAsync(HttpMethod.Post, "/api/v1/watch", mallory, new { deviceId = Nvr, channel = 1 }), 403, "no-access-to-gateway");
        await ProblemAsync(await SendAsync(HttpMethod.Post, "/api/v1/watch", mallory, new { deviceId = "NO-SUCH", channel = 1 }), 403, "no-access-to-gateway");
        await ProblemAsync(await SendAsync(HttpMethod.Post, "/api/v1/watch", owner, new { deviceId = Nvr, channel = 0 }), 400, "bad-channel");
        // This service has no viewer address configured for the gateway.
        await ProblemAsync(await SendAsync(HttpMethod.Post, "/api/v1/watch", owner, new { deviceId = Nvr, channel = 1 }), 404, "no-viewer-url");

        // Audit events the gateway reports are listed for its owner only, newest first, without the viewer's address.
        await gw.PublishAsync("audit", $$"""{"at":"2026-12-01T08:00:00Z","sessionId":"s1","account":"bob@example.com","deviceId":"{{Nvr}}","channel":2,"action":"liveView","decision":"allow","reason":"granted","remote":"192.0.2.9:5000"}""", retain: false);
        await Wait.UntilAsync(async () => (await (await SendAsync(HttpMethod.Get, "/api/v1/audit", owner)).Content.ReadFromJsonAsync<JsonElement>()).GetArrayLength() == 1, "the audit event kept");
        var events = await (await SendAsync(HttpMethod.Get, "/api/v1/audit?account=BOB@example.com", owner)).Content.ReadFromJsonAsync<JsonElement>();
        var e = Assert.Single(events.EnumerateArray());
        Assert.Equal(2, e.GetProperty("channel").GetInt32());
        Assert.Equal("allow", e.GetProperty("decision").GetString());
        Assert.False(e.TryGetProperty("remote", out _));
        Assert.Equal(0, (await (await SendAsync(HttpMethod.Get, "/api/v1/audit", mallory)).Content.ReadFromJsonAsync<JsonElement>()).GetArrayLength());
        Assert.Equal(0, (await (await SendAsync(HttpMethod.Get, "/api/v1/audit?deviceId=OTHER", owner)).Content.ReadFromJsonAsync<JsonElement>()).GetArrayLength());
    }
}
