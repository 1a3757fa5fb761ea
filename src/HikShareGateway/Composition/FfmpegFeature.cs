using HikShareGateway.Core.Audio;
using HikShareGateway.Ffmpeg.Audio;
using HikShareGateway.Core.Access;
using HikShareGateway.Core.Alarms;
using HikShareGateway.Core.Configuration;
using HikShareGateway.Core.Devices;
using HikShareGateway.Core.Snapshots;
using HikShareGateway.Ffmpeg;
using HikShareGateway.Ffmpeg.Snapshots;
using HikShareGateway.Ffmpeg.Transcoding;
using HikShareGateway.Http.Snapshots;
using HikShareGateway.Media;

namespace HikShareGateway.Composition;

/// <summary>
/// Media processing on FFmpeg 5.1 (section <c>Media</c>): the libraries' availability logged once at start (one
/// warning when they are missing: snapshots and transcoding off, RTSP unaffected), snapshots (<see cref="ISnapshotService"/>
/// over the live relay) and their endpoint (contract §5.3), alarm pictures (<see cref="IAlarmSnapshots"/>, section
/// <c>Alarms</c>, contract §7) and theirs, and the derived H.264 streams (<see cref="IDerivedStreams"/>) outputs subscribe to.
/// </summary>
public static class FfmpegFeature
{
    public static void Register(WebApplicationBuilder builder, GatewayContext context, List<string> errors)
    {
        var options = Features.Bind<MediaTranscodingOptions>(builder.Configuration, MediaTranscodingOptions.Section, errors);
        var services = builder.Services;
        services.AddSingleton(options);
        // Process-wide and before anything loads them: where the libraries come from.
        FfmpegLibraries.UseDirectory(options.FfmpegLibraryDirectory);
        // Whether FFmpeg works is found beside the rest of the start (another core), loaded and unloaded again: the
        // libraries stay out of memory until the first snapshot or transcoder (issue 16: idle RSS, start time).
        FfmpegLibraries.ProbeInBackground();
        services.AddSingleton(sp => new TranscoderLimiter(options));
        // The devices' own JPEGs (IDevicePictures, from the device layer) where cheaper than a decode: Media:SnapshotSource.
        services.AddSingleton<ISnapshotService>(sp => new SnapshotService(sp.GetRequiredService<LiveRelay>(),
            options.ToSnapshotOptions(sp.GetRequiredService<IReadOnlyList<DeviceOptions>>()),
            sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<SnapshotService>>(),
            devicePictures: sp.GetService<IDevicePictures>(), catalog: sp.GetService<IDeviceCatalog>()));
        // Derived streams (H.265 → H.264) for the WebRTC and fMP4 outputs: one transcoder per stream, Media:MaxTranscoders.
        services.AddSingleton<IDerivedStreams>(sp => new TranscodedStreams(sp.GetRequiredService<LiveRelay>(), sp.GetRequiredService<TranscoderLimiter>(),
            options.ToVideoOptions(), TimeSpan.FromSeconds(options.SnapshotTimeoutSeconds), sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILoggerFactory>()));
        // Opus from browsers' microphones → G.711 for devices' speakers (WebRTC two-way audio).
        services.AddSingleton<ITalkTranscoders, TalkTranscoders>();
        var alarms = Features.Bind<AlarmSnapshotOptions>(builder.Configuration, AlarmSnapshotOptions.Section, errors);
        services.AddSingleton<IAlarmSnapshots>(sp => new AlarmPictureStore(sp.GetRequiredService<ISnapshotService>(), sp.GetRequiredService<IAccessPolicy>(),
            alarms, sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<AlarmPictureStore>>()));
        services.AddHostedService(sp => new AvailabilityLogger(sp.GetRequiredService<ILoggerFactory>(), sp.GetRequiredService<IHostApplicationLifetime>()));
    }

    public static void Map(WebApplication app)
    {
        SnapshotEndpoint.Map(app);
        AlarmSnapshotEndpoint.Map(app);
    }

    /// <summary>
    /// Logs the one line saying what works at start (not at the first snapshot), once the listeners are up: the probe
    /// (<see cref="FfmpegLibraries.Probe"/>) is not start work.
    /// </summary>
    private sealed class AvailabilityLogger(ILoggerFactory loggers, IHostApplicationLifetime lifetime) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            lifetime.ApplicationStarted.Register(() => ThreadPool.UnsafeQueueUserWorkItem(
                static l => l.CreateLogger("HikShareGateway.Ffmpeg").LogAvailability(FfmpegLibraries.Probe()), loggers, preferLocal: false));
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
