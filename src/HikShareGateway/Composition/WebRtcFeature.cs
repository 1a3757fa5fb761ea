using HikShareGateway.Core.Audio;
using System.Net;
using System.Net.Sockets;
using HikShareGateway.Core.Access;
using HikShareGateway.Core.Cloud;
using HikShareGateway.Core.Configuration;
using HikShareGateway.Core.Devices;
using HikShareGateway.Core.Diagnostics;
using HikShareGateway.Core.WebRtc;
using HikShareGateway.Ffmpeg;
using HikShareGateway.Rtsp;
using HikShareGateway.Rtsp.Playback;
using HikShareGateway.Http.Whep;
using HikShareGateway.Media;
using HikShareGateway.WebRtc;
using HikShareGateway.WebRtc.Diagnostics;
using HikShareGateway.WebRtc.Dtls;
using HikShareGateway.WebRtc.Ice;
using HikShareGateway.WebRtc.Viewing;

namespace HikShareGateway.Composition;

/// <summary>
/// WebRTC viewing (contract §5.1, section <c>WebRtc</c>): the one UDP port (<c>WebRtc:UdpPort</c>), the DTLS identity, the
/// viewing service on the RTSP feature's <see cref="LiveRelay"/>, and the WHEP endpoints and demo page of the HTTP API.
/// Off unless <c>WebRtc:Enabled</c> is true; the demo turns it on.
/// </summary>
public static partial class WebRtcFeature
{
    public static void Register(WebApplicationBuilder builder, GatewayContext context, List<string> errors)
    {
        var section = builder.Configuration.GetSection(WebRtcOptions.SectionName);
        if (!section.GetValue("Enabled", context.Demo))
        {
            return;
        }
        // The demo takes any free UDP port unless one is configured: a demo beside a gateway (or beside the tests'
        // in-process demos) must not fail on a taken 8189; its answers carry the port, so a browser still finds it.
        var options = context.Demo && section["UdpPort"] is null ? new WebRtcOptions { UdpPort = 0 } : new WebRtcOptions();
        var viewing = new WebRtcViewingOptions();
        try
        {
            section.Bind(options);
            section.Bind(viewing);
        }
        catch (InvalidOperationException e)
        {
            errors.Add($"{WebRtcOptions.SectionName}: {e.Message}");
            return;
        }
        errors.AddRange(options.Validate());
        errors.AddRange(viewing.Validate());
        var services = builder.Services;
        services.AddSingleton(options);
        services.AddSingleton(viewing);
        services.AddSingleton(sp => CreateContext(options, sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILoggerFactory>()));
        services.AddSingleton(sp => new WebRtcViewingService(
            sp.GetRequiredService<WebRtcSessionContext>(), viewing, sp.GetRequiredService<LiveRelay>(), sp.GetRequiredService<IDeviceCatalog>(),
            sp.GetRequiredService<IAccessPolicy>(), sp.GetRequiredService<ISessionRegistry>(), sp.GetRequiredService<IAuditSink>(),
            sp.GetRequiredService<GatewayMetrics>(), sp.GetService<ITalkChannels>(), sp.GetService<ITalkTranscoders>(),
            Transcoding(sp), Playback(sp, builder.Configuration)));
        services.AddSingleton<IWebRtcViewing>(sp => sp.GetRequiredService<WebRtcViewingService>());
        services.AddSingleton<IWebRtcPlayback>(sp => sp.GetRequiredService<WebRtcViewingService>());
        // Cloud signalling (§3.1): the MQTT link subscribes to its topics when the cloud feature runs.
        services.AddSingleton<ICloudInbound>(sp => new CloudWebRtcSignalling(sp.GetRequiredService<IViewerAuthenticator>(), sp.GetRequiredService<IWebRtcViewing>,
            sp.GetRequiredService<ICloudPublisher>, sp.GetRequiredService<ILogger<CloudWebRtcSignalling>>(), sp.GetService<IWebRtcPlayback>));
        services.AddHostedService<WebRtcHostedService>();
    }

    public static void Map(WebApplication app)
    {
        if (app.Services.GetService<IWebRtcViewing>() is null)
        {
            return;
        }
        WhepEndpoints.Map(app);
        WhepPlaybackEndpoints.Map(app);
        WebRtcDemoPage.Map(app);
    }

