using Microsoft.AspNetCore.Routing;

namespace HikShareGateway.Http.WebApp;

/// <summary>
/// What the web viewer may use on this gateway build (<c>GET /app/config.json</c>, no secret in it): read from the
/// endpoints that are mapped, so that the app never probes an endpoint this build lacks (a 404 in the console)
/// and offers a transport only where the gateway has it. WebRTC (WHEP) first, fMP4 as the fallback.
/// </summary>
public sealed record WebAppConfig(bool Whep, bool Fmp4, bool Snapshots, string? DeviceChanges, bool WhepPlayback = false, bool Fmp4Playback = false)
{
    /// <summary>Paths a device change stream (SSE) may be mapped at, the first mapped one wins.</summary>
    public static readonly IReadOnlyList<string> DeviceChangePaths = ["/api/v1/devices/changes", "/api/v1/devices/events", "/api/v1/devices/stream"];

    public static WebAppConfig From(EndpointDataSource endpoints)
    {
        bool whep = false, fmp4 = false, snapshots = false, whepPlayback = false, fmp4Playback = false;
        string? changes = null;
        foreach (var endpoint in endpoints.Endpoints)
        {
            if (endpoint is not RouteEndpoint { RoutePattern.RawText: { } raw })
            {
                continue;
            }
            var pattern = raw.StartsWith('/') ? raw : "/" + raw;
            whep |= pattern.StartsWith("/whep/live/", StringComparison.Ordinal);
            fmp4 |= pattern.StartsWith("/api/v1/live/", StringComparison.Ordinal);
            whepPlayback |= pattern.StartsWith("/whep/playback/", StringComparison.Ordinal);
            fmp4Playback |= pattern.StartsWith("/api/v1/playback/", StringComparison.Ordinal) && pattern.EndsWith(".mp4", StringComparison.Ordinal);
            snapshots |= pattern.StartsWith("/api/v1/devices/", StringComparison.Ordinal) && pattern.EndsWith("/snapshot.jpg", StringComparison.Ordinal);
            if (changes is null && DeviceChangePaths.Contains(pattern))
            {
                changes = pattern;
            }
        }
        return new WebAppConfig(whep, fmp4, snapshots, changes, whepPlayback, fmp4Playback);
    }
}
