using System.Collections.Frozen;
using System.Reflection;
using System.Security.Cryptography;
using HikShareCloud.Service.Gateways;
using HikShareCloud.Service.Grants;
using HikShareCloud.Service.Http;
using HikShareCloud.Service.Mqtt;
using HikShareGateway.Core.Access;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace HikShareCloud.Service.Portal;

/// <summary>What the web viewer may use when the service serves it (its <c>app/config.json</c>): the gateway's keys plus <c>apiBase</c>.</summary>
public sealed record GatewayAppConfig(bool Whep, bool Fmp4, bool Snapshots, string? DeviceChanges, bool WhepPlayback, bool Fmp4Playback, string ApiBase);

/// <summary>
/// The gateway's own web viewer (contract §5.4), loaded from the service for a viewer who can reach only the service:
/// <c>GET /gw/{gatewayId}/</c> and <c>/gw/{gatewayId}/app/…</c> serve the very files the gateway embeds
/// (<c>src/HikShareGateway.Http/WebApp/wwwroot</c>, linked into this assembly), under the app's own strict CSP.
/// Its <c>app/config.json</c> points the app's API at <c>/gw/{gatewayId}</c>, where this service answers what it can:
/// <list type="bullet">
/// <item><c>GET …/api/v1/devices</c> from its own share data (<see cref="ViewerDevices"/>);</item>
/// <item>WHEP live and playback, relayed to the gateway over MQTT (contract §3.1, <see cref="WebRtcRelay"/>);</item>
/// <item>PTZ, recordings, snapshots, alarms and playback seek: not relayed — §3.1 has no topic for them. The service
/// answers 403 where the caller holds no grant for the call (as the gateway would), else 501 with a problem saying
/// so (docs/contract.md, "the gateway's web viewer served by the service").</item>
/// </list>
/// </summary>
public static class GatewayAppEndpoints
{
    private const string ResourcePrefix = "webapp/";

    /// <summary>The gateway app's policy (WebAppEndpoints.ContentSecurityPolicy), here for the service's origin.</summary>
    public const string ContentSecurityPolicy = HikShareGateway.Http.WebApp.WebAppHeaders.ContentSecurityPolicy;

    private sealed record AppFile(string ContentType, byte[] Content, string ETag);

    private static readonly Lazy<FrozenDictionary<string, AppFile>> Files = new(Load);

    /// <summary>The app's files by path relative to <c>/gw/{gatewayId}/</c> (<c>index.html</c>, <c>app/js/main.js</c>, …).</summary>
    public static IEnumerable<string> Paths => Files.Value.Keys;

    public static void MapGatewayApp(this WebApplication app)
    {
        var gw = app.MapGroup("/gw/{gatewayId}");
        // The app's relative links (app/…) resolve against the directory: /gw/{id} → /gw/{id}/ (routing matches both).
        gw.MapGet("/", (HttpContext context, string gatewayId) =>
        {
            RequireGatewayId(gatewayId);
            return context.Request.Path.Value?.EndsWith('/') == true
                ? Serve(context, gatewayId, "index.html")
                : Results.Redirect($"/gw/{Uri.EscapeDataString(gatewayId)}/");
        });
        gw.MapGet("/app/config.json", (HttpContext context, string gatewayId) =>
        {
            RequireGatewayId(gatewayId);
            Headers(context.Response);
            return Results.Json(ConfigFor(gatewayId), SharingApi.Json);
        });
        gw.MapGet("/app/{**path}", (HttpContext context, string gatewayId, string path) => Serve(context, gatewayId, "app/" + path));

        // :: The relay the app's API base points at.
        gw.MapGet("/api/v1/devices", async (HttpContext context, string gatewayId, SigningKeys keys, TimeProvider time, ViewerDevices devices, CancellationToken ct) =>
        {
            WhepRelayEndpoints.ViewerOf(context, gatewayId, keys, time, out var account);
            context.Response.Headers.CacheControl = "no-store";
            return Results.Json(await devices.ListAsync(account, gatewayId, ct), SharingApi.Json);
        });
        gw.MapPost("/whep/live/{deviceId}/{channel}/{stream}", WhepRelayEndpoints.OfferAsync);
        gw.MapPost("/whep/live/{deviceId}/{channel}", (HttpContext c, string gatewayId, string deviceId, string channel, WebRtcRelay relay, SigningKeys keys, ServiceOptions o, TimeProvider t)
            => WhepRelayEndpoints.OfferAsync(c, gatewayId, deviceId, channel, "main", relay, keys, o, t));
        gw.MapPost("/whep/playback/{deviceId}/{channel}", WhepRelayEndpoints.PlaybackOfferAsync);
        gw.MapPost("/whep/sessions/{sessionId}/seek", (HttpContext context, string gatewayId, SigningKeys keys, TimeProvider time) =>
        {
            WhepRelayEndpoints.ViewerOf(context, gatewayId, keys, time);
            throw NotRelayed("seeking a playback session");
        });
        gw.MapMethods("/api/v1/devices/{deviceId}/channels/{channel}/ptz/{**command}", ["GET", "POST"], (HttpContext context, string gatewayId, string deviceId, string channel,
            SigningKeys keys, TimeProvider time, ViewerDevices devices, CancellationToken ct) => RefuseAsync(context, gatewayId, deviceId, channel, Privilege.Ptz, "PTZ", keys, time, devices, ct));
        gw.MapGet("/api/v1/devices/{deviceId}/channels/{channel}/recordings", (HttpContext context, string gatewayId, string deviceId, string channel,
            SigningKeys keys, TimeProvider time, ViewerDevices devices, CancellationToken ct) => RefuseAsync(context, gatewayId, deviceId, channel, Privilege.Playback, "the recordings list", keys, time, devices, ct));
        gw.MapGet("/api/v1/devices/{deviceId}/channels/{channel}/snapshot.jpg", (HttpContext context, string gatewayId, string deviceId, string channel,
            SigningKeys keys, TimeProvider time, ViewerDevices devices, CancellationToken ct) => RefuseAsync(context, gatewayId, deviceId, channel, Privilege.LiveView, "snapshots", keys, time, devices, ct));
        gw.MapGet("/api/v1/events", (HttpContext context, string gatewayId, SigningKeys keys, TimeProvider time) =>
        {
            WhepRelayEndpoints.ViewerOf(context, gatewayId, keys, time);
            throw NotRelayed("the alarm stream");
        });
    }