    /// <summary>
    /// H.265 → H.264 for viewers whose offer lacks H.265 (the FFmpeg feature's derived streams), or null when FFmpeg is
    /// missing or <c>Media:MaxTranscoders</c> is 0: such offers keep their 422 naming H265 rather than a 503.
    /// </summary>
    private static IDerivedStreams? Transcoding(IServiceProvider sp)
        => sp.GetService<TranscoderLimiter>() is { Max: > 0 } && FfmpegLibraries.Probe().IsAvailable ? sp.GetService<IDerivedStreams>() : null;

    /// <summary>The RTSP feature's playback upstream as a plain source (as the fMP4 download takes it), or null without RTSP playback.</summary>
    private static IPlaybackSourceConnector? Playback(IServiceProvider sp, IConfiguration configuration)
    {
        if (sp.GetService<PlaybackService>() is not { } playback)
        {
            return null;
        }
        var rtsp = Features.Bind<RtspOptions>(configuration, RtspOptions.Section, []);
        return new PlaybackSourceConnector(sp.GetRequiredService<IDeviceCatalog>(), playback,
            rtsp.ToUpstreamOptions("HikShareGateway/" + GatewayRunner.SoftwareVersion), sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILoggerFactory>());
    }

    /// <summary>Binds the one UDP socket (dual-stack where the host has IPv6) and gathers the host candidates for its port.</summary>
    private static WebRtcSessionContext CreateContext(WebRtcOptions options, TimeProvider time, ILoggerFactory loggers)
    {
        var bind = Socket.OSSupportsIPv6 ? new IPEndPoint(IPAddress.IPv6Any, options.UdpPort) : new IPEndPoint(IPAddress.Any, options.UdpPort);
        UdpMux mux;
        try
        {
            mux = new UdpMux(bind, time, loggers.CreateLogger<UdpMux>(), new DropCounters());
        }
        catch (SocketException e)
        {
            throw new StartupException($"WebRtc:UdpPort {options.UdpPort}: cannot listen ({e.SocketErrorCode}). Is another WebRTC server (or another gateway) using it? Pick a free port.", e);
        }
        // Host candidates now; the STUN/TURN ones join them when the hosted service has gathered them.
        var candidates = new GatheredCandidates(HostCandidates.Gather(options, mux.LocalEndPoint.Port));
        return new WebRtcSessionContext(mux, DtlsCertificate.Create(time), options, candidates, time, loggers);
    }

    /// <summary>
    /// Starts the mux's receive loop with the daemon, then gathers the <c>WebRtc:IceServers</c> candidates (server-reflexive,
    /// TURN relayed over UDP, TCP or TLS) in the background, so that an unreachable server delays no start; closes every
    /// session, then the TURN allocations and the socket, at shutdown.
    /// </summary>
    private sealed partial class WebRtcHostedService(WebRtcSessionContext context, WebRtcViewingService viewing, ILogger<WebRtcViewingService> logger) : IHostedService
    {
        private readonly CancellationTokenSource _stop = new();
        private Task _gathering = Task.CompletedTask;

        public Task StartAsync(CancellationToken cancellationToken)
        {
            context.Mux.Start();
            LogListening(logger, context.Mux.LocalEndPoint.Port, context.Candidates.Count);
            if (context.Options.IceServers.Count > 0 && context.Candidates is GatheredCandidates gathered)
            {
                var hosts = gathered.ToArray();
                _gathering = Task.Run(async () =>
                {
                    try
                    {
                        gathered.Set(await IceGatherer.GatherAsync(context.Mux, context.Options, context.Time, context.Loggers, _stop.Token, hosts));
                    }
                    catch (OperationCanceledException) { }
                });
            }
            return Task.CompletedTask;
        }

        public async Task StopAsync(CancellationToken cancellationToken)
        {
            await _stop.CancelAsync();
            await _gathering;
            await viewing.DisposeAsync();
            await context.Mux.DisposeAsync();
        }

        [LoggerMessage(EventId = 7110, Level = LogLevel.Information, Message = "WebRTC listening on UDP port {Port} ({Candidates} host candidates)")]
        private static partial void LogListening(ILogger logger, int port, int candidates);
    }
}
