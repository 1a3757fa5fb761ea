using System.Globalization;
using System.Security.Cryptography;
using HikShareGateway.Core.Access;
using HikShareGateway.Core.Devices;
using HikShareGateway.Core.Snapshots;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace HikShareGateway.Http.Snapshots;

/// <summary>
/// <c>GET /api/v1/devices/{deviceId}/channels/{channel}/snapshot.jpg?stream=main|sub&amp;width=N</c> (contract §5.3):
/// the channel's latest keyframe as JPEG, for accounts with <c>liveView</c> on it. Order of checks, as for live view:
/// token (401; <c>Authorization: Bearer</c> or <c>?token=</c>, so that an <c>&lt;img src&gt;</c> works) → channel
/// number (404: a path that can never exist) → <c>liveView</c> grant (403, also for unknown devices) → query (400) →
/// snapshots off (503) → device (502/504), no keyframe in time (504), no video (409).
/// </summary>
public static partial class SnapshotEndpoint
{
    public const int MinWidth = 16;
    public const int MaxWidth = 3840;

    public static void Map(IEndpointRouteBuilder app) =>
        app.MapGet("/api/v1/devices/{deviceId}/channels/{channel}/snapshot.jpg", TakeAsync);

    private static async Task<IResult> TakeAsync(HttpContext context, string deviceId, string channel)
    {
        var services = context.RequestServices;
        var account = Authenticate(context, out var unauthorized);
        if (account is null)
        {
            return unauthorized!;
        }
        if (!int.TryParse(channel, NumberStyles.None, CultureInfo.InvariantCulture, out var ch) || ch < 1)
        {
            return Problems.Create(404, "not-found", "Not found", "The channel must be a number from 1.");
        }
        var time = services.GetRequiredService<TimeProvider>();
        var remote = BearerAuthentication.Remote(context);
        var audit = services.GetRequiredService<IAuditSink>();
        var sessionId = Convert.ToHexString(RandomNumberGenerator.GetBytes(8));
        if (!services.GetRequiredService<IAccessPolicy>().IsAllowed(account, deviceId, ch, Privilege.LiveView)
            || !services.GetRequiredService<IDeviceCatalog>().TryGetDevice(deviceId, out var device) || device.FindChannel(ch) is null)
        {
            audit.Record(new AuditEvent(time.GetUtcNow(), sessionId, account, deviceId, ch, Privilege.LiveView, AuditDecision.Deny, "snapshot: no liveView grant", remote));
            return Problems.Forbidden();
        }
        if (!TryQuery(context.Request.Query, out var kind, out var width, out var badQuery))
        {
            return Problems.BadRequest(badQuery);
        }
        var snapshots = services.GetService<ISnapshotService>() ?? new UnavailableSnapshotService();
        if (snapshots.UnavailableReason is { } off)
        {
            return Unavailable(off);
        }
        SnapshotImage image;
        try
        {
            image = await snapshots.TakeAsync(deviceId, ch, kind, width, context.RequestAborted).ConfigureAwait(false);
        }
        catch (SnapshotException e)
        {
            return e.Failure switch
            {
                SnapshotFailure.Unavailable => Unavailable(e.Message),
                SnapshotFailure.Busy => Problems.Create(503, "snapshot-busy", "Snapshots busy", e.Message),
                SnapshotFailure.Timeout => Problems.Create(504, "snapshot-timeout", "No picture in time", e.Message),
                SnapshotFailure.NoVideo => Problems.Create(409, "snapshot-no-video", "No picture", e.Message),
                _ => Problems.Create(502, "snapshot-undecodable", "Picture not decodable", "The device's picture could not be decoded."),
            };
        }
        catch (DeviceException e)
        {
            if (Problems.IsDeviceFault(e))
            {
                LogDeviceError(services.GetRequiredService<ILoggerFactory>().CreateLogger("HikShareGateway.Http.Snapshots"), deviceId, ch, e.Kind);
            }
            return Problems.FromDevice(e, () => Problems.Create(409, "snapshot-no-video", "No picture", "The device offers no stream for this channel."));
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            return Results.Empty;
        }
        // Contract §8: every viewer decision is audited; a snapshot is one picture, so allow is its only record.
        audit.Record(new AuditEvent(time.GetUtcNow(), sessionId, account, deviceId, ch, Privilege.LiveView, AuditDecision.Allow, "snapshot", remote));
        context.Response.Headers.CacheControl = "private, max-age=1";
        context.Response.Headers["X-Snapshot-Time"] = image.TakenAt.ToString("O", CultureInfo.InvariantCulture);
        context.Response.Headers["X-Snapshot-Source"] = image.Origin;
        return Results.Bytes(image.Jpeg, "image/jpeg");
    }

    private static IResult Unavailable(string reason) =>
        Problems.Create(503, "snapshots-unavailable", "Snapshots are off", reason + ". Live view over RTSP works; the installer must install the FFmpeg 5.1 libraries (see README).");

    /// <summary><c>stream</c> (main, sub; default main) and <c>width</c> (16-3840; default the source's width).</summary>
    public static bool TryQuery(IQueryCollection query, out StreamKind kind, out int width, out string error)
    {
        kind = StreamKind.Main;
        width = 0;
        error = "";
        var stream = query["stream"].ToString();
        if (stream is "sub")
        {
            kind = StreamKind.Sub;
        }
        else if (stream is not ("" or "main"))
        {
            error = "stream must be main or sub.";
            return false;
        }
        var w = query["width"].ToString();
        if (w.Length > 0 && (!int.TryParse(w, NumberStyles.None, CultureInfo.InvariantCulture, out width) || width is < MinWidth or > MaxWidth))
        {
            error = $"width must be a number of pixels from {MinWidth} to {MaxWidth}.";
            width = 0;
            return false;
        }
        return true;
    }

    /// <summary>The account of a Bearer header or a <c>?token=</c> (for image elements, which send no header), else the 401.</summary>
    internal static string? Authenticate(HttpContext context, out IResult? failure)
    {
        if (BearerAuthentication.ReadBearer(context.Request) is null && context.Request.Query["token"].ToString() is { Length: > 0 } token)
        {
            var result = context.RequestServices.GetRequiredService<IViewerAuthenticator>()
                .Authenticate(new ViewerCredentials(null, null, null, token), context.Connection.RemoteIpAddress);
            if (result.Status == AuthStatus.Ok && !string.IsNullOrEmpty(result.Account))
            {
                failure = null;
                return result.Account;
            }
            failure = Problems.Unauthorized("The token is not valid for this gateway: " + (result.Reason ?? result.Status.ToString()) + ".", invalidToken: true);
            return null;
        }
        return BearerAuthentication.Authenticate(context, out failure);
    }

    [LoggerMessage(EventId = 5601, Level = LogLevel.Warning, Message = "Snapshot of {DeviceId}/{Channel}: device error {Kind}")]
    private static partial void LogDeviceError(ILogger logger, string deviceId, int channel, DeviceErrorKind kind);
}
