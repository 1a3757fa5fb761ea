using HikShareGateway.Core.Devices;
using HikShareGateway.Media;
using Microsoft.Extensions.Logging.Abstractions;
using static HikShareGateway.Tests.Media.MediaTestKit;

namespace HikShareGateway.Tests.Media;

/// <summary>
/// A source that cannot go on (<see cref="MediaSourceEndedException"/>, what a failing transcoder throws) ends its own
/// stream's viewers with the reason and is not retried; an ordinary upstream loss is retried while viewers stay.
/// </summary>
[Trait("Category", "Unit")]
public sealed class LiveStreamSourceEndedTests
{
    /// <summary>Plays until the test makes it fail with the exception it is given.</summary>
    private sealed class FailingSource(MediaDescription media) : IMediaSource
    {
        private readonly TaskCompletionSource<IMediaSink> _running = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _fail = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private Exception? _error;

        public MediaDescription Media => media;
        public Task<IMediaSink> Running => _running.Task;

        public void Fail(Exception error)
        {
            _error = error;
            _fail.TrySetResult();
        }

        public async Task RunAsync(IMediaSink sink, CancellationToken ct)
        {
            _running.TrySetResult(sink);
            await _fail.Task.WaitAsync(ct);
            throw _error!;
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    private sealed class Connector : IMediaSourceConnector
    {
        private readonly Lock _gate = new();
        private readonly List<FailingSource> _sources = [];

        public int Connects { get { lock (_gate) { return _sources.Count; } } }

        public FailingSource Source(int i) { lock (_gate) { return _sources[i]; } }

        public Task<IMediaSource> ConnectAsync(string deviceId, int channel, StreamKind kind, CancellationToken ct)
        {
            var s = new FailingSource(new MediaDescription([H264Track]));
            lock (_gate)
            {
                _sources.Add(s);
            }
            return Task.FromResult<IMediaSource>(s);
        }
    }

    [Fact]
    public async Task SourceEnded_AfterStart_InvalidatesWithTheReason_StopsTheStream_NoReconnect()
    {
        var connector = new Connector();
        await using var relay = new LiveRelay(connector, new RelayOptions { ReconnectMin = TimeSpan.FromMilliseconds(10) }, TimeProvider.System, NullLoggerFactory.Instance);
        using var lease = relay.Acquire("nvr-1", 1, StreamKind.Main);
        await lease.Stream.WaitReadyAsync(TimeSpan.FromSeconds(10), CancellationToken.None);
        await connector.Source(0).Running.WaitAsync(TimeSpan.FromSeconds(10));
        var invalidated = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        lease.Stream.Invalidated += r => invalidated.TrySetResult(r);

        connector.Source(0).Fail(new MediaSourceEndedException("the transcoder failed: decoder error"));

        Assert.Equal("the transcoder failed: decoder error", await invalidated.Task.WaitAsync(TimeSpan.FromSeconds(10)));
        await Wait.UntilAsync(() => relay.Streams.Count == 0, "the ended stream left the relay", 10_000);
        Assert.Equal(1, connector.Connects);
        // The next viewer gets a new stream (a new source), not the ended one.
        using var next = relay.Acquire("nvr-1", 1, StreamKind.Main);
        Assert.NotSame(lease.Stream, next.Stream);
        await next.Stream.WaitReadyAsync(TimeSpan.FromSeconds(10), CancellationToken.None);
        Assert.Equal(2, connector.Connects);
    }

    [Fact]
    public async Task UpstreamLoss_AfterStart_IsRetried_ViewersStay_NotInvalidated()
    {
        var connector = new Connector();
        await using var relay = new LiveRelay(connector, new RelayOptions { ReconnectMin = TimeSpan.FromMilliseconds(10), ReconnectMax = TimeSpan.FromMilliseconds(20) },
            TimeProvider.System, NullLoggerFactory.Instance);
        using var lease = relay.Acquire("nvr-1", 1, StreamKind.Main);
        await lease.Stream.WaitReadyAsync(TimeSpan.FromSeconds(10), CancellationToken.None);
        await connector.Source(0).Running.WaitAsync(TimeSpan.FromSeconds(10));
        string? reason = null;
        lease.Stream.Invalidated += r => reason = r;

        connector.Source(0).Fail(new DeviceException(DeviceErrorKind.Failed, "socket closed"));

        await Wait.UntilAsync(() => connector.Connects == 2, "reconnected", 10_000);
        await connector.Source(1).Running.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Null(reason);
        Assert.Same(lease.Stream, Assert.Single(relay.Streams));
    }
}
