using HikShareGateway.Core.Alarms;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace HikShareGateway.Http.Snapshots;

/// <summary>
/// <c>GET /api/v1/alarms/{id}/snapshot.jpg</c> (contract §7, v1.1): the picture of a start/pulse alarm, for its
/// recipients that still hold <c>alarmPush</c>. Token (401; Bearer or <c>?token=</c> for <c>&lt;img src&gt;</c>) →
/// the alarm for this caller (404 alike for an unknown or expired id and for someone who was not a recipient: the
/// id of another account's alarm is not confirmed) → the picture (502 when it could not be taken).
/// </summary>
public static class AlarmSnapshotEndpoint
{
    public static void Map(IEndpointRouteBuilder app) => app.MapGet("/api/v1/alarms/{id}/snapshot.jpg", GetAsync);

    private static async Task<IResult> GetAsync(HttpContext context, string id)
    {
        var account = SnapshotEndpoint.Authenticate(context, out var unauthorized);
        if (account is null)
        {
            return unauthorized!;
        }
        if (id.Length is 0 or > 64 || !id.All(char.IsAsciiHexDigitLower))
        {
            return NotFound();
        }
        var store = context.RequestServices.GetService<IAlarmSnapshots>();
        if (store is null)
        {
            return NotFound();
        }
        AlarmPicture picture;
        try
        {
            picture = await store.GetAsync(id, account, context.RequestAborted).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            return Results.Empty;
        }
        return picture.Status switch
        {
            AlarmPictureStatus.Ok => Jpeg(context, picture.Jpeg),
            AlarmPictureStatus.Failed => Problems.Create(502, "alarm-snapshot-failed", "No picture", picture.Reason ?? "The picture of this alarm could not be taken."),
            _ => NotFound(),
        };
    }

    private static IResult Jpeg(HttpContext context, ReadOnlyMemory<byte> jpeg)
    {
        // The picture of an alarm never changes; it is the caller's alone.
        context.Response.Headers.CacheControl = "private, max-age=3600";
        return Results.Bytes(jpeg, "image/jpeg");
    }

    private static IResult NotFound() =>
        Problems.Create(404, "not-found", "Not found", "There is no picture of that alarm for you: unknown, expired (Alarms:SnapshotMinutes), or not one of your alarms.");
}
