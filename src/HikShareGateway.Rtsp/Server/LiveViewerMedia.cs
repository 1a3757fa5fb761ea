using System.Buffers;
using HikShareGateway.Core.Access;
using HikShareGateway.Core.Devices;
using HikShareGateway.Media;
using HikShareGateway.Rtsp.Protocol;

namespace HikShareGateway.Rtsp.Server;

/// <summary>A viewer of a live stream: a lease on the shared <see cref="LiveStream"/>.</summary>
public sealed class LiveViewerMedia : IViewerMedia
{
    private readonly LiveStreamLease _lease;
    private bool _subscribed;

    private LiveViewerMedia(LiveStreamLease lease, int trackCount, bool hasVideo, string sdp)
    {
        _lease = lease;
        Sdp = sdp;
        TrackCount = trackCount;
        HasVideo = hasVideo;
        _lease.Stream.Invalidated += OnInvalidated;
    }

    public Privilege Action => Privilege.LiveView;
    public string Sdp { get; }
    public int TrackCount { get; }
    public bool HasVideo { get; }
    public event Action<string>? Ended;

    /// <summary>Takes a lease and waits for the upstream (shared with other viewers) to play.</summary>
    public static async Task<LiveViewerMedia> OpenAsync(LiveRelay relay, string deviceId, int channel, StreamKind kind, long sessionId, TimeSpan timeout, CancellationToken ct)
    {
        var lease = relay.Acquire(deviceId, channel, kind);
        try
        {
            var description = await lease.Stream.WaitReadyAsync(timeout, ct);
            var name = $"{deviceId} channel {channel} {(kind == StreamKind.Sub ? "sub" : "main")}";
            var sdp = SdpBuilder.Build(name, sessionId, description.Tracks);
            return new LiveViewerMedia(lease, description.Tracks.Count, description.VideoTrack >= 0, sdp);
        }
        catch (TimeoutException)
        {
            lease.Dispose();
            throw new RtspRefusal(504, "the device did not start the stream in time");
        }
        catch (DeviceException e)
        {
            lease.Dispose();
            throw Map(e);
        }
        catch
        {
            lease.Dispose();
            throw;
        }
    }

    /// <summary>Device failures as RTSP statuses; the reason never names the device's address.</summary>
    public static RtspRefusal Map(DeviceException e) => e.Kind switch
    {
        DeviceErrorKind.Timeout => new RtspRefusal(504, e.Message),
        DeviceErrorKind.NotSupported => new RtspRefusal(404, e.Message),
        _ => new RtspRefusal(502, e.Message),
    };

    public Task<(RtspMessage Response, Action? AfterResponse)> PlayAsync(RtspMessage request, ViewerOutput output, CancellationToken ct)
    {
        var response = RtspMessage.Response(200);
        response.Headers.Add("Range", "npt=now-");
        Action? after = null;
        if (!_subscribed)
        {
            _subscribed = true;
            after = () => _lease.Stream.Subscribe(output);
        }
        return Task.FromResult((response, after));
    }

    public Task<RtspMessage> PauseAsync(RtspMessage request, ViewerOutput output, CancellationToken ct)
    {
        Stop(output);
        return Task.FromResult(RtspMessage.Response(200));
    }

    public void Stop(ViewerOutput output)
    {
        if (_subscribed)
        {
            _subscribed = false;
            _lease.Stream.Unsubscribe(output);
        }
    }

    public void OnViewerPacket(int track, bool rtcp, ReadOnlySequence<byte> packet)
    {
        // Receiver reports of live viewers are not forwarded: the upstream has one receiver, the gateway.
    }

    private void OnInvalidated(string reason) => Ended?.Invoke(reason);

    public ValueTask DisposeAsync()
    {
        _lease.Stream.Invalidated -= OnInvalidated;
        _lease.Dispose();
        return ValueTask.CompletedTask;
    }
}
