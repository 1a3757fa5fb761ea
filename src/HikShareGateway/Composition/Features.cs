using HikShareGateway.Core.Access;
using HikShareGateway.Core.Alarms;
using HikShareGateway.Core.Cloud;
using HikShareGateway.Core.Configuration;
using HikShareGateway.Core.Devices;
using HikShareGateway.Core.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Serilog;

namespace HikShareGateway.Composition;

/// <summary>
/// Joins the feature projects. Each feature binds and validates its own configuration sections
/// (adding to <c>errors</c>, never throwing), registers its services, and maps its endpoints.
/// </summary>
public static class Features
{
    /// <param name="configure">Runs after every feature registered its services, before the container is built: the
    /// one hook through which tests substitute a service or a setting while keeping the production wiring.</param>
    public static WebApplication? Build(IConfiguration configuration, GatewayContext context, List<string> errors, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ApplicationName = "hikshare-gateway" });
        builder.Configuration.AddConfiguration(configuration);
        builder.Services.AddSerilog(Log.Logger, dispose: false);
        builder.Services.AddSystemd();
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(10));
        builder.Services.AddSingleton(context);
        builder.Services.AddSingleton(TimeProvider.System);

        // :: Core sections and shared services.
        var gateway = Bind<GatewayOptions>(configuration, GatewayOptions.Section, errors);
        var http = Bind<HttpOptions>(configuration, HttpOptions.Section, errors);
        var discovery = Bind<DiscoveryOptions>(configuration, DiscoveryOptions.Section, errors);
        var devices = configuration.GetSection("Devices").Get<List<DeviceOptions>>() ?? [];
        for (var i = 0; i < devices.Count; i++)
        {
            devices[i].Validate(i, errors);
        }
        builder.Services.AddSingleton(gateway);
        builder.Services.AddSingleton(http);
        builder.Services.AddSingleton(discovery);
        builder.Services.AddSingleton<IReadOnlyList<DeviceOptions>>(devices);
        builder.Services.AddSingleton<AlarmFeed>();
        // One meter per host (IMeterFactory), exported at /metrics by the HTTP feature.
        builder.Services.AddMetrics();
        builder.Services.AddSingleton<GatewayMetrics>();
        // One per-account session counter for RTSP and fMP4 (section Limits).
        var limits = Bind<LimitsOptions>(configuration, LimitsOptions.Section, errors);
        builder.Services.AddSingleton(sp => new AccountSessionLimiter(limits.SessionsPerAccount, sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILoggerFactory>().CreateLogger<AccountSessionLimiter>(), sp.GetRequiredService<GatewayMetrics>()));
        // :: Features. Each registers its own implementations before the Core fallbacks below (TryAdd).
        AccessFeature.Register(builder, context, errors);
        CloudFeature.Register(builder, context, errors);
        OnvifFeature.Register(builder, context, errors);
        builder.Services.TryAddSingleton<IDeviceCatalog>(_ => new StaticDeviceCatalog(StaticDeviceCatalog.FromOptions(devices)));
        builder.Services.TryAddSingleton<IAccessPolicy, DenyAllAccessPolicy>();
        RtspFeature.Register(builder, context, errors);
        Mp4Feature.Register(builder, context, errors);
        WebRtcFeature.Register(builder, context, errors);
        FfmpegFeature.Register(builder, context, errors);
        HttpFeature.Register(builder, context, errors);
        WebAppFeature.Register(builder, context, errors);
        builder.Services.TryAddSingleton<ICloudPublisher, NullCloudPublisher>();
        builder.Services.TryAddSingleton<IBrokerStatus, NoBrokerStatus>();
        builder.Services.AddHostedService<StartupTrim>();
        configure?.Invoke(builder);

        if (errors.Count > 0)
        {
            return null;
        }
        var app = builder.Build();
        HttpFeature.Map(app);
        Mp4Feature.Map(app);
        WebAppFeature.Map(app);
        WebRtcFeature.Map(app);
        FfmpegFeature.Map(app);
        return app;
    }

    /// <summary>Binds a section (binder errors become messages naming the key) and runs its validation.</summary>
    public static T Bind<T>(IConfiguration configuration, string section, ICollection<string> errors)
        where T : class, IValidatableOptions, new()
    {
        var options = new T();
        try
        {
            OptionsBinding.Bind(configuration.GetSection(section), options, errors);
        }
        catch (InvalidOperationException e)
        {
            errors.Add($"{section}: {e.Message}");
            return options;
        }
        options.Validate(errors);
        return options;
    }
}
