using HikShareGateway.Core.Access;
using HikShareGateway.Core.WebRtc;
using HikShareGateway.Media;

namespace HikShareGateway.WebRtc.Viewing;

/// <summary>
/// One running WebRTC viewer: its <see cref="WebRtcSession"/>, its <see cref="WebRtcOutput"/> on the shared stream, the
/// lease on that stream and the registry entry. Every way it can end (DELETE, revocation, DTLS failure, consent expiry,
/// the stream changing its tracks, a viewer too slow, shutdown) goes through <see cref="Close"/>, once.
/// </summary>
internal sealed class ViewerSessionHandle : IWebRtcMediaSender
{
    private readonly WebRtcViewingService _service;
    private readonly LiveStreamLease? _lease; // null for a talk-only session (no liveView)
    private readonly WebRtcTalk? _talk;
    private IDisposable? _talkRegistration;
    private readonly WebRtcOutput _output;
    private readonly long _startedAt;
    private readonly KeyValuePair<string, object?>[] _tags;
    private IDisposable? _registration;
    private long _lastKeyframeReplay;
    private int _subscribed, _closed;

    public ViewerSessionHandle(WebRtcViewingService service, string sessionId, WebRtcLiveOffer offer, WebRtcSession session, LiveStreamLease? lease,
        int videoTrack, int audioTrack, int audioClockRate, SubscriberQueueLimits limits, WebRtcTalk? talk = null)
    {
        _talk = talk;
        _service = service;
        SessionId = sessionId;
        Offer = offer;
        Session = session;
        _lease = lease;
        _startedAt = service.Time.GetTimestamp();
        _output = new WebRtcOutput(this, videoTrack, audioTrack, audioClockRate, limits, service.Time, reason =>
        {
            service.GatewayMetrics.SlowViewerDisconnects.Add(1);
            Close("slow viewer: " + reason, revoked: false);
        });
        _tags = [new("action", Privilege.LiveView.ToContractName()), new("transport", "webrtc")];
    }

    public string SessionId { get; }
    public WebRtcLiveOffer Offer { get; }
    public string Account => Offer.Account;
    public WebRtcSession Session { get; }
    public WebRtcTalk? Talk => _talk;

