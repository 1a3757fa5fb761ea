using System.Net;
using HikShareGateway.Core.Access;
using HikShareGateway.Core.Configuration;
using HikShareGateway.Core.Devices;
using HikShareGateway.Core.Diagnostics;
using HikShareGateway.Core.Playback;
using HikShareGateway.Core.Ptz;
using HikShareGateway.Http.Admin;
using HikShareGateway.Http.Metrics;
using HikShareGateway.Http.Ptz;
using HikShareGateway.Http.Recordings;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;

namespace HikShareGateway.Http;

/// <summary>
/// Registration and mapping of the HTTP API. The host calls <see cref="AddHttpApi"/>, <see cref="Listen"/> and
/// <see cref="MapHttpApi"/>; tests do the same on a Kestrel bound to 127.0.0.1:0 with fakes behind the Core interfaces.
/// </summary>
public static class HttpApi
{
    /// <summary>
    /// Registers the API's services. Core interfaces owned by other features get fail-safe fallbacks with
    /// TryAdd (deny everyone, no grants, no PTZ); a feature registering its own implementation wins.
    /// </summary>
    public static IServiceCollection AddHttpApi(this IServiceCollection services, PtzApiOptions ptz, AdminOptions admin, string adminTokenFile)
    {
        services.AddRouting();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<AlarmFeed>();
        services.TryAddSingleton<IViewerAuthenticator, RejectAllAuthenticator>();
        services.TryAddSingleton<IAccessPolicy, DenyAllAccessPolicy>();
        services.TryAddSingleton<ISessionRegistry, InMemorySessionRegistry>();
        services.TryAddSingleton<IAuditSink, LogAuditSink>();
        services.TryAddSingleton<IGrantsStatus, NoGrantsStatus>();
        services.TryAddSingleton<IPtzService, UnavailablePtzService>();
        services.TryAddSingleton<IRecordingService, UnavailableRecordingService>();
        services.TryAddSingleton<IDeviceCatalog>(_ => new StaticDeviceCatalog([]));
        services.TryAddSingleton<IReadOnlyList<DeviceOptions>>(Array.Empty<DeviceOptions>());
        services.TryAddSingleton(new GatewayOptions());
        services.TryAddSingleton(new EventsOptions());
        services.TryAddSingleton(new DeviceEventsLimiter(DeviceEventsLimiter.DefaultPerAccount));
        services.TryAddSingleton(new AlarmEventsLimiter(AlarmEventsLimiter.DefaultPerAccount));

        services.AddSingleton(ptz);
        services.AddSingleton(admin);
        services.AddSingleton(sp => new AccountRateLimiter(ptz.RatePerSecond, ptz.Burst, sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<PtzController>();
        services.AddMetrics();
        services.TryAddSingleton<GatewayMetrics>();
        services.TryAddSingleton(new MetricsOptions());
        services.AddSingleton<MetricsExporter>();
        services.AddSingleton(sp => AdminToken.Create(admin, adminTokenFile, sp.GetRequiredService<ILoggerFactory>().CreateLogger("HikShareGateway.Http.Admin")));
        services.AddHostedService<Operations.SystemdWatchdog>();
        services.AddHostedService<AdminTokenWriter>();
        return services;
    }

    /// <summary>The public API listener (<c>Http:Port</c>, <c>Http:BindAddress</c>) and the loopback admin listener (<c>Admin:Port</c>).</summary>
    public static void Listen(KestrelServerOptions kestrel, HttpOptions http, AdminOptions admin)
    {
        // Slow or idle clients do not hold the port: headers within a bound, idle keep-alives closed. The
        // connection caps (all clients, and per address) are on the public listener only, so the loopback admin
        // listener stays usable when the public one is full.
        kestrel.Limits.RequestHeadersTimeout = TimeSpan.FromSeconds(http.RequestHeadersTimeoutSeconds);
        kestrel.Limits.KeepAliveTimeout = TimeSpan.FromSeconds(http.KeepAliveTimeoutSeconds);
        if (http.Port > 0)
        {
            var limiter = new ConnectionLimiter(http.MaxConnections, http.MaxConnectionsPerAddress);
            void Limited(ListenOptions o) => o.Use(limiter.Middleware);
            if (string.IsNullOrWhiteSpace(http.BindAddress) || http.BindAddress is "*" or "0.0.0.0" or "::")
            {
                kestrel.ListenAnyIP(http.Port, Limited);
            }
            else
            {
                kestrel.Listen(IPAddress.Parse(http.BindAddress), http.Port, Limited);
            }
        }
        if (admin.Port > 0)
        {
            kestrel.Listen(IPAddress.Parse(admin.BindAddress), admin.Port);
        }
    }

    public static void MapHttpApi(this IEndpointRouteBuilder app)
    {
        // Resolved now so that its listener records from the first request on.
        _ = app.ServiceProvider.GetRequiredService<MetricsExporter>();
        if (app is IApplicationBuilder pipeline)
        {
            var metrics = app.ServiceProvider.GetRequiredService<GatewayMetrics>();
            var time = app.ServiceProvider.GetRequiredService<TimeProvider>();
            // First, so that it sees the status the problem+json fallback below sets.
            pipeline.Use((context, next) => RequestDurationMiddleware.InvokeAsync(context, next, metrics, time));
            // Contract §5: errors are problem+json, also the ones routing produces (unknown path, wrong method).
            pipeline.Use(async (context, next) =>
            {
                await next(context).ConfigureAwait(false);
                var r = context.Response;
                if (!r.HasStarted && r.StatusCode is 404 or 405 && r.ContentType is null && r.ContentLength is null or 0)
                {
                    await (r.StatusCode == 404
                        ? Problems.Create(404, "not-found", "Not found", "There is no such resource; the API is under /api/v1 (see docs/contract.md §5).")
                        : Problems.Create(405, "method-not-allowed", "Method not allowed", "This resource does not accept " + context.Request.Method + ".")).ExecuteAsync(context).ConfigureAwait(false);
                }
            });
        }

        app.MapGet("/healthz", () => Results.Text("ok\n"));
        app.MapGet("/readyz", (HttpContext context) =>
        {
            var s = context.RequestServices;
            var readiness = HealthEndpoints.Evaluate(s.GetRequiredService<IGrantsStatus>(), s.GetRequiredService<IDeviceCatalog>(),
                s.GetRequiredService<IReadOnlyList<DeviceOptions>>());
            return Results.Json(readiness, ApiJsonContext.Default.Readiness, statusCode: readiness.Ready ? 200 : 503);
        });
        app.MapGet("/metrics", async (HttpContext context) =>
        {
            context.Response.ContentType = MetricsExporter.ContentType;
            await context.RequestServices.GetRequiredService<MetricsExporter>().WriteAsync(context.Response.Body, context.RequestAborted).ConfigureAwait(false);
        });

        var api = app.MapGroup("/api/v1");
        api.AddEndpointFilter(BearerAuthentication.Filter);
        api.MapGet("/devices", DevicesEndpoint.Get);
        DeviceEventsEndpoint.Map(api);
        api.MapGet("/events", async (HttpContext context) =>
        {
            await EventsEndpoint.StreamAsync(context).ConfigureAwait(false);
            return Results.Empty;
        });
        PtzEndpoints.Map(api);
        RtspCredentialsEndpoints.Map(api);
        RecordingsEndpoint.Map(api);

        AdminEndpoints.Map(app);
    }
}

/// <summary>Writes the admin token when the daemon starts (not at the first status call, and not when only validating configuration).</summary>
internal sealed class AdminTokenWriter(IServiceProvider services) : Microsoft.Extensions.Hosting.IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        _ = services.GetRequiredService<AdminToken>();
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
