using System.Globalization;
using System.Text.Json;
using HikShareGateway.Core.WebRtc;
using HikShareGateway.Http.Recordings;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace HikShareGateway.Http.Whep;

/// <summary>
/// WHEP playback (contract §5.1) over <see cref="IWebRtcPlayback"/>: <c>POST /whep/playback/{deviceId}/{channel}?start=…&amp;end=…[&amp;scale=n]</c>
/// (the same checks as live, with the <c>playback</c> grant; <c>start</c> required, UTC as in playback URLs; <c>scale</c>
/// a speed above 0 up to 64, default 1) → 201 with
/// the answer and <c>Location: /whep/sessions/{id}</c>, whose <c>PATCH</c> and <c>DELETE</c> are live's.
/// <c>POST /whep/sessions/{id}/seek</c> with one of <c>{"start":"…"}</c>, <c>{"pause":true|false}</c>, <c>{"scale":n}</c>
/// → <c>200</c> <c>{"position":"…","paused":…}</c>; 400 for a body that is none of them, 404 for another account's or an
/// unknown session, 502/504 when the recorder fails to play from the new position (or at the new speed).
/// </summary>
public static class WhepPlaybackEndpoints
{
    private const int MaxControlBytes = 1024;

    public static void Map(IEndpointRouteBuilder app)
    {
        var whep = app.MapGroup("/whep");
        whep.AddEndpointFilter(BearerAuthentication.Filter);
        whep.MapPost("/playback/{deviceId}/{channel}", OfferAsync);
        whep.MapPost("/sessions/{id}/seek", ControlAsync);
    }

    private static async Task<IResult> OfferAsync(HttpContext context, string deviceId, string channel)
    {
        var account = BearerAuthentication.Account(context);
        if (!int.TryParse(channel, NumberStyles.None, CultureInfo.InvariantCulture, out var ch) || ch < 1 || deviceId.Length == 0)
        {
            return Problems.Create(404, "not-found", "Not found", "WHEP playback paths are /whep/playback/{deviceId}/{channel}?start=…&end=… with a channel from 1.");
        }
        var query = context.Request.Query;
        if (string.IsNullOrEmpty(query["start"]) || !RecordingsEndpoint.TryTime(query["start"], default, out var start)
            || !RecordingsEndpoint.TryTime(query["end"], DateTimeOffset.MaxValue, out var end) || end <= start)
        {
            return Problems.BadRequest("start (required) and end must be UTC times, e.g. 20261125T100000Z, with end after start.");
        }
        var scale = 1.0;
        if (!string.IsNullOrEmpty(query["scale"]) && !TryScale(query["scale"], out scale))
        {
            return Problems.BadRequest("scale must be a number above 0 and at most 64, e.g. 2 or 0.5.");
        }
        if (!WhepEndpoints.IsContentType(context.Request, WhepEndpoints.SdpContentType))
        {
            return Problems.Create(415, "unsupported-media-type", "Unsupported media type", "Send the SDP offer as application/sdp (RFC 9725 §4.2).");
        }
        var body = await WhepEndpoints.ReadBodyAsync(context.Request, WhepEndpoints.MaxOfferBytes, context.RequestAborted).ConfigureAwait(false);
        if (body is null)
        {
            return Problems.Create(413, "offer-too-large", "Offer too large", $"The offer is larger than {WhepEndpoints.MaxOfferBytes} bytes.");
        }
        if (context.RequestServices.GetService<IWebRtcPlayback>() is not { } playback)
        {
            return Problems.Create(503, "unavailable", "Unavailable", "WebRTC playback is not available on this gateway.");
        }
        var offer = new WebRtcPlaybackOffer(account, deviceId, ch, start, end == DateTimeOffset.MaxValue ? null : end, body,
            BearerAuthentication.Remote(context), context.Connection.RemoteIpAddress) { Scale = scale };
        WebRtcAnswer answer;
        try
        {
            answer = await playback.OpenPlaybackAsync(offer, context.RequestAborted).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            return Results.Empty;
        }
        if (!answer.Succeeded)
        {
            return answer.Status == 404 && answer.Detail.StartsWith("no recordings", StringComparison.Ordinal)
                ? Problems.Create(404, "not-found", "Not found", answer.Detail)
                : WhepEndpoints.Refusal(answer);
        }
        context.Response.Headers.Location = "/whep/sessions/" + answer.SessionId;
        context.Response.Headers.CacheControl = "no-store";
        return Results.Text(answer.AnswerSdp!, WhepEndpoints.SdpContentType, null, 201);
    }

