using System.Globalization;
using HikShareGateway.Core.Access;
using HikShareGateway.Core.Devices;
using HikShareGateway.Core.Streaming;
using HikShareGateway.Http.Recordings;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace HikShareGateway.Http;

/// <summary>
/// Fragmented MP4 over HTTP (contract §5.2), over <see cref="IMp4Streams"/>:
/// <c>GET /api/v1/live/{deviceId}/{channel}/{stream}.mp4</c> (<c>stream</c> main or sub; <c>?codec=h264</c> for a viewer
/// without H.265: an H.265 stream then comes through the shared transcoder, 503 when none is free) and
/// <c>GET /api/v1/playback/{deviceId}/{channel}.mp4?start=…&amp;end=…</c>.
/// <para>
/// The token comes as <c>Authorization: Bearer</c> or <c>?token=</c> (so that <c>&lt;video src&gt;</c>, ffplay and VLC can
/// open the URL); only the path is ever logged, never the query. Order of checks as for RTSP: token (401) → grant (403,
/// also for unknown devices) → device and channel (404) → device online (503) → stream start (504/502). The response is
/// <c>200</c>, <c>Content-Type: video/mp4; codecs="…"</c> (the MSE type, for <c>MediaSource.addSourceBuffer</c>), chunked,
/// <c>Cache-Control: no-store</c>; it is cut (connection reset) when the grant goes or the reader is too slow.
/// </para>
/// </summary>
public static partial class Mp4Endpoints
{
    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapGet("/api/v1/live/{deviceId}/{channel}/{stream}.mp4", LiveAsync);
        app.MapGet("/api/v1/playback/{deviceId}/{channel}.mp4", PlaybackAsync);
    }

    private static async Task LiveAsync(HttpContext context, string deviceId, string channel, string stream)
    {
        if (Authenticate(context, out var failure) is not { } account)
        {
            await failure!.ExecuteAsync(context).ConfigureAwait(false);
            return;
        }
        var kind = stream switch { "main" => StreamKind.Main, "sub" => StreamKind.Sub, _ => (StreamKind?)null };
        if (!int.TryParse(channel, NumberStyles.None, CultureInfo.InvariantCulture, out var ch) || ch < 1 || kind is null)
        {
            await Problems.Create(404, "not-found", "Not found", "The live MP4 path is /api/v1/live/{deviceId}/{channel}/{main|sub}.mp4.").ExecuteAsync(context).ConfigureAwait(false);
            return;
        }
        // ?codec=h264: the viewer cannot play H.265 (the web app asks when MSE lacks hvc1); absent: the stream as it is.
        var codec = context.Request.Query["codec"].ToString();
        if (codec.Length > 0 && !codec.Equals("h264", StringComparison.OrdinalIgnoreCase))
        {
            await Problems.BadRequest("codec may only be h264 (an H.265 stream is then transcoded; an H.264 one is served as it is).").ExecuteAsync(context).ConfigureAwait(false);
            return;
        }
        var streams = context.RequestServices.GetService<IMp4Streams>();
        if (streams is null)
        {
            await Unavailable("MP4 streaming is not available on this gateway.").ExecuteAsync(context).ConfigureAwait(false);
            return;
        }
        var open = await streams.OpenLiveAsync(new Mp4LiveRequest(account, deviceId, ch, kind.Value, BearerAuthentication.Remote(context), RequireH264: codec.Length > 0),
            context.RequestAborted).ConfigureAwait(false);
        await ServeAsync(context, open).ConfigureAwait(false);
    }

    private static async Task PlaybackAsync(HttpContext context, string deviceId, string channel)
    {
        if (Authenticate(context, out var failure) is not { } account)
        {
            await failure!.ExecuteAsync(context).ConfigureAwait(false);
            return;
        }
        if (!int.TryParse(channel, NumberStyles.None, CultureInfo.InvariantCulture, out var ch) || ch < 1)
        {
            await Problems.Create(404, "not-found", "Not found", "The playback MP4 path is /api/v1/playback/{deviceId}/{channel}.mp4?start=…&end=….").ExecuteAsync(context).ConfigureAwait(false);
            return;
        }
        var query = context.Request.Query;
        if (string.IsNullOrEmpty(query["start"]) || !RecordingsEndpoint.TryTime(query["start"], default, out var start)
            || !RecordingsEndpoint.TryTime(query["end"], DateTimeOffset.MaxValue, out var end) || end <= start)
        {
            await Problems.BadRequest("start (required) and end must be UTC times, e.g. 20261125T100000Z, with end after start.").ExecuteAsync(context).ConfigureAwait(false);
            return;
        }
        var streams = context.RequestServices.GetService<IMp4Streams>();
        if (streams is null)
        {
            await Unavailable("MP4 streaming is not available on this gateway.").ExecuteAsync(context).ConfigureAwait(false);
            return;
        }
        DateTimeOffset? until = end == DateTimeOffset.MaxValue ? null : end;
        var open = await streams.OpenPlaybackAsync(new Mp4PlaybackRequest(account, deviceId, ch, start, until, BearerAuthentication.Remote(context)), context.RequestAborted).ConfigureAwait(false);
        if (open.Status == Mp4OpenStatus.Ok && until is { } e)
        {
            // Contract §5.2: with an end, the span is a download.
            var name = $"{deviceId}-{ch}-{start.UtcDateTime:yyyyMMdd'T'HHmmss'Z'}-{e.UtcDateTime:yyyyMMdd'T'HHmmss'Z'}.mp4";
            context.Response.Headers.ContentDisposition = new Microsoft.Net.Http.Headers.ContentDispositionHeaderValue("attachment")
            {
                FileNameStar = name,
            }.ToString();
        }
        await ServeAsync(context, open).ConfigureAwait(false);
    }

    private static async Task ServeAsync(HttpContext context, Mp4Open open)
    {
        if (open.Status != Mp4OpenStatus.Ok || open.Stream is null)
        {
            await Refusal(open).ExecuteAsync(context).ConfigureAwait(false);
            return;
        }
        await using var stream = open.Stream;
        var response = context.Response;
        response.StatusCode = 200;
        response.Headers.CacheControl = "no-store";
        response.Headers.XContentTypeOptions = "nosniff";
        var end = await stream.CopyToAsync(response.Body, mime => response.ContentType = mime, context.RequestAborted).ConfigureAwait(false);
        if (!response.HasStarted)
        {
            response.Headers.ContentDisposition = default;
            await Problems.Create(502, "no-picture", "No picture", "The stream ended before its first picture: " + end.Reason + ".").ExecuteAsync(context).ConfigureAwait(false);
            return;
        }
        if (end.Cut)
        {
            // Revoked or too slow: the viewer sees the connection end, not a clean end of stream it might retry as one.
            context.Abort();
        }
    }

    private static IResult Refusal(Mp4Open open) => open.Status switch
    {
        Mp4OpenStatus.Forbidden => Problems.Forbidden(),
        Mp4OpenStatus.NotFound => Problems.Create(404, "not-found", "Not found", open.Detail + "."),
        Mp4OpenStatus.Timeout => Problems.DeviceTimeout(),
        Mp4OpenStatus.DeviceError => Problems.Create(502, "device-error", "Device error", open.Detail + "."),
        Mp4OpenStatus.UnsupportedCodec => Problems.Create(415, "unsupported-codec", "Codec not supported in MP4", open.Detail + "."),
        _ => Unavailable(open.Detail + "."),
    };

    private static IResult Unavailable(string detail) => Problems.Create(503, "unavailable", "Unavailable", detail);

    /// <summary>Bearer, else <c>?token=</c>; answers 401 itself and returns null when neither is valid.</summary>
    private static string? Authenticate(HttpContext context, out IResult? failure)
    {
        var bearer = BearerAuthentication.ReadBearer(context.Request);
        var query = bearer is null ? context.Request.Query["token"].ToString() : null;
        var logger = context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("HikShareGateway.Http.Mp4");
        var remote = BearerAuthentication.Remote(context);
        if (bearer is null && string.IsNullOrEmpty(query))
        {
            LogNoToken(logger, context.Request.Path, remote);
            failure = Problems.Unauthorized("Send the viewer token as \"Authorization: Bearer <token>\" or ?token=<token>.", invalidToken: false);
            return null;
        }
        var result = context.RequestServices.GetRequiredService<IViewerAuthenticator>()
            .Authenticate(new ViewerCredentials(bearer is null ? query : null, null, null, bearer), context.Connection.RemoteIpAddress);
        if (result.Status != AuthStatus.Ok || string.IsNullOrEmpty(result.Account))
        {
            LogRejected(logger, context.Request.Path, remote, result.Reason ?? result.Status.ToString());
            failure = Problems.Unauthorized(result.Status == AuthStatus.RateLimited
                ? "Too many failed authentications from this address (a valid token is still accepted)."
                : "The token is not valid for this gateway: " + (result.Reason ?? "invalid") + ".", invalidToken: true);
            return null;
        }
        failure = null;
        return result.Account;
    }

    // Only the path: the query may hold the token.
    [LoggerMessage(EventId = 5701, Level = LogLevel.Information, Message = "HTTP {Path} from {Remote}: no token (401)")]
    private static partial void LogNoToken(ILogger logger, string path, string remote);

    [LoggerMessage(EventId = 5702, Level = LogLevel.Debug, Message = "HTTP {Path} from {Remote}: token rejected: {Reason} (401)")]
    private static partial void LogRejected(ILogger logger, string path, string remote, string reason);
}
