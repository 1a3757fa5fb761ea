using System.Text;
using HikShareCloud.Service.Gateways;
using HikShareCloud.Service.Grants;
using HikShareCloud.Service.Mqtt;
using HikShareGateway.Access.Jose;
using HikShareGateway.Access.Tokens;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace HikShareCloud.Service.Http;

/// <summary>
/// WHEP through the service (contract §5.1 on the service's origin, relayed over §3.1): for a browser that can reach
/// only the service. <c>POST /api/v1/gateways/{gw}/whep/live/{deviceId}/{channel}/{stream}</c> with
/// <c>Authorization: Bearer &lt;viewer token&gt;</c> (minted by this service, <c>aud</c> = that gateway: POST
/// /api/v1/viewer-tokens) and the offer as <c>application/sdp</c> → the gateway's answer: <c>201</c> with the SDP,
/// <c>Location</c> and the configured ICE servers as <c>Link: rel="ice-server"</c>, or the gateway's status and problem.
/// <c>DELETE</c> on the Location ends the session (<c>webrtc/close</c>). The service checks the token's signature and
/// audience only, so that a stranger cannot make it publish; who may watch what is the gateway's decision, as on WHEP.
/// </summary>
public static class WhepRelayEndpoints
{
    public const int MaxOfferBytes = 64 * 1024;

    public static void MapWhepRelay(this WebApplication app)
    {
        var group = app.MapGroup("/api/v1/gateways/{gatewayId}/whep");
        group.MapPost("/live/{deviceId}/{channel}/{stream}", OfferAsync);
        group.MapPost("/live/{deviceId}/{channel}", (HttpContext c, string gatewayId, string deviceId, string channel, WebRtcRelay relay, SigningKeys keys, ServiceOptions o, TimeProvider t)
            => OfferAsync(c, gatewayId, deviceId, channel, "main", relay, keys, o, t));
        group.MapPost("/playback/{deviceId}/{channel}", PlaybackOfferAsync);
        group.MapDelete("/sessions/{sessionId}", async (HttpContext context, string gatewayId, string sessionId, WebRtcRelay relay, SigningKeys keys, TimeProvider time) =>
        {
            ViewerOf(context, gatewayId, keys, time);
            if (sessionId.Length is 0 or > 64 || !sessionId.All(Uri.IsHexDigit))
            {
                throw ServiceException.NotFound("no-such-session", "no such session");
            }
            await relay.CloseAsync(gatewayId, sessionId, "viewer DELETE through the service", context.RequestAborted);
            return Results.Ok();
        });
    }

    internal static async Task<IResult> OfferAsync(HttpContext context, string gatewayId, string deviceId, string channel, string stream,
        WebRtcRelay relay, SigningKeys keys, ServiceOptions options, TimeProvider time)
    {
        var token = ViewerOf(context, gatewayId, keys, time);
        // The path forms that can never exist are refused here, as the gateway would (404).
        if (deviceId.Length is 0 or > 128 || deviceId.IndexOfAny(['/', '?', '#', ' ']) >= 0
            || !int.TryParse(channel, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var ch) || ch < 1
            || stream is not ("main" or "sub"))
        {
            throw ServiceException.NotFound("no-such-path", "the path is /live/{deviceId}/{channel from 1}/{main|sub}");
        }
        return await RelayAsync(context, gatewayId, token, $"/live/{Uri.EscapeDataString(deviceId)}/{ch}/{stream}", relay, options);
    }

    /// <summary>
    /// <c>POST …/whep/playback/{deviceId}/{channel}?start=…&amp;end=…</c> (contract §5.1), relayed as a §3.1 offer with the
    /// path <c>/playback/{deviceId}/{channel}?start=…&amp;end=…</c>; the gateway checks the <c>playback</c> grant.
    /// </summary>
    internal static async Task<IResult> PlaybackOfferAsync(HttpContext context, string gatewayId, string deviceId, string channel,
        WebRtcRelay relay, SigningKeys keys, ServiceOptions options, TimeProvider time)
    {
        var token = ViewerOf(context, gatewayId, keys, time);
        if (deviceId.Length is 0 or > 128 || deviceId.IndexOfAny(['/', '?', '#', ' ']) >= 0
            || !int.TryParse(channel, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var ch) || ch < 1)
        {
            throw ServiceException.NotFound("no-such-path", "the path is /playback/{deviceId}/{channel from 1}?start=…&end=…");
        }
        var start = context.Request.Query["start"].ToString();
        var end = context.Request.Query["end"].ToString();
        if (!IsUtcTime(start) || (end.Length > 0 && (!IsUtcTime(end) || string.CompareOrdinal(end, start) <= 0)))
        {
            throw ServiceException.BadRequest("bad-time", "start (required) and end are UTC times in the basic form, e.g. 20261125T100000Z, with end after start");
        }
        var path = $"/playback/{Uri.EscapeDataString(deviceId)}/{ch}?start={start}" + (end.Length > 0 ? $"&end={end}" : "");
        return await RelayAsync(context, gatewayId, token, path, relay, options);
    }

