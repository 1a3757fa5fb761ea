using HikShareGateway.Access;
using HikShareGateway.Access.Audit;
using HikShareGateway.Access.Grants;
using HikShareGateway.Access.Jose;
using HikShareGateway.Access.Sessions;
using HikShareGateway.Access.Tokens;
using HikShareGateway.Core.Access;
using HikShareGateway.Core.Cloud;
using HikShareGateway.Core.Configuration;
using HikShareGateway.Core.Diagnostics;

namespace HikShareGateway.Composition;

/// <summary>
/// Who may do what: binds <c>Cloud</c> (trusted keys, grant limits) and <c>Access</c>, and registers the
/// grants store (<see cref="IAccessPolicy"/>, <see cref="IGrantsStatus"/>), the viewer authenticator,
/// the session registry and the audit sink. Call before the Core fallbacks (they are TryAdd).
/// </summary>
public static partial class AccessFeature
{
    public static void Register(WebApplicationBuilder b, GatewayContext ctx, List<string> errors)
    {
        var configuration = b.Configuration;
        var gateway = configuration.GetSection(GatewayOptions.Section).Get<GatewayOptions>() ?? new GatewayOptions();
        var cloud = Features.Bind<CloudOptions>(configuration, CloudOptions.Section, errors);
        var access = Features.Bind<AccessOptions>(configuration, AccessOptions.Section, errors);
        if (ctx.Demo && cloud.Broker is null && errors.Count == 0)
        {
            // The demo is its own cloud: a key kept in the state directory, trusted here.
            var demo = DemoCloud.Prepare(cloud, gateway, configuration, errors);
            if (demo is not null)
            {
                b.Services.AddSingleton(demo);
            }
        }

        b.Services.AddSingleton(cloud);
        b.Services.AddSingleton(access);
        b.Services.AddSingleton(_ => cloud.BuildKeySet());
        b.Services.AddSingleton(sp => new GrantsStore(
            new GrantsStoreSettings(gateway.Id, gateway.StateDirectory, cloud.MaxGrantMessageBytes),
            sp.GetRequiredService<TrustedKeySet>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<GrantsStore>>(),
            // Resolved when first used: the MQTT client (the publisher) itself depends on the store.
            new LazyCloudPublisher(sp),
            sp.GetRequiredService<GatewayMetrics>()));
        b.Services.AddSingleton<IAccessPolicy>(sp => sp.GetRequiredService<GrantsStore>());
        b.Services.AddSingleton<IGrantsStatus>(sp => sp.GetRequiredService<GrantsStore>());
        b.Services.AddSingleton<IViewerAuthenticator>(sp => new ViewerAuthenticator(
            sp.GetRequiredService<TrustedKeySet>(), gateway.Id, access,
            sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<ViewerAuthenticator>>(),
            sp.GetRequiredService<GatewayMetrics>()));
        b.Services.AddSingleton<IAuditSink, CloudAuditSink>();
        b.Services.AddSingleton<SessionRegistry>();
        b.Services.AddSingleton<ISessionRegistry>(sp => sp.GetRequiredService<SessionRegistry>());
        b.Services.AddHostedService<GrantsStartup>();
    }

    private sealed class LazyCloudPublisher(IServiceProvider sp) : ICloudPublisher
    {
        private ICloudPublisher? _target;
        public void Publish(string subTopic, ReadOnlyMemory<byte> payload, bool retain)
            => (_target ??= sp.GetRequiredService<ICloudPublisher>()).Publish(subTopic, payload, retain);
    }

    /// <summary>Loads the persisted grants before anything else starts, and makes the session registry listen.</summary>
    private sealed partial class GrantsStartup(GrantsStore store, SessionRegistry registry, TrustedKeySet keys, ILogger<GrantsStartup> logger) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            _ = registry; // constructed now so that it is subscribed to grant changes
            if (keys.Count == 0)
            {
                LogNoKeys(logger);
            }
            store.Load();
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken)
        {
            return Task.CompletedTask; // The container disposes the store.
        }

        [LoggerMessage(EventId = 3001, Level = LogLevel.Warning, Message = "Cloud:TrustedKeys is empty: every grant message and viewer token will be rejected, so nobody has access")]
        private static partial void LogNoKeys(ILogger logger);
    }
}
