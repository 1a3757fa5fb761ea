using HikShareCloud.Service.Accounts;
using HikShareCloud.Service.Gateways;
using HikShareCloud.Service.Grants;
using HikShareCloud.Service.Http;
using HikShareCloud.Service.Mqtt;
using HikShareCloud.Service.Shares;
using HikShareCloud.Service.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace HikShareCloud.Service;

/// <summary>Configuration errors found at start, all of them (the command exits 78, EX_CONFIG).</summary>
public sealed class SharingStartupException(IReadOnlyList<string> errors) : Exception(string.Join("\n", errors))
{
    public IReadOnlyList<string> Errors { get; } = errors;
}

/// <summary>
/// <c>hikshare-cloud serve</c>: validates the options (every error at once), opens the database
/// (PostgreSQL by connection string, else <c>sharing.db</c> under the state directory), applies the
/// migrations, then runs the HTTP API and the MQTT link until stopped.
/// </summary>
public static class SharingServer
{
    public static async Task<WebApplication> BuildAsync(ServiceOptions options, IVerificationSender? sender = null, TimeProvider? time = null,
        Action<ILoggingBuilder>? logging = null, CancellationToken ct = default)
    {
        var errors = options.Validate().ToList();
        var keys = SigningKeys.Load(options.SigningKeyFiles, errors);
        if (errors.Count > 0)
        {
            throw new SharingStartupException(errors);
        }
        time ??= TimeProvider.System;
        ServiceDb db;
        if (options.PostgresConnectionString is { } pg)
        {
            db = ServiceDb.Postgres(pg);
        }
        else
        {
            Directory.CreateDirectory(options.StateDirectory);
            db = ServiceDb.Sqlite(Path.Combine(options.StateDirectory, "sharing.db"));
        }
        await MigrationRunner.ApplyAsync(db, time, ct: ct);
        HikShareGateway.Cloud.EmbeddedBroker? broker = null;
        if (options.EmbeddedBrokerPort is { } brokerPort)
        {
            // The demo's broker, in this process; a taken port is an error (the gateway is told the port to use).
            broker = new HikShareGateway.Cloud.EmbeddedBroker(Microsoft.Extensions.Logging.Abstractions.NullLogger<HikShareGateway.Cloud.EmbeddedBroker>.Instance);
            var port = await broker.StartAsync(brokerPort, ct);
            if (port != brokerPort)
            {
                await broker.DisposeAsync();
                throw new SharingStartupException([$"Sharing:EmbeddedBrokerPort {brokerPort} is in use"]);
            }
            options = options with { Broker = $"mqtt://127.0.0.1:{port}" };
        }

        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls(options.Listen);
        if (options.TlsCertificateFile is not null)
        {
            var certificate = options.TryLoadCertificate(out _)!; // validated above
            builder.WebHost.UseKestrelHttpsConfiguration(); // the slim builder leaves HTTPS out unless asked
            builder.WebHost.ConfigureKestrel(k => k.ConfigureHttpsDefaults(h => h.ServerCertificate = certificate));
        }
        builder.Services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        if (logging is not null)
        {
            logging(builder.Logging);
        }
        var s = builder.Services;
        s.AddSingleton(options);
        s.AddSingleton(time);
        s.AddSingleton(db);
        s.AddSingleton(keys);
        s.AddSingleton(new PasswordHasher(options.PasswordIterations));
        s.AddSingleton(sender ?? new VerificationSender(options.Smtp, options.SmsWebhook is null ? null : new Uri(options.SmsWebhook)));
        s.AddSingleton<AccountService>();
        s.AddSingleton<GrantsBuilder>();
        s.AddSingleton<GatewayService>();
        s.AddSingleton<ShareService>();
        s.AddSingleton<ViewerTokenService>();
        s.AddSingleton<ViewerDevices>();
        s.AddSingleton<Audit.AuditService>();
        s.AddSingleton<Mqtt.WebRtcRelay>();
        s.AddSingleton<SharingMqttLink>();
        s.AddHostedService<MqttLinkService>();
        if (broker is not null)
        {
            s.AddSingleton(broker); // disposed with the host, after the MQTT link
        }
        var app = builder.Build();
        foreach (var demo in options.DemoAccounts)
        {
            await app.Services.GetRequiredService<AccountService>().EnsureDemoAccountAsync(demo.Address, demo.Password, ct);
        }
        app.MapSharingApi();
        app.MapWhepRelay();
        Portal.PortalEndpoints.MapPortal(app);
        Portal.GatewayAppEndpoints.MapGatewayApp(app);
        return app;
    }

    private sealed class MqttLinkService(SharingMqttLink link) : BackgroundService
    {
        protected override Task ExecuteAsync(CancellationToken stoppingToken) => link.RunAsync(stoppingToken);

        public override async Task StopAsync(CancellationToken cancellationToken)
        {
            await base.StopAsync(cancellationToken);
            await link.DisposeAsync();
        }
    }
}