    public void Start(ISessionRegistry registry)
    {
        if (_talk is not null)
        {
            // Two-way audio: losing twoWayAudio cuts the whole session (as an RTSP talker's), within the registry's 100 ms.
            _talkRegistration = registry.Register(new ViewerSession
            {
                SessionId = SessionId,
                Account = Offer.Account,
                DeviceId = Offer.DeviceId,
                Channel = Offer.Channel,
                Action = Privilege.TwoWayAudio,
                Remote = Offer.Remote,
                Revoke = Revoke,
            });
            Session.SetTalkReceiver(_talk);
            _ = _talk.Channel.Completion.ContinueWith(static (_, h) => ((ViewerSessionHandle)h!).Close("the device ended two-way audio", revoked: false),
                this, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
        StartLive(registry);
    }

    private void StartLive(ISessionRegistry registry)
    {
        if (_lease is null)
        {
            Session.Closed += reason => Close(reason, revoked: false);
            _service.Metrics.Sessions.Add(1, new KeyValuePair<string, object?>("signalling", WebRtcViewingService.SignallingName(Offer.Signalling)));
            _service.GatewayMetrics.ViewerSessions.Add(1, _tags);
            _ = WaitConnectedAsync();
            return;
        }
        _registration = registry.Register(new ViewerSession
        {
            SessionId = SessionId,
            Account = Offer.Account,
            DeviceId = Offer.DeviceId,
            Channel = Offer.Channel,
            Action = Privilege.LiveView,
            Remote = Offer.Remote,
            // The registry audits the revocation; the close must not block it: it runs on the pool.
            Revoke = Revoke,
        });
        _service.Metrics.Sessions.Add(1, new KeyValuePair<string, object?>("signalling", WebRtcViewingService.SignallingName(Offer.Signalling)));
        _service.GatewayMetrics.ViewerSessions.Add(1, _tags);
        Session.Closed += reason => Close(reason, revoked: false);
        Session.KeyframeRequested += OnKeyframeRequested;
        _lease.Stream.Invalidated += OnInvalidated;
        _ = SubscribeWhenConnectedAsync();
    }

    /// <summary>
    /// A grant withdrawn, on the registry's thread while it re-evaluates every session: the media stops here and now
    /// (the output drops its queue and takes nothing more: a lock held for microseconds, no I/O), so the revoked
    /// viewers' packets stop costing sends at once and leave the pool free for the closes; the close itself (DTLS
    /// close_notify, unsubscribe, logs) is queued to the pool, where the closes of one delta run side by side.
    /// </summary>
    private void Revoke(string reason)
    {
        _output.Complete();
        ThreadPool.UnsafeQueueUserWorkItem(static s => s.h.Close("revoked: " + s.reason, revoked: true), (h: this, reason), preferLocal: false);
    }

    /// <summary>A talk-only session: nothing to subscribe; a failed handshake ends it.</summary>
    private async Task WaitConnectedAsync()
    {
        var result = await Session.Connected.ConfigureAwait(false);
        if (!result.Succeeded)
        {
            Close("dtls " + result.Failure, revoked: false);
        }
    }

    private async Task SubscribeWhenConnectedAsync()
    {
        var result = await Session.Connected.ConfigureAwait(false);
        if (!result.Succeeded)
        {
            if (Volatile.Read(ref _closed) == 0)
            {
                _service.Metrics.DtlsFailures.Add(1, new KeyValuePair<string, object?>("reason", result.Failure.ToString()));
                WebRtcViewingService.LogDtlsFailed(_service.Logger, SessionId, result.Failure.ToString());
            }
            Close("dtls " + result.Failure, revoked: false);
            return;
        }
        if (Volatile.Read(ref _closed) == 0 && Interlocked.Exchange(ref _subscribed, 1) == 0)
        {
            // :: Step 5: the stream replays its cached GOP into the output, then live packets follow.
            _lease!.Stream.Subscribe(_output);
            if (Volatile.Read(ref _closed) != 0)
            {
                _lease!.Stream.Unsubscribe(_output);
            }
        }
    }

    /// <summary>PLI/FIR: replay the cached GOP (at most once a second: a lossy path asks often).</summary>
    private void OnKeyframeRequested()
    {
        var now = _service.Time.GetTimestamp();
        var last = Interlocked.Read(ref _lastKeyframeReplay);
        if (Volatile.Read(ref _subscribed) == 0 || (last != 0 && _service.Time.GetElapsedTime(last, now) < TimeSpan.FromSeconds(1))
            || Interlocked.CompareExchange(ref _lastKeyframeReplay, now, last) != last)
        {
            return;
        }
        ThreadPool.UnsafeQueueUserWorkItem(static h =>
        {
            if (Volatile.Read(ref h._closed) != 0 || h._lease is null) return;
            h._lease.Stream.Unsubscribe(h._output);
            h._lease.Stream.Subscribe(h._output);
        }, this, preferLocal: false);
    }

    private void OnInvalidated(string reason) => Close(reason, revoked: false);

    void IWebRtcMediaSender.SendVideoRtpPayload(ReadOnlySpan<byte> payload, uint timestamp, bool marker) => Session.SendVideoRtpPayload(payload, timestamp, marker);

    void IWebRtcMediaSender.SendAudio(ReadOnlySpan<byte> payload, uint timestamp, bool marker) => Session.SendAudio(payload, timestamp, marker);

    /// <summary>Closes the device's speaker, then frees the floor; logged once both are done.</summary>
    private async Task CloseTalkAsync(WebRtcTalk talk)
    {
        try
        {
            await talk.DisposeAsync().ConfigureAwait(false);
        }
        finally
        {
            _service.TalkClosed(this, talk);
        }
    }

    public void Close(string reason, bool revoked)
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
        {
            return;
        }
        _registration?.Dispose();
        _talkRegistration?.Dispose();
        if (_lease is not null)
        {
            _lease.Stream.Invalidated -= OnInvalidated;
            _lease.Stream.Unsubscribe(_output);
        }
        _output.Complete();
        _ = Session.DisposeAsync();
        _lease?.Dispose();
        if (_talk is not null)
        {
            _ = CloseTalkAsync(_talk);
        }
        _service.Metrics.Sessions.Add(-1, new KeyValuePair<string, object?>("signalling", WebRtcViewingService.SignallingName(Offer.Signalling)));
        _service.GatewayMetrics.ViewerSessions.Add(-1, _tags);
        _service.GatewayMetrics.SessionDuration.Record(_service.Time.GetElapsedTime(_startedAt).TotalSeconds, _tags[0]);
        _service.Ended(this, reason, revoked);
        _service.NotifyEnded(Offer.Ended, SessionId, reason);
    }
}
