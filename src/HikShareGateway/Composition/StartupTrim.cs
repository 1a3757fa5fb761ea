using HikShareGateway.Ffmpeg;

namespace HikShareGateway.Composition;

/// <summary>
/// Once the listeners are up: one compacting, decommitting collection (<see cref="GCCollectionMode.Aggressive"/>), so
/// that the garbage of building the host (configuration, DI, routes, the FFmpeg probe) does not stay committed in the GC
/// heap of an idle gateway (issue 16: idle RSS). Off the start path: on a pool thread after <c>ApplicationStarted</c>.
/// </summary>
internal sealed class StartupTrim(IHostApplicationLifetime lifetime) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        lifetime.ApplicationStarted.Register(static () => ThreadPool.UnsafeQueueUserWorkItem(static _ =>
        {
            // The probe's unloaded libraries and its strings are part of the start's garbage: wait for it first.
            FfmpegLibraries.Probe();
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        }, (object?)null, preferLocal: false));
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
