using System.Reflection;
using HikShareCloud.Service.Accounts;
using HikShareCloud.Service.Grants;
using HikShareCloud.Service.Http;
using HikShareCloud.Service.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace HikShareCloud.Service.Portal;

/// <param name="Relay">True: watch in the portal through the service's WHEP relay (answer: the relay URL and a viewer token) instead of the gateway's web viewer.</param>
public sealed record WatchBody(string? DeviceId, int? Channel, string? Stream, bool? Relay = null);

/// <summary>
/// The web portal: one HTML page and its JavaScript module and style sheet, embedded in the assembly (no CDN,
/// nothing inline), under a strict Content-Security-Policy. The page talks to the JSON API with the cookie session
/// and one-time CSRF tokens; this file adds the two endpoints only the portal needs.
/// </summary>
public static class PortalEndpoints
{
    /// <summary>Scripts, styles and requests only from this origin; no inline script or style, no frames, no plugins.</summary>
    public const string ContentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

    private static readonly (string Path, string Resource, string ContentType)[] Files =
    [
        ("/", "portal/index.html", "text/html; charset=utf-8"),
        ("/portal/portal.js", "portal/portal.js", "text/javascript; charset=utf-8"),
        ("/portal/portal.css", "portal/portal.css", "text/css; charset=utf-8"),
    ];

    public static void MapPortal(this WebApplication app)
    {
        foreach (var (path, resource, type) in Files)
        {
            var bytes = Load(resource);
            app.MapGet(path, (HttpContext context) =>
            {
                SecurityHeaders(context.Response);
                return Results.Bytes(bytes, type);
            });
        }

        // A fresh CSRF token for a page (re)loaded with a cookie session: the previous one stops working. Readable only
        // by this origin's script (no CORS), and the SameSite=Strict cookie is not sent from another site.
        app.MapGet("/api/v1/sessions/csrf", async (HttpContext context, AccountService accounts, CancellationToken ct) =>
        {
            var cookie = context.Request.Cookies[SharingApi.SessionCookie];
            if (cookie is null || await accounts.AuthenticateAsync(cookie, ct) is null)
            {
                throw ServiceException.Unauthorized("no portal session; sign in");
            }
            context.Response.Headers.CacheControl = "no-store";
            return Results.Json(new { csrfToken = await accounts.ResetCsrfAsync(cookie, ct) }, SharingApi.Json);
        });

        // "Watch": a fresh viewer token for the gateway of the device, handed to that gateway's web viewer in the URL
        // fragment (never sent to a server by the browser, so it stays out of access logs).
        app.MapPost("/api/v1/watch", async (WatchBody body, HttpContext context, ServiceDb db, ViewerTokenService tokens, ServiceOptions options, CancellationToken ct) =>
        {
            var account = await SharingApi.RequireAccountAsync(context);
            var deviceId = body.DeviceId is { Length: > 0 and <= 128 } d ? d : throw ServiceException.BadRequest("bad-device", "deviceId is required");
            var channel = body.Channel is >= 1 and <= HikShareGateway.Access.Grants.GrantsJson.MaxChannel ? body.Channel.Value
                : throw ServiceException.BadRequest("bad-channel", "channel is a camera number from 1");
            var stream = body.Stream is null or "main" or "sub" ? body.Stream ?? "main" : throw ServiceException.BadRequest("bad-stream", "stream is main or sub");
            var gatewayId = await db.InTransactionAsync(tx => tx.ScalarAsync("SELECT gateway_id FROM devices WHERE device_id = @d", ("@d", deviceId)), ct) as string;
            // Unknown device and no access look the same (never reveal whether a device exists).
            var issued = gatewayId is null
                ? throw ServiceException.Forbidden("no-access-to-gateway", "you neither own this device nor hold an accepted share of it")
                : await tokens.IssueAsync(account, gatewayId, ct);
            context.Response.Headers.CacheControl = "no-store";
            if (body.Relay == true)
            {
                // Watch through the service: the gateway's web viewer served here (Portal/GatewayAppEndpoints), its API
                // relayed (WHEP over MQTT, contract §3.1); `whep` for a client of its own.
                var whep = $"/api/v1/gateways/{Uri.EscapeDataString(gatewayId)}/whep/live/{Uri.EscapeDataString(deviceId)}/{channel}/{stream}";
                var app = $"/gw/{Uri.EscapeDataString(gatewayId)}/#token={Uri.EscapeDataString(issued.Token)}&device={Uri.EscapeDataString(deviceId)}&channel={channel}&stream={stream}";
                var iceServers = options.IceServers.Select(i => new { urls = i.Urls, username = i.Username, credential = i.Credential });
                return Results.Json(new { url = app, whep, token = issued.Token, gatewayId, expiresAt = issued.ExpiresAt, iceServers }, SharingApi.Json);
            }
            if (!options.GatewayViewerUrls.TryGetValue(gatewayId, out var viewer))
            {
                throw ServiceException.NotFound("no-viewer-url", $"the service has no web viewer address for gateway {gatewayId} (Sharing:GatewayViewerUrls)");
            }
            var url = $"{viewer.TrimEnd('/')}/#token={Uri.EscapeDataString(issued.Token)}&device={Uri.EscapeDataString(deviceId)}&channel={channel}&stream={stream}";
            context.Response.Headers.CacheControl = "no-store";
            return Results.Json(new { url, gatewayId, expiresAt = issued.ExpiresAt }, SharingApi.Json);
        });
    }

    internal static void SecurityHeaders(HttpResponse r)
    {
        r.Headers.ContentSecurityPolicy = ContentSecurityPolicy;
        r.Headers.XContentTypeOptions = "nosniff";
        r.Headers["Referrer-Policy"] = "no-referrer";
        r.Headers.XFrameOptions = "DENY";
        r.Headers.CacheControl = "no-cache";
    }

    private static byte[] Load(string resource)
    {
        using var s = Assembly.GetExecutingAssembly().GetManifestResourceStream(resource)
            ?? throw new InvalidOperationException("portal resource missing: " + resource);
        using var m = new MemoryStream();
        s.CopyTo(m);
        return m.ToArray();
    }
}