    /// <summary>The app's configuration for one gateway: WebRTC only (fMP4, snapshots and the change stream are HTTP on the gateway).</summary>
    public static GatewayAppConfig ConfigFor(string gatewayId)
        => new(Whep: true, Fmp4: false, Snapshots: false, DeviceChanges: null, WhepPlayback: true, Fmp4Playback: false, ApiBase: "/gw/" + Uri.EscapeDataString(gatewayId));

    /// <summary>
    /// A call the service cannot relay: 403 when the caller holds no <paramref name="needed"/> there by the service's
    /// share data (what the gateway would answer; unknown devices look the same), else 501.
    /// </summary>
    private static async Task<IResult> RefuseAsync(HttpContext context, string gatewayId, string deviceId, string channel, Privilege needed, string what,
        SigningKeys keys, TimeProvider time, ViewerDevices devices, CancellationToken ct)
    {
        WhepRelayEndpoints.ViewerOf(context, gatewayId, keys, time, out var account);
        if (!int.TryParse(channel, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var ch)
            || !await devices.HoldsAsync(account, gatewayId, deviceId, ch, needed, ct))
        {
            throw ServiceException.Forbidden("forbidden", "your account has no grant for this operation on this device and channel");
        }
        throw NotRelayed(what);
    }

    private static ServiceException NotRelayed(string what)
        => new(501, "not-relayed", $"{what} is not relayed by the sharing service (contract §3.1 carries only WebRTC signalling); use the gateway's own web viewer on its network");

    private static void RequireGatewayId(string gatewayId)
    {
        if (!GatewayIds.IsValid(gatewayId))
        {
            throw ServiceException.NotFound("no-such-gateway", "no such gateway");
        }
    }

    /// <summary>The app's headers, the very ones the gateway sends (<c>WebAppHeaders</c>, linked), and no-cache.</summary>
    private static void Headers(HttpResponse response)
    {
        HikShareGateway.Http.WebApp.WebAppHeaders.Apply(response);
        response.Headers.CacheControl = "no-cache";
    }

    private static IResult Serve(HttpContext context, string gatewayId, string path)
    {
        RequireGatewayId(gatewayId);
        Headers(context.Response);
        if (!Files.Value.TryGetValue(path, out var file))
        {
            throw ServiceException.NotFound("not-found", "the web viewer has no such file");
        }
        context.Response.Headers.ETag = file.ETag;
        if (context.Request.Headers.IfNoneMatch.Contains(file.ETag))
        {
            return Results.StatusCode(StatusCodes.Status304NotModified);
        }
        return Results.Bytes(file.Content, file.ContentType);
    }

    private static FrozenDictionary<string, AppFile> Load()
    {
        var assembly = Assembly.GetExecutingAssembly();
        var files = new Dictionary<string, AppFile>(StringComparer.Ordinal);
        foreach (var name in assembly.GetManifestResourceNames())
        {
            if (!name.StartsWith(ResourcePrefix, StringComparison.Ordinal))
            {
                continue;
            }
            var relative = name[ResourcePrefix.Length..].Replace('\\', '/');
            using var stream = assembly.GetManifestResourceStream(name)!;
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            var content = copy.ToArray();
            var etag = "\"" + Convert.ToHexStringLower(SHA256.HashData(content), 0, 8) + "\"";
            files[relative == "index.html" ? "index.html" : "app/" + relative] = new AppFile(ContentTypeOf(relative), content, etag);
        }
        return files.ToFrozenDictionary(StringComparer.Ordinal);
    }

    private static string ContentTypeOf(string path) => Path.GetExtension(path) switch
    {
        ".html" => "text/html; charset=utf-8",
        ".js" => "text/javascript; charset=utf-8",
        ".css" => "text/css; charset=utf-8",
        ".svg" => "image/svg+xml",
        ".json" or ".webmanifest" => "application/manifest+json",
        ".png" => "image/png",
        _ => "application/octet-stream",
    };
}
