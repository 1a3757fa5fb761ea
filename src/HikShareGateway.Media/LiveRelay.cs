using HikShareGateway.Core.Devices;
using HikShareGateway.Core.Diagnostics;
using Microsoft.Extensions.Logging;

namespace HikShareGateway.Media;

/// <summary>Relay tunables (from the host's <c>Rtsp</c> section).</summary>
public sealed record RelayOptions
{
    public TimeSpan UpstreamLinger { get; init; } = TimeSpan.FromSeconds(5);
    public TimeSpan ReconnectMin { get; init; } = TimeSpan.FromSeconds(1);
    public TimeSpan ReconnectMax { get; init; } = TimeSpan.FromSeconds(30);
    public long GopCacheBytes { get; init; } = 4 * 1024 * 1024;
}

/// <summary>An output's hold on a live stream (one per viewer); disposing it lets the upstream close after the linger time.</summary>
public sealed class LiveStreamLease : IDisposable
{
    private int _disposed;

    internal LiveStreamLease(LiveStream stream) => Stream = stream;

    public LiveStream Stream { get; }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            Stream.RemoveUser();
        }
    }
}

/// <summary>The live streams running now, one per (device, channel, main/sub).</summary>
public sealed class LiveRelay : IAsyncDisposable
{
    private readonly IMediaSourceConnector _connector;
    private readonly RelayOptions _options;
    private readonly TimeProvider _time;
    private readonly ILoggerFactory _loggers;
    private readonly GatewayMetrics _metrics;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, LiveStream> _streams = new(StringComparer.Ordinal);
    private bool _disposed;

    public LiveRelay(IMediaSourceConnector connector, RelayOptions options, TimeProvider time, ILoggerFactory loggers, GatewayMetrics? metrics = null)
    {
        _metrics = metrics ?? GatewayMetrics.Unexported;
        _connector = connector;
        _options = options;
        _time = time;
        _loggers = loggers;
    }

    public IReadOnlyList<LiveStream> Streams { get { lock (_gate) { return [.. _streams.Values]; } } }

    /// <summary>Takes a lease on the stream, starting its upstream if none runs. Await <see cref="LiveStream.Ready"/> for its description.</summary>
    public LiveStreamLease Acquire(string deviceId, int channel, StreamKind kind)
    {
        var key = $"{deviceId}/{channel}/{(kind == StreamKind.Sub ? "sub" : "main")}";
        while (true)
        {
            LiveStream stream;
            lock (_gate)
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                if (!_streams.TryGetValue(key, out stream!))
                {
                    stream = new LiveStream(this, key, deviceId, channel, kind, _connector, _options, _time, _loggers.CreateLogger<LiveStream>(), _metrics);
                    _streams[key] = stream;
                    stream.TryAddUser();
                    stream.Start();
                    return new LiveStreamLease(stream);
                }
            }
            if (stream.TryAddUser())
            {
                return new LiveStreamLease(stream);
            }
            // It is stopping: it removes itself; take a fresh one.
            Remove(stream);
        }
    }

    internal void Remove(LiveStream stream)
    {
        lock (_gate)
        {
            if (_streams.TryGetValue(stream.Key, out var s) && ReferenceEquals(s, stream))
            {
                _streams.Remove(stream.Key);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        LiveStream[] streams;
        lock (_gate)
        {
            _disposed = true;
            streams = [.. _streams.Values];
        }
        await Task.WhenAll(streams.Select(s => s.StopAsync()));
    }
}
