using HikShareGateway.Core.Access;
using HikShareGateway.Core.Devices;
using HikShareGateway.Core.Streaming;
using HikShareGateway.Http;
using HikShareGateway.Media;
using HikShareGateway.Mp4.Streaming;
using HikShareGateway.Rtsp;
using HikShareGateway.Rtsp.Playback;

namespace HikShareGateway.Composition;

/// <summary>
/// Fragmented MP4 over HTTP (contract §5.2): <see cref="Mp4StreamService"/> (an output of the live relay) behind
/// <see cref="IMp4Streams"/>, and its endpoints on the HTTP port. The viewer queue and start timeout are the RTSP
/// viewers' (section <c>Rtsp</c>), so a slow reader is treated alike on both.
/// </summary>
public static class Mp4Feature
{
    public static void Register(WebApplicationBuilder builder, GatewayContext context, List<string> errors)
    {
        var rtsp = Features.Bind<RtspOptions>(builder.Configuration, RtspOptions.Section, []);
        var options = new Mp4StreamOptions(rtsp.ToQueueLimits().Queue, TimeSpan.FromSeconds(rtsp.UpstreamTimeoutSeconds));
        // Behind the per-account cap shared with RTSP (Limits:SessionsPerAccount).
        builder.Services.AddSingleton<IMp4Streams>(sp => new AccountCappedMp4Streams(new Mp4StreamService(
            sp.GetRequiredService<LiveRelay>(),
            sp.GetRequiredService<IDeviceCatalog>(),
            sp.GetRequiredService<IAccessPolicy>(),
            sp.GetRequiredService<ISessionRegistry>(),
            sp.GetRequiredService<IAuditSink>(),
            options,
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<Mp4StreamService>>(),
            // Playback: the RTSP feature's playback upstream, as a plain source.
            new PlaybackSourceConnector(sp.GetRequiredService<IDeviceCatalog>(), sp.GetRequiredService<PlaybackService>(),
                rtsp.ToUpstreamOptions("HikShareGateway/" + GatewayRunner.SoftwareVersion), sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILoggerFactory>()),
            // ?codec=h264 on an H.265 stream: the FFmpeg feature's shared transcoders (absent: 503).
            sp.GetService<IDerivedStreams>()),
            sp.GetRequiredService<AccountSessionLimiter>()));
    }

    public static void Map(WebApplication app) => Mp4Endpoints.Map(app);
}
