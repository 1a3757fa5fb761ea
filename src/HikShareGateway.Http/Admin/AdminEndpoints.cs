using System.Net;
using HikShareGateway.Core.Access;
using HikShareGateway.Core.Configuration;
using HikShareGateway.Core.Devices;
using HikShareGateway.Core.Diagnostics;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace HikShareGateway.Http.Admin;

public sealed record StatusGrants(long Version, string Source, DateTimeOffset? AppliedAt, double? AgeSeconds, bool BrokerConnected);

public sealed record StatusDevice(string DeviceId, string? Model, bool Online, int Channels, string Source);

public sealed record StatusSession(string SessionId, string Account, string DeviceId, int Channel, string Action, string Remote);

/// <summary>What <c>hikshare-gateway status</c> shows: what the daemon holds now.</summary>
public sealed record StatusSnapshot(
    string GatewayId,
    string Software,
    DateTimeOffset StartedAt,
    DateTimeOffset Now,
    StatusGrants Grants,
    IReadOnlyList<StatusDevice> Devices,
    IReadOnlyList<StatusSession> Sessions);

/// <summary>What the host tells the admin endpoint about this run.</summary>
public sealed record AdminInfo(string Software, DateTimeOffset StartedAt);

/// <summary>
/// <c>GET /admin/v1/status</c>, reachable only on the admin endpoint (a Kestrel listener on loopback,
/// <c>Admin:Port</c>) with <c>Authorization: Bearer &lt;admin token&gt;</c>. On any other listener the path does not exist (404).
/// </summary>
public static class AdminEndpoints
{
    public const string StatusPath = "/admin/v1/status";

    public static void Map(IEndpointRouteBuilder app)
    {
        var admin = app.MapGroup("/admin/v1");
        admin.AddEndpointFilter(async (invocation, next) =>
        {
            var context = invocation.HttpContext;
            var options = context.RequestServices.GetRequiredService<AdminOptions>();
            var remote = context.Connection.RemoteIpAddress;
            // Defence in depth: the listener is loopback-only, and the route answers only there.
            if (options.Port == 0 || context.Connection.LocalPort != options.Port || remote is null || !IPAddress.IsLoopback(remote))
            {
                return Results.NotFound();
            }
            var token = context.RequestServices.GetRequiredService<AdminToken>();
            if (!token.Matches(BearerAuthentication.ReadBearer(context.Request)))
            {
                return Problems.Unauthorized(
                    "Send the admin token as \"Authorization: Bearer <token>\" (Admin:Token, or the file Admin:TokenFile written at start).",
                    invalidToken: BearerAuthentication.ReadBearer(context.Request) is not null);
            }
            return await next(invocation).ConfigureAwait(false);
        });
        admin.MapGet("/status", (HttpContext context) => Results.Json(Snapshot(context.RequestServices), ApiJsonContext.Default.StatusSnapshot));
    }

    public static StatusSnapshot Snapshot(IServiceProvider services)
    {
        var time = services.GetRequiredService<TimeProvider>();
        var now = time.GetUtcNow();
        var gateway = services.GetRequiredService<GatewayOptions>();
        var info = services.GetService<AdminInfo>() ?? new AdminInfo("unknown", now);
        var grants = services.GetRequiredService<IGrantsStatus>();
        var catalog = services.GetRequiredService<IDeviceCatalog>();
        var sessions = services.GetRequiredService<ISessionRegistry>();
        return new StatusSnapshot(
            gateway.Id,
            info.Software,
            info.StartedAt,
            now,
            new StatusGrants(grants.Version, grants.Source, grants.AppliedAt,
                grants.AppliedAt is { } at ? Math.Round((now - at).TotalSeconds, 1) : null, grants.BrokerConnected),
            [.. catalog.Devices.OrderBy(d => d.DeviceId, StringComparer.Ordinal)
                .Select(d => new StatusDevice(d.DeviceId, d.Model, d.Online, d.Channels.Count, d.Source.ToString().ToLowerInvariant()))],
            [.. sessions.ActiveSessions.OrderBy(s => s.Account, StringComparer.Ordinal).ThenBy(s => s.DeviceId, StringComparer.Ordinal)
                .Select(s => new StatusSession(s.SessionId, s.Account, s.DeviceId, s.Channel, SafeName(s.Action), s.Remote))]);
    }

    private static string SafeName(Privilege p) => p is Privilege.LiveView or Privilege.Playback or Privilege.AlarmPush or Privilege.TwoWayAudio or Privilege.Ptz
        ? p.ToContractName()
        : p.ToString();
}
