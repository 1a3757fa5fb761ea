using HikShareGateway.Media;

namespace HikShareGateway.WebRtc.Tests;

/// <summary>A media source that describes <paramref name="media"/> and sends nothing until it is cancelled (the tests' idle camera).</summary>
internal sealed class SilentMediaSource(MediaDescription media) : IMediaSource
{
    public MediaDescription Media { get; } = media;

    public async Task RunAsync(IMediaSink sink, CancellationToken ct)
    {
        var ended = new TaskCompletionSource();
        await using var _ = ct.Register(() => ended.TrySetCanceled(ct));
        await ended.Task;
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