    /// <summary><c>20261125T100000Z</c>: the one form of playback times (contract §5), so that the relayed path needs no escaping.</summary>
    internal static bool IsUtcTime(string s)
        => s.Length == 16 && DateTimeOffset.TryParseExact(s, "yyyyMMdd'T'HHmmss'Z'", System.Globalization.CultureInfo.InvariantCulture,
            System.Globalization.DateTimeStyles.AssumeUniversal, out _);

    private static async Task<IResult> RelayAsync(HttpContext context, string gatewayId, string token, string path, WebRtcRelay relay, ServiceOptions options)
    {
        if (!(context.Request.ContentType ?? "").StartsWith("application/sdp", StringComparison.OrdinalIgnoreCase))
        {
            throw new ServiceException(415, "unsupported-media-type", "send the offer as application/sdp");
        }
        if (context.Request.ContentLength > MaxOfferBytes)
        {
            throw new ServiceException(413, "offer-too-large", $"an offer is at most {MaxOfferBytes} bytes");
        }
        var sdp = await ReadBoundedAsync(context.Request, context.RequestAborted);
        var answer = await relay.OfferAsync(gatewayId, token, path, sdp, context.RequestAborted);
        var r = context.Response;
        r.Headers.CacheControl = "no-store";
        if (answer.Status == 201 && answer.Sdp is not null)
        {
            r.Headers.Location = $"/api/v1/gateways/{Uri.EscapeDataString(gatewayId)}/whep/sessions/{answer.SessionId}";
            foreach (var link in IceLinks(options.IceServers))
            {
                r.Headers.Append("Link", link);
            }
            return Results.Text(answer.Sdp, "application/sdp", Encoding.UTF8, 201);
        }
        if (answer.Problem is not null)
        {
            return Results.Text(answer.Problem, SharingApi.ProblemContentType, Encoding.UTF8, answer.Status);
        }
        throw new ServiceException(answer.Status is >= 400 and <= 599 ? answer.Status : 502, "gateway-refused", "the gateway refused the offer");
    }

    /// <summary>The viewer token of the request, signed by this service for <paramref name="gatewayId"/> and unexpired; 401 otherwise.</summary>
    internal static string ViewerOf(HttpContext context, string gatewayId, SigningKeys keys, TimeProvider time)
        => ViewerOf(context, gatewayId, keys, time, out _);

    /// <summary>As above, with the token's account (<c>sub</c>).</summary>
    internal static string ViewerOf(HttpContext context, string gatewayId, SigningKeys keys, TimeProvider time, out string account)
    {
        if (!GatewayIds.IsValid(gatewayId))
        {
            throw ServiceException.NotFound("no-such-gateway", "no such gateway");
        }
        var h = context.Request.Headers.Authorization.ToString();
        var token = h.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? h[7..].Trim() : "";
        var trusted = new TrustedKeySet(keys.All.Select(k => k.Public));
        if (token.Length == 0 || ViewerTokens.Validate(token, trusted, gatewayId, time.GetUtcNow(), out var sub) != TokenError.None || string.IsNullOrEmpty(sub))
        {
            throw ServiceException.Unauthorized("send a viewer token for this gateway as \"Authorization: Bearer <token>\" (POST /api/v1/viewer-tokens gives one)");
        }
        account = sub;
        return token;
    }

    private static async Task<string> ReadBoundedAsync(HttpRequest request, CancellationToken ct)
    {
        var buffer = new byte[MaxOfferBytes + 1];
        var total = 0;
        int n;
        while (total < buffer.Length && (n = await request.Body.ReadAsync(buffer.AsMemory(total), ct)) > 0)
        {
            total += n;
        }
        if (total > MaxOfferBytes)
        {
            throw new ServiceException(413, "offer-too-large", $"an offer is at most {MaxOfferBytes} bytes");
        }
        return Encoding.UTF8.GetString(buffer, 0, total);
    }

    /// <summary><c>&lt;turn:…&gt;; rel="ice-server"; username="…"; credential="…"; credential-type="password"</c> (RFC 9725 §4.6).</summary>
    internal static IEnumerable<string> IceLinks(IReadOnlyList<IceServerOptions> servers)
    {
        foreach (var s in servers)
        {
            foreach (var url in s.Urls)
            {
                var link = $"<{url}>; rel=\"ice-server\"";
                if (s.Username is not null)
                {
                    link += $"; username=\"{s.Username.Replace("\"", "", StringComparison.Ordinal)}\"; credential=\"{(s.Credential ?? "").Replace("\"", "", StringComparison.Ordinal)}\"; credential-type=\"password\"";
                }
                yield return link;
            }
        }
    }
}
