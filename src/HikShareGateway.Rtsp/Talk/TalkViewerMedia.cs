using System.Buffers;
using HikShareGateway.Core.Access;
using HikShareGateway.Media;
using HikShareGateway.Rtsp.Protocol;
using HikShareGateway.Rtsp.Server;
using HikShareGateway.Rtsp.Upstream;

namespace HikShareGateway.Rtsp.Talk;

/// <summary>
/// A talker (ONVIF backchannel, contract §5): the live tracks of the shared relay, when the account may also watch,
/// followed by one <c>a=sendonly</c> audio track whose RTP goes to the device's speaker.
/// <para>
/// Why the live tracks too: ONVIF clients (and GStreamer's <c>rtspsrc</c> backchannel) DESCRIBE once with
/// <c>Require: www.onvif.org/ver20/backchannel</c> and expect the normal media plus the backchannel in that one
/// session. They come from the shared relay (no extra upstream), and only with <c>liveView</c>: a grant change that
/// removes <c>liveView</c> stops the pictures and sound but not the talk; one that removes <c>twoWayAudio</c> cuts the
/// whole session (the connection registers it with action <c>twoWayAudio</c>). A client may SETUP only the sendonly
/// track (talk only).
/// </para>
/// </summary>
public sealed class TalkViewerMedia : IViewerMedia
{
    private readonly Lock _gate = new();
    private readonly LiveStreamLease? _lease;
    private readonly ITalkTarget _target;
    private readonly IDisposable _floor;
    private readonly IAccessPolicy _policy;
    private readonly string _account;
    private readonly string _deviceId;
    private readonly int _channel;
    private ViewerOutput? _subscribed;
    private bool _liveAllowed;
    private int _disposed;

    internal TalkViewerMedia(LiveStreamLease? lease, MediaDescription? live, ITalkTarget target, IDisposable floor, IAccessPolicy policy,
        ViewerContext viewer, string deviceId, int channel, string sdp)
    {
        _lease = lease;
        _target = target;
        _floor = floor;
        _policy = policy;
        _account = viewer.Account;
        _deviceId = deviceId;
        _channel = channel;
        _liveAllowed = lease is not null;
        Sdp = sdp;
        BackchannelTrack = live?.Tracks.Count ?? 0;
        TrackCount = BackchannelTrack + 1;
        HasVideo = live is { VideoTrack: >= 0 };
        if (_lease is not null)
        {
            _lease.Stream.Invalidated += OnInvalidated;
            _policy.Changed += OnGrantsChanged;
        }
        _ = _target.Completion.ContinueWith(
            static (_, s) => ((TalkViewerMedia)s!).OnTargetEnded(), this, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    public Privilege Action => Privilege.TwoWayAudio;
    public string Sdp { get; }
    public int TrackCount { get; }
    public bool HasVideo { get; }
    /// <summary>The index of the sendonly track (after the live tracks).</summary>
    public int BackchannelTrack { get; }
    public string TargetKind => _target.Kind;
    public event Action<string>? Ended;

    /// <summary>The viewer's SDP: the live tracks (recvonly) and the backchannel (sendonly), rebuilt by <see cref="SdpBuilder"/>.</summary>
    internal static string BuildSdp(string name, long sessionId, IReadOnlyList<MediaTrack> liveTracks, SdpMedia backchannel)
    {
        var tracks = new List<MediaTrack>(liveTracks) { backchannel.ToMediaTrack() };
        var backTrack = liveTracks.Count;
        return SdpBuilder.Build(name, sessionId, tracks, i => i == backTrack ? "sendonly" : "recvonly");
    }

    public Task<(RtspMessage Response, Action? AfterResponse)> PlayAsync(RtspMessage request, ViewerOutput output, CancellationToken ct)
    {
        var response = RtspMessage.Response(200);
        response.Headers.Add("Range", "npt=now-");
        Action? after = null;
        lock (_gate)
        {
            if (_lease is not null && _liveAllowed && _subscribed is null)
            {
                _subscribed = output;
                after = () => _lease.Stream.Subscribe(output);
            }
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
        lock (_gate)
        {
            if (_subscribed is null)
            {
                return;
            }
            _subscribed = null;
        }
        _lease!.Stream.Unsubscribe(output);
    }

    public void OnViewerPacket(int track, bool rtcp, ReadOnlySequence<byte> packet)
    {
        // Receiver reports on the live tracks stay here (the relay is the upstream's only receiver).
        if (track == BackchannelTrack)
        {
            _target.OnPacket(rtcp, packet);
        }
    }

    private void OnGrantsChanged()
    {
        if (Volatile.Read(ref _disposed) != 0 || _policy.IsAllowed(_account, _deviceId, _channel, Privilege.LiveView))
        {
            return;
        }
        ViewerOutput? output;
        lock (_gate)
        {
            _liveAllowed = false;
            output = _subscribed;
            _subscribed = null;
        }
        if (output is not null)
        {
            _lease!.Stream.Unsubscribe(output);
        }
    }

    private void OnInvalidated(string reason) => Ended?.Invoke(reason);

    private void OnTargetEnded()
    {
        if (Volatile.Read(ref _disposed) == 0)
        {
            Ended?.Invoke("the device ended two-way audio");
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        if (_lease is not null)
        {
            _policy.Changed -= OnGrantsChanged;
            _lease.Stream.Invalidated -= OnInvalidated;
            _lease.Dispose();
        }
        try
        {
            await _target.DisposeAsync();
        }
        finally
        {
            _floor.Dispose();
        }
    }
}
