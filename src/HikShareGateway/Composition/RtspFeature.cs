using HikShareGateway.Core.Access;
using HikShareGateway.Core.Audio;
using HikShareGateway.Core.Devices;
using HikShareGateway.Core.Diagnostics;
using HikShareGateway.Core.Playback;
using HikShareGateway.Media;
using HikShareGateway.Rtsp;
using HikShareGateway.Rtsp.Demo;
using HikShareGateway.Rtsp.Playback;
using HikShareGateway.Rtsp.Server;
using HikShareGateway.Rtsp.Talk;
using HikShareGateway.Rtsp.Upstream;

namespace HikShareGateway.Composition;

/// <summary>
/// The viewer-facing RTSP server and the live relay (section <c>Rtsp</c>), and in demo mode the demo
/// recorder the demo's device points at. Every viewer request goes through the registered
/// <see cref="IViewerAuthenticator"/> and <see cref="IAccessPolicy"/> (default: deny).
/// </summary>
public static class RtspFeature
{
    public const string DemoClipFile = "demo-640x360-25fps.h264";

    public static void Register(WebApplicationBuilder builder, GatewayContext context, List<string> errors)
    {
        var options = Features.Bind<RtspOptions>(builder.Configuration, RtspOptions.Section, errors);
        var services = builder.Services;
        services.AddSingleton(options);
        // The section's settings as the services below take them, resolved from the container so that the one wiring
        // serves the daemon and the tests (which substitute sub-second values through Features.Build's hook).
        services.AddSingleton(options.ToRelayOptions());
        services.AddSingleton(options.ToUpstreamOptions("HikShareGateway/" + GatewayRunner.SoftwareVersion));
        services.AddSingleton(options.ToServerSettings());
        if (context.Demo)
        {
            services.AddHostedService<DemoCameraService>();
        }
        services.AddSingleton(sp => new LiveRelay(
            new CatalogUpstreamConnector(sp.GetRequiredService<IDeviceCatalog>(), sp.GetRequiredService<UpstreamOptions>(),
                sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILoggerFactory>()),
            sp.GetRequiredService<RelayOptions>(), sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILoggerFactory>(), sp.GetRequiredService<GatewayMetrics>()));
        // Playback: one upstream session per viewer; recordings from ONVIF Profile G when the ONVIF feature provides them.
        services.AddSingleton(sp => new PlaybackService(
            sp.GetService<IRecordingService>() ?? new UnavailableRecordingService(),
            sp.GetRequiredService<UpstreamOptions>(),
            TimeSpan.FromSeconds(options.UpstreamTimeoutSeconds), sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILoggerFactory>()));
        // Two-way audio: the camera's ONVIF backchannel, else the device's own API (ISAPI, registered by the ONVIF feature).
        services.AddSingleton(sp => new TalkService(
            sp.GetRequiredService<IAccessPolicy>(),
            new RtspTalkTargetConnector(sp.GetRequiredService<UpstreamOptions>(), sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILoggerFactory>()),
            sp.GetService<IDeviceTalkback>(),
            sp.GetRequiredService<LiveRelay>(),
            TimeSpan.FromSeconds(options.UpstreamTimeoutSeconds),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<TalkService>>()));
        // The same floor and device side for WebRTC talkers (contract §5.1).
        services.AddSingleton<ITalkChannels>(sp => new TalkChannels(sp.GetRequiredService<TalkService>(), sp.GetRequiredService<ILogger<TalkChannels>>()));
        services.AddSingleton(sp => new ViewerMediaResolver(sp.GetRequiredService<IDeviceCatalog>(), sp.GetRequiredService<LiveRelay>(),
            TimeSpan.FromSeconds(options.UpstreamTimeoutSeconds), sp.GetRequiredService<PlaybackService>(), sp.GetRequiredService<TalkService>()));
        services.AddSingleton(sp =>
        {
            var settings = sp.GetRequiredService<ViewerServerSettings>();
            return new RtspServer(
                new ViewerServices(
                    sp.GetRequiredService<IViewerAuthenticator>(),
                    sp.GetRequiredService<IAccessPolicy>(),
                    sp.GetRequiredService<ISessionRegistry>(),
                    sp.GetRequiredService<IAuditSink>(),
                    sp.GetRequiredService<ViewerMediaResolver>(),
                    settings.QueueLimits,
                    settings.IdleTimeout,
                    sp.GetRequiredService<TimeProvider>(),
                    sp.GetRequiredService<ILoggerFactory>().CreateLogger<ViewerConnection>(),
                    sp.GetRequiredService<GatewayMetrics>())
                { AccountLimits = sp.GetRequiredService<AccountSessionLimiter>() },
                settings.Limits, sp.GetRequiredService<ILogger<RtspServer>>());
        });
        services.AddHostedService<RtspHostedService>();
    }

    /// <summary>Finds the demo clip next to the program (published) or in the repository's assets (dotnet run).</summary>
    public static string? FindDemoClip()
    {
        foreach (var dir in new[] { Path.Combine(AppContext.BaseDirectory, "assets"), AppContext.BaseDirectory })
        {
            var p = Path.Combine(dir, DemoClipFile);
            if (File.Exists(p))
            {
                return p;
            }
        }
        return null;
    }

    /// <summary>The demo recorder on 127.0.0.1:<see cref="DemoDefaults.DemoCameraPort"/>, with the demo device's credentials.</summary>
    private sealed partial class DemoCameraService(IConfiguration configuration, TimeProvider time, ILogger<DemoCamera> logger) : IHostedService
    {
        private DemoCamera? _camera;

        public async Task StartAsync(CancellationToken cancellationToken)
        {
            var clip = FindDemoClip() ?? throw new FileNotFoundException($"the demo clip {DemoClipFile} is missing beside the program (assets/)");
            var user = configuration["Devices:0:Username"];
            var password = configuration["Devices:0:Password"];
            // The demo device's main URL says where the demo recorder listens (overridable like any key).
            var port = Uri.TryCreate(configuration["Devices:0:Channels:0:Main"], UriKind.Absolute, out var main) && main.Port > 0 ? main.Port : DemoDefaults.DemoCameraPort;
            try
            {
                _camera = await DemoCamera.StartAsync(clip, port, user, password, time, logger);
            }
            catch (System.Net.Sockets.SocketException e)
            {
                throw new Core.Configuration.StartupException($"the demo recorder cannot listen on 127.0.0.1:{port} ({e.SocketErrorCode}); is another demo running? Set HIKSHARE_Devices__0__Channels__0__Main to another port.", e);
            }
        }

        public async Task StopAsync(CancellationToken cancellationToken)
        {
            if (_camera is not null)
            {
                await _camera.DisposeAsync();
            }
        }
    }
}
