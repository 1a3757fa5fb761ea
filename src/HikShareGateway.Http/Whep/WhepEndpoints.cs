using System.Globalization;
using HikShareGateway.Core.Devices;
using HikShareGateway.Core.WebRtc;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace HikShareGateway.Http.Whep;

/// <summary>
/// WHEP (RFC 9725, contract §5.1) over <see cref="IWebRtcViewing"/>. Order of checks on a POST: bearer token (401) →
/// path form (404 for a channel or stream that can never exist) → <c>Content-Type: application/sdp</c> (415) → body size
/// (413) → the service: <c>liveView</c> grant (403), device and channel (404), capacity (503), device (502/504), offer
/// (400 not SDP, 422 no common codec) → <c>201</c> with the answer and <c>Location: /whep/sessions/{id}</c>.
/// <para>
/// <c>PATCH /whep/sessions/{id}</c> (<c>application/trickle-ice-sdpfrag</c>, RFC 8840): the viewer's trickled candidates,
/// handed to the session's ICE agent (204; an ICE restart is not done). <c>DELETE</c> ends the session
/// (200). Both need the token of the account that opened the session; another account's session is a 404.
/// </para>
/// </summary>
public static partial class WhepEndpoints
{
    public const string SdpContentType = "application/sdp";
    public const string TrickleContentType = "application/trickle-ice-sdpfrag";
    /// <summary>The SDP parser's own bound (64 KiB) plus one byte, so that a larger offer is told apart.</summary>
    public const int MaxOfferBytes = 64 * 1024;

    public static void Map(IEndpointRouteBuilder app)
    {
        var whep = app.MapGroup("/whep");
        whep.AddEndpointFilter(BearerAuthentication.Filter);
        whep.MapPost("/live/{deviceId}/{channel}/{stream}", (HttpContext c, string deviceId, string channel, string stream) => OfferAsync(c, deviceId, channel, stream));
        whep.MapPost("/live/{deviceId}/{channel}", (HttpContext c, string deviceId, string channel) => OfferAsync(c, deviceId, channel, "main"));
        whep.MapMethods("/sessions/{id}", ["PATCH"], PatchAsync);
        whep.MapDelete("/sessions/{id}", (HttpContext c, string id) => Delete(c, id));
    }

    private static async Task<IResult> OfferAsync(HttpContext context, string deviceId, string channel, string stream)
    {
        var account = BearerAuthentication.Account(context);
        if (!int.TryParse(channel, NumberStyles.None, CultureInfo.InvariantCulture, out var ch) || ch < 1
            || stream is not ("main" or "sub") || deviceId.Length == 0)
        {
            return Problems.Create(404, "not-found", "Not found", "WHEP live paths are /whep/live/{deviceId}/{channel}/{main|sub} with a channel from 1.");
        }
        if (!IsContentType(context.Request, SdpContentType))
        {
            return Problems.Create(415, "unsupported-media-type", "Unsupported media type", "Send the SDP offer as application/sdp (RFC 9725 §4.2).");
        }
        var body = await ReadBodyAsync(context.Request, MaxOfferBytes, context.RequestAborted).ConfigureAwait(false);
        if (body is null)
        {
            return Problems.Create(413, "offer-too-large", "Offer too large", $"The offer is larger than {MaxOfferBytes} bytes.");
        }
        var viewing = context.RequestServices.GetRequiredService<IWebRtcViewing>();
        var offer = new WebRtcLiveOffer(account, deviceId, ch, stream == "sub" ? StreamKind.Sub : StreamKind.Main, body,
            BearerAuthentication.Remote(context), context.Connection.RemoteIpAddress, WebRtcSignalling.Whep);
        WebRtcAnswer answer;
        try
        {
            answer = await viewing.OpenLiveAsync(offer, context.RequestAborted).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            return Results.Empty;
        }
        if (!answer.Succeeded)
        {
            return Refusal(answer);
        }
        var location = "/whep/sessions/" + answer.SessionId;
        context.Response.Headers.Location = location;
        context.Response.Headers.CacheControl = "no-store";
        return Results.Text(answer.AnswerSdp!, SdpContentType, null, 201);
    }

    /// <summary>The service's refusal as problem+json; the status is the contract's (same as RTSP).</summary>
    public static IResult Refusal(WebRtcAnswer answer) => answer.Status switch
    {
        403 => Problems.Forbidden(),
        400 => Problems.Create(400, "bad-offer", "Not a usable SDP offer", answer.Detail),
        404 => Problems.Create(404, "not-found", "Not found", "No such device or channel on this gateway."),
        422 => Problems.Create(422, "no-common-codec", "No common codec", answer.Detail),
        503 => Problems.Create(503, "at-capacity", "At capacity", answer.Detail),
        504 => Problems.DeviceTimeout(),
        _ => Problems.Create(answer.Status, "device-error", "Device error", answer.Detail),
    };

    private static async Task<IResult> PatchAsync(HttpContext context, string id)
    {
        var account = BearerAuthentication.Account(context);
        if (!IsContentType(context.Request, TrickleContentType))
        {
            return Problems.Create(415, "unsupported-media-type", "Unsupported media type", "Trickle ICE fragments are application/trickle-ice-sdpfrag (RFC 8840).");
        }
        var body = await ReadBodyAsync(context.Request, MaxOfferBytes, context.RequestAborted).ConfigureAwait(false);
        if (body is null)
        {
            return Problems.Create(413, "fragment-too-large", "Fragment too large", $"The fragment is larger than {MaxOfferBytes} bytes.");
        }
        return context.RequestServices.GetRequiredService<IWebRtcViewing>().AcceptTrickle(id, account, body)
            ? Results.NoContent()
            : SessionNotFound();
    }

    private static IResult Delete(HttpContext context, string id)
    {
        var account = BearerAuthentication.Account(context);
        if (!context.RequestServices.GetRequiredService<IWebRtcViewing>().Close(id, account, "ended by the viewer (WHEP DELETE)"))
        {
            return SessionNotFound();
        }
        LogDeleted(context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("HikShareGateway.Http.Whep"), id);
        return Results.Ok();
    }

    private static IResult SessionNotFound() => Problems.Create(404, "not-found", "Not found", "No WebRTC session with this id runs for this account.");

    internal static bool IsContentType(HttpRequest request, string expected)
    {
        var type = request.ContentType;
        if (type is null) return false;
        var semicolon = type.IndexOf(';');
        return (semicolon < 0 ? type : type[..semicolon]).Trim().Equals(expected, StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>The body, or null when it is larger than <paramref name="max"/> bytes.</summary>
    internal static async Task<byte[]?> ReadBodyAsync(HttpRequest request, int max, CancellationToken ct)
    {
        if (request.ContentLength > max) return null;
        using var buffer = new MemoryStream();
        var chunk = new byte[8192];
        int n;
        while ((n = await request.Body.ReadAsync(chunk, ct).ConfigureAwait(false)) > 0)
        {
            if (buffer.Length + n > max) return null;
            buffer.Write(chunk, 0, n);
        }
        return buffer.ToArray();
    }

    [LoggerMessage(EventId = 5300, Level = LogLevel.Information, Message = "WHEP session {SessionId} deleted by its viewer")]
    private static partial void LogDeleted(ILogger logger, string sessionId);
}