    private static async Task<IResult> ControlAsync(HttpContext context, string id)
    {
        var account = BearerAuthentication.Account(context);
        var body = await WhepEndpoints.ReadBodyAsync(context.Request, MaxControlBytes, context.RequestAborted).ConfigureAwait(false);
        if (body is null || !TryParseControl(body, out var control))
        {
            return Problems.BadRequest("The body is one JSON object with one of \"start\" (a UTC time), \"scale\" (a number) or \"pause\" (true or false).");
        }
        if (context.RequestServices.GetService<IWebRtcPlayback>() is not { } playback)
        {
            return Problems.Create(404, "not-found", "Not found", "No WebRTC playback session with this id runs for this account.");
        }
        var result = await playback.ControlAsync(id, account, control, context.RequestAborted).ConfigureAwait(false);
        return result.Status switch
        {
            204 => Results.Json(new PlaybackPosition(result.Position?.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture), result.Paused), ApiJsonContext.Default.PlaybackPosition),
            400 => Problems.BadRequest(result.Detail),
            404 => Problems.Create(404, "not-found", "Not found", "No WebRTC playback session with this id runs for this account."),
            501 => Problems.Create(501, "not-implemented", "Not implemented", result.Detail),
            504 => Problems.DeviceTimeout(),
            _ => Problems.Create(result.Status, "device-error", "Device error", result.Detail),
        };
    }

    /// <summary>A playback speed: above 0 (no reverse play over WebRTC), at most 64.</summary>
    internal static bool IsScale(double s) => s is > 0 and <= 64;

    /// <summary>The <c>scale</c> of a WHEP playback URL, invariant culture.</summary>
    internal static bool TryScale(string? text, out double scale)
        => double.TryParse(text, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out scale) && IsScale(scale);

    /// <summary>Exactly one known member: <c>start</c> (string time), <c>scale</c> (positive number) or <c>pause</c> (boolean).</summary>
    internal static bool TryParseControl(ReadOnlySpan<byte> json, out WebRtcPlaybackControl control)
    {
        control = null!;
        try
        {
            var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 2 });
            using var doc = JsonDocument.ParseValue(ref reader);
            if (doc.RootElement.ValueKind != JsonValueKind.Object) return false;
            var count = 0;
            foreach (var p in doc.RootElement.EnumerateObject())
            {
                count++;
                switch (p.Name)
                {
                    case "start" when p.Value.ValueKind == JsonValueKind.String && RecordingsEndpoint.TryTime(p.Value.GetString(), default, out var t) && p.Value.GetString()!.Length > 0:
                        control = new WebRtcPlaybackControl(Start: t);
                        break;
                    case "scale" when p.Value.ValueKind == JsonValueKind.Number && p.Value.TryGetDouble(out var s) && IsScale(s):
                        control = new WebRtcPlaybackControl(Scale: s);
                        break;
                    case "pause" when p.Value.ValueKind is JsonValueKind.True or JsonValueKind.False:
                        control = new WebRtcPlaybackControl(Pause: p.Value.GetBoolean());
                        break;
                    default:
                        return false;
                }
            }
            return count == 1;
        }
        catch (JsonException)
        {
            return false;
        }
    }
}

/// <summary>The answer to a playback control: the position in recording time (UTC, milliseconds) and whether it is paused.</summary>
internal sealed record PlaybackPosition(string? Position, bool Paused);
