using HikShareGateway.Core.Devices;
using HikShareGateway.Core.Ptz;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace HikShareGateway.Http.Ptz;

/// <summary>
/// <c>/api/v1/devices/{deviceId}/channels/{channel}/ptz/…</c> (contract §5). Order of checks on every command:
/// bearer token (401) → rate limit per account (429; never for stop) → <c>ptz</c> grant (403, also for unknown
/// devices) → body (400) → device (409 not supported, 502 failure, 504 timeout).
/// </summary>
public static partial class PtzEndpoints
{
    public static void Map(RouteGroupBuilder api)
    {
        var ptz = api.MapGroup("/devices/{deviceId}/channels/{channel}/ptz");
        ptz.MapPost("/move", MoveAsync);
        ptz.MapPost("/stop", StopAsync);
        ptz.MapGet("/presets", PresetsAsync);
        ptz.MapPost("/presets/{presetToken}/goto", GotoAsync);
    }

    private static async Task<IResult> MoveAsync(HttpContext context, string deviceId, string channel)
    {
        if (Prepare(context, deviceId, channel, "move", limited: true, out var ch, out var caller) is { } refused)
        {
            return refused;
        }
        var services = context.RequestServices;
        var options = services.GetRequiredService<PtzApiOptions>();
        var body = await ReadBodyAsync(context).ConfigureAwait(false);
        if (body is null)
        {
            return Problems.BadRequest($"The body is larger than {PtzRequestParser.MaxBodyBytes} bytes.");
        }
        if (!PtzRequestParser.TryParse(body, options, out var request, out var error))
        {
            return Problems.BadRequest(error);
        }
        var controller = services.GetRequiredService<PtzController>();
        PtzMoveHandle? handle;
        try
        {
            handle = await controller.MoveAsync(caller, deviceId, ch, request!.Move, context.RequestAborted).ConfigureAwait(false);
        }
        catch (Exception e) when (Map(e, context) is { } problem)
        {
            return problem;
        }
        if (handle is null)
        {
            return Results.Json(new PtzMoved("moved", request.Move.Mode.ToString().ToLowerInvariant()), ApiJsonContext.Default.PtzMoved);
        }
        if (request.Hold)
        {
            // Hold: the move lasts while this request is open (up to its timeout); a caller that
            // disconnects or aborts stops the camera at once.
            try
            {
                await handle.Ended.WaitAsync(context.RequestAborted).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                controller.Abandon(handle, "caller disconnected");
                return Results.Empty;
            }
            return Results.Json(new PtzEnded("ended", handle.SessionId), ApiJsonContext.Default.PtzEnded);
        }
        return Results.Json(new PtzMoving("moving", handle.SessionId, handle.StopsAt), ApiJsonContext.Default.PtzMoving);
    }

    private static async Task<IResult> StopAsync(HttpContext context, string deviceId, string channel)
    {
        // Stop is never rate limited: stopping a camera must always be possible.
        if (Prepare(context, deviceId, channel, "stop", limited: false, out var ch, out var caller) is { } refused)
        {
            return refused;
        }
        try
        {
            await context.RequestServices.GetRequiredService<PtzController>().StopAsync(caller, deviceId, ch, context.RequestAborted).ConfigureAwait(false);
        }
        catch (Exception e) when (Map(e, context) is { } problem)
        {
            return problem;
        }
        return Results.Json(new PtzStopped("stopped"), ApiJsonContext.Default.PtzStopped);
    }

    private static async Task<IResult> PresetsAsync(HttpContext context, string deviceId, string channel)
    {
        if (Prepare(context, deviceId, channel, "presets", limited: true, out var ch, out _) is { } refused)
        {
            return refused;
        }
        IReadOnlyList<PtzPreset> presets;
        try
        {
            presets = await context.RequestServices.GetRequiredService<PtzController>().GetPresetsAsync(deviceId, ch, context.RequestAborted).ConfigureAwait(false);
        }
        catch (Exception e) when (Map(e, context) is { } problem)
        {
            return problem;
        }
        return Results.Json(new PtzPresetList([.. presets.Select(p => new PtzPresetView(p.Token, p.Name))]), ApiJsonContext.Default.PtzPresetList);
    }

