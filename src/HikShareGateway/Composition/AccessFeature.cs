using HikShareGateway.Access;
using HikShareGateway.Access.Audit;
using HikShareGateway.Access.Credentials;
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
/// Who may do what: binds the trust keys of <c>Cloud</c> (<see cref="CloudTrustOptions"/>: trusted keys, grant
/// limits; the link's keys are <see cref="CloudFeature"/>'s) and <c>Access</c>, and registers the grants store
/// (<see cref="IAccessPolicy"/>, <see cref="IGrantsStatus"/>, <see cref="IGrantsInbox"/>), the viewer authenticator,
/// the session registry and the audit sink. Call before the Core fallbacks (they are TryAdd). Keys another feature
/// must trust too (the demo's) arrive as <see cref="ExtraTrustedKey"/> registrations, read when the key set is built.
/// </summary>
public static partial class AccessFeature
{
    public static void Register(WebApplicationBuilder b, GatewayContext ctx, List<string> errors)
    {
        var configuration = b.Configuration;
        var gateway = configuration.GetSection(GatewayOptions.Section).Get<GatewayOptions>() ?? new GatewayOptions();
        var trust = Features.Bind<CloudTrustOptions>(configuration, CloudTrustOptions.Section, errors);
        var access = Features.Bind<AccessOptions>(configuration, AccessOptions.Section, errors);

        b.Services.AddSingleton(trust);
        b.Services.AddSingleton(access);
        b.Services.AddSingleton(sp => trust.BuildKeySet(sp.GetServices<ExtraTrustedKey>().Select(k => k.Key)));
        b.Services.AddSingleton(sp => new GrantsStore(
            new GrantsStoreSettings(gateway.Id, gateway.StateDirectory, trust.MaxGrantMessageBytes),
            sp.GetRequiredService<TrustedKeySet>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<GrantsStore>>(),
            // Only read (for IGrantsStatus); the link depends on the store, never the other way round.
            sp.GetService<IBrokerStatus>(),
            sp.GetRequiredService<GatewayMetrics>()));
        b.Services.AddSingleton<IAccessPolicy>(sp => sp.GetRequiredService<GrantsStore>());
        b.Services.AddSingleton<IGrantsStatus>(sp => sp.GetRequiredService<GrantsStore>());
        b.Services.AddSingleton<IGrantsInbox>(sp => sp.GetRequiredService<GrantsStore>());
        // RTSP credentials (contract §4.1) live beside the grants state, only as hashes.
        b.Services.AddSingleton(sp => new RtspCredentialStore(gateway.StateDirectory, sp.GetRequiredService<TimeProvider>()));
        b.Services.AddSingleton<IRtspCredentials>(sp => sp.GetRequiredService<RtspCredentialStore>());
        b.Services.AddSingleton<IViewerAuthenticator>(sp => new ViewerAuthenticator(
            sp.GetRequiredService<TrustedKeySet>(), gateway.Id, access,
            sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<ViewerAuthenticator>>(),
            sp.GetRequiredService<GatewayMetrics>(), sp.GetRequiredService<RtspCredentialStore>()));
        b.Services.AddSingleton<IAuditSink, CloudAuditSink>();
        b.Services.AddSingleton<SessionRegistry>();
        b.Services.AddSingleton<ISessionRegistry>(sp => sp.GetRequiredService<SessionRegistry>());
        b.Services.AddHostedService<GrantsStartup>();
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

/// <summary>A cloud key trusted in addition to <c>Cloud:TrustedKeys</c> (replacing a configured key of the same kid).</summary>
public sealed record ExtraTrustedKey(Ed25519PublicJwk Key);
