using HikShareGateway.Core.Devices;
using HikShareGateway.Media;
using Microsoft.Extensions.Logging.Abstractions;

namespace HikShareGateway.WebRtc.Viewing;

/// <summary>
/// The WebRTC viewers' streams: for each live stream (or derived stream) that WebRTC viewers watch, one
/// <see cref="LiveStream"/> of packets already cut to the WebRTC payload size (<see cref="PacketizingSource"/>), shared
/// by all of them. A stream of the media core like any other: its GOP cache starts a joining viewer at a keyframe, its
/// subscribers follow the same queue policy; it holds a lease on its source while it has viewers and lets it go when
/// the last leaves (no linger of its own: the source's linger applies).
/// </summary>
public sealed class PacketizedStreams : IAsyncDisposable
{
    private static readonly RelayOptions Options = new() { UpstreamLinger = TimeSpan.Zero };

    private readonly LiveRelay _live;
    private readonly IDerivedStreams? _derived;
    private readonly int _maxPayload;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private readonly Dictionary<DerivedFormat, LiveRelay> _derivedRelays = [];
    private LiveRelay? _packetizedLive;

    /// <param name="maxPayload">The RTP payload limit of every WebRTC viewer (<c>WebRtc:RtpMtu</c> less the 12-byte header).</param>
    public PacketizedStreams(LiveRelay live, IDerivedStreams? derived, int maxPayload, TimeProvider time)
    {
        _live = live;
        _derived = derived;
        _maxPayload = maxPayload;
        _time = time;
    }

    /// <summary>A lease on the packetized form of the relay's live stream (which starts it if none runs).</summary>
    public LiveStreamLease AcquireLive(string deviceId, int channel, StreamKind kind)
    {
        LiveRelay relay;
        lock (_gate)
        {
            relay = _packetizedLive ??= NewRelay((d, c, k) => _live.Acquire(d, c, k));
        }
        return relay.Acquire(deviceId, channel, kind);
    }

    /// <summary>
    /// A lease on the packetized form of a derived stream. Ask <see cref="IDerivedStreams.TryAcquire"/> first for a
    /// refusal with its reason, and hold that lease until this one is ready: a refusal here fails the stream's start
    /// with a <see cref="DeviceException"/>.
    /// </summary>
    public LiveStreamLease AcquireDerived(string deviceId, int channel, StreamKind kind, DerivedFormat format)
    {
        if (_derived is not { } derived)
        {
            throw new InvalidOperationException("no derived streams");
        }
        LiveRelay relay;
        lock (_gate)
        {
            if (!_derivedRelays.TryGetValue(format, out relay!))
            {
                relay = NewRelay((d, c, k) => derived.TryAcquire(d, c, k, format, out var lease, out var reason) && lease is not null
                    ? lease
                    : throw new DeviceException(DeviceErrorKind.Failed, reason ?? "no derived stream"));
                _derivedRelays[format] = relay;
            }
        }
        return relay.Acquire(deviceId, channel, kind);
    }

    private LiveRelay NewRelay(Func<string, int, StreamKind, LiveStreamLease> acquire)
        // No metrics of its own: these are not upstream sessions. No log of its own: the source stream logs its failures.
        => new(new Connector(acquire, _maxPayload), Options, _time, NullLoggerFactory.Instance);

    public async ValueTask DisposeAsync()
    {
        LiveRelay[] relays;
        lock (_gate)
        {
            relays = [.. _derivedRelays.Values, .. _packetizedLive is null ? Array.Empty<LiveRelay>() : [_packetizedLive]];
        }
        foreach (var r in relays)
        {
            await r.DisposeAsync().ConfigureAwait(false);
        }
    }

    private sealed class Connector(Func<string, int, StreamKind, LiveStreamLease> acquire, int maxPayload) : IMediaSourceConnector
    {
        public async Task<IMediaSource> ConnectAsync(string deviceId, int channel, StreamKind kind, CancellationToken ct)
        {
            var lease = acquire(deviceId, channel, kind);
            try
            {
                // The source's own failure (a DeviceException of its kind) becomes this stream's, so viewers get the same status.
                var media = await lease.Stream.Ready.WaitAsync(ct).ConfigureAwait(false);
                return new PacketizingSource(lease, media, maxPayload);
            }
            catch
            {
                lease.Dispose();
                throw;
            }
        }
    }
}