    private static async Task<IResult> GotoAsync(HttpContext context, string deviceId, string channel, string presetToken)
    {
        if (Prepare(context, deviceId, channel, "goto preset", limited: true, out var ch, out var caller) is { } refused)
        {
            return refused;
        }
        if (presetToken.Length is 0 or > 64 || presetToken.Any(char.IsControl))
        {
            return Problems.BadRequest("The preset token must be 1-64 printable characters (see GET …/ptz/presets).");
        }
        try
        {
            await context.RequestServices.GetRequiredService<PtzController>().GotoPresetAsync(caller, deviceId, ch, presetToken, context.RequestAborted).ConfigureAwait(false);
        }
        catch (Exception e) when (Map(e, context) is { } problem)
        {
            return problem;
        }
        return Results.Json(new PtzGoingToPreset("moving", presetToken), ApiJsonContext.Default.PtzGoingToPreset);
    }

    /// <summary>Rate limit and grant check; null to go on, else the answer.</summary>
    private static IResult? Prepare(HttpContext context, string deviceId, string channelText, string what, bool limited, out int channel, out PtzCaller caller)
    {
        var services = context.RequestServices;
        caller = new PtzCaller(BearerAuthentication.Account(context), BearerAuthentication.Remote(context));
        if (limited && !services.GetRequiredService<AccountRateLimiter>().TryAcquire(caller.Account, out var retryAfter))
        {
            LogRateLimited(Logger(context), caller.Account, deviceId, caller.Remote);
            channel = 0;
            return Problems.TooManyRequests(retryAfter);
        }
        // A channel that is not a positive number is no channel the caller may use: 403, like any other.
        if (!int.TryParse(channelText, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out channel) || channel < 1)
        {
            channel = 0;
        }
        if (!services.GetRequiredService<PtzController>().Authorize(caller, deviceId, channel, what))
        {
            return Problems.Forbidden();
        }
        return null;
    }

    /// <summary>Device failures as problems (contract §5): not supported 409, failure 502, timeout 504.</summary>
    private static IResult? Map(Exception e, HttpContext context)
    {
        switch (e)
        {
            case DeviceException d:
                if (Problems.IsDeviceFault(d))
                {
                    LogDeviceError(Logger(context), e, context.Request.Path.Value ?? "");
                }
                return Problems.FromDevice(d, () => Problems.Create(409, "ptz-not-supported", "PTZ not supported", "This device or channel does not support this PTZ operation."));
            case OperationCanceledException when context.RequestAborted.IsCancellationRequested:
                // The caller went away: nobody reads the answer.
                return Results.Empty;
            case OperationCanceledException:
                return Problems.DeviceTimeout();
            default:
                return null;
        }
    }

    private static async Task<byte[]?> ReadBodyAsync(HttpContext context)
    {
        var request = context.Request;
        if (request.ContentLength > PtzRequestParser.MaxBodyBytes)
        {
            return null;
        }
        using var buffer = new MemoryStream();
        var chunk = new byte[1024];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, context.RequestAborted).ConfigureAwait(false)) > 0)
        {
            if (buffer.Length + read > PtzRequestParser.MaxBodyBytes)
            {
                return null;
            }
            buffer.Write(chunk, 0, read);
        }
        return buffer.ToArray();
    }

    private static ILogger Logger(HttpContext context) =>
        context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("HikShareGateway.Http.Ptz");

    [LoggerMessage(EventId = 5110, Level = LogLevel.Warning, Message = "PTZ rate limit for {Account} on {DeviceId} from {Remote} (429)")]
    private static partial void LogRateLimited(ILogger logger, string account, string deviceId, string remote);

    [LoggerMessage(EventId = 5111, Level = LogLevel.Warning, Message = "PTZ device error on {Path}")]
    private static partial void LogDeviceError(ILogger logger, Exception exception, string path);
}
