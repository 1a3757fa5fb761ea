using System.Globalization;
using System.Security.Cryptography;
using HikShareGateway.Core.Access;
using HikShareGateway.Core.Devices;
using HikShareGateway.Core.Playback;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace HikShareGateway.Http.Recordings;

/// <summary>One recorded span as the API shows it, with the RTSP path that plays it (host, port and token are the caller's).</summary>
public sealed record RecordingView(string Start, string End, string Playback);

public sealed record RecordingList(string DeviceId, int Channel, string From, string To, IReadOnlyList<RecordingView> Recordings);

/// <summary>
/// <c>GET /api/v1/devices/{deviceId}/channels/{channel}/recordings?from=…&amp;to=…</c>: the spans recorded on a channel
/// (ONVIF Profile G search), for accounts with <c>playback</c> on it. Order of checks: bearer token (401) → <c>playback</c>
/// grant (403, also for unknown devices and channels) → query (400) → device: 409 when the channel has no recording
/// search (e.g. a channel configured with a <c>Playback</c> URL template: it plays back, but cannot be searched), 502
/// when the device fails, 504 when it times out.
/// <para>
/// <c>from</c>/<c>to</c>: UTC, basic (<c>20261125T100000Z</c>) or extended ISO 8601; default the last 24 hours; at most 31 days.
/// </para>
/// </summary>
public static partial class RecordingsEndpoint
{
    public static readonly TimeSpan DefaultWindow = TimeSpan.FromHours(24);
    public static readonly TimeSpan MaxWindow = TimeSpan.FromDays(31);

    public static void Map(RouteGroupBuilder api) => api.MapGet("/devices/{deviceId}/channels/{channel}/recordings", ListAsync);

    private static async Task<IResult> ListAsync(HttpContext context, string deviceId, string channel)
    {
        var services = context.RequestServices;
        var account = BearerAuthentication.Account(context);
        var remote = BearerAuthentication.Remote(context);
        var time = services.GetRequiredService<TimeProvider>();
        var audit = services.GetRequiredService<IAuditSink>();
        var sessionId = Convert.ToHexString(RandomNumberGenerator.GetBytes(8));
        if (!int.TryParse(channel, NumberStyles.None, CultureInfo.InvariantCulture, out var ch) || ch < 1)
        {
            ch = 0;
        }
        var catalog = services.GetRequiredService<IDeviceCatalog>();
        if (ch == 0 || !services.GetRequiredService<IAccessPolicy>().IsAllowed(account, deviceId, ch, Privilege.Playback))
        {
            audit.Record(new AuditEvent(time.GetUtcNow(), sessionId, account, deviceId, ch, Privilege.Playback, AuditDecision.Deny, "list recordings: no playback grant", remote));
            return Problems.Forbidden();
        }
        if (!catalog.TryGetDevice(deviceId, out var device) || device.FindChannel(ch) is not { } info)
        {
            // Granted but not known to this gateway (yet): nothing to list, and nothing revealed.
            return Problems.Forbidden();
        }
        var now = time.GetUtcNow();
        if (!TryTime(context.Request.Query["to"], now, out var to) || !TryTime(context.Request.Query["from"], to - DefaultWindow, out var from))
        {
            return Problems.BadRequest("from and to must be UTC times, e.g. 20261125T100000Z or 2026-11-25T10:00:00Z.");
        }
        if (from >= to || to - from > MaxWindow)
        {
            return Problems.BadRequest($"from must be before to, and at most {MaxWindow.TotalDays:0} days before it.");
        }
        IReadOnlyList<RecordingSpan> spans;
        try
        {
            spans = await services.GetRequiredService<IRecordingService>().FindAsync(deviceId, ch, from, to, context.RequestAborted).ConfigureAwait(false);
        }
        catch (DeviceException e)
        {
            if (Problems.IsDeviceFault(e))
            {
                LogDeviceError(services.GetRequiredService<ILoggerFactory>().CreateLogger("HikShareGateway.Http.Recordings"), e, deviceId, ch);
            }
            return Problems.FromDevice(e, () => info.PlaybackTemplate is not null
                ? Problems.Create(409, "recordings-not-searchable", "Recordings cannot be searched",
                    $"Channel {ch} plays back from a configured URL, and the device offers no recording search: play back with /playback/{deviceId}/{ch}?start=… directly.")
                : Problems.Create(409, "recordings-not-supported", "Recordings not supported", "This device offers no ONVIF recording search (Profile G) for this channel."));
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            return Results.Empty;
        }
        audit.Record(new AuditEvent(time.GetUtcNow(), sessionId, account, deviceId, ch, Privilege.Playback, AuditDecision.Allow, "list recordings", remote));
        var views = spans.Select(s => new RecordingView(Iso(s.Start), Iso(s.End),
            $"/playback/{Uri.EscapeDataString(deviceId)}/{ch}?start={Basic(s.Start)}&end={Basic(s.End)}")).ToList();
        return Results.Json(new RecordingList(deviceId, ch, Iso(from), Iso(to), views), ApiJsonContext.Default.RecordingList);
    }

    /// <summary>Absent: <paramref name="fallback"/>. Basic ISO 8601 (as in playback URLs) or extended with Z or an offset.</summary>
    internal static bool TryTime(string? text, DateTimeOffset fallback, out DateTimeOffset time)
    {
        if (string.IsNullOrEmpty(text))
        {
            time = fallback;
            return true;
        }
        if (DateTimeOffset.TryParseExact(text, ["yyyyMMdd'T'HHmmss'Z'", "yyyyMMdd'T'HHmmss.FFF'Z'"], CultureInfo.InvariantCulture,
                DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out time))
        {
            return true;
        }
        // Extended form only with an explicit zone: a local time would be ambiguous.
        var hasZone = text.EndsWith('Z') || text.Length > 19 && (text[19..].Contains('+') || text[19..].Contains('-'));
        return hasZone && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal, out time);
    }

    private static string Iso(DateTimeOffset t) => t.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    private static string Basic(DateTimeOffset t) => t.ToUniversalTime().ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);

    [LoggerMessage(EventId = 5120, Level = LogLevel.Warning, Message = "Recording search failed on {DeviceId} channel {Channel}")]
    private static partial void LogDeviceError(ILogger logger, Exception exception, string deviceId, int channel);
}
