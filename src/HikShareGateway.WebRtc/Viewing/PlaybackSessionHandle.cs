using HikShareGateway.Core.Access;
using HikShareGateway.Core.Devices;
using HikShareGateway.Core.WebRtc;
using HikShareGateway.Media;

namespace HikShareGateway.WebRtc.Viewing;

/// <summary>
/// One WebRTC playback viewer: its <see cref="WebRtcSession"/>, a <see cref="WebRtcOutput"/> fed by its own upstream
/// playback session (<see cref="IPlaybackSourceConnector"/>, the RTSP playback upstream; nothing shared), the registry
/// entry (<c>playback</c>) and the position in the recording. Every way it can end (DELETE, revocation, DTLS failure,
/// ICE consent expiry, a viewer too slow, shutdown) goes through <see cref="Close"/>, once, which ends with the offer's
/// <c>Ended</c>; the end of the recording is not one (the session stays for a seek).
/// <para>
/// :: Step 1: the source is connected by the POST (its errors are the POST's status); it is read once DTLS-SRTP is up,
///    so the viewer sees the span from its first keyframe.
/// :: Step 2: seek = a new upstream session at the new start (the old one closed first); pause = the upstream closed,
///    the position kept; resume = a new upstream session at that position. After each, the output waits for a keyframe
///    and moves timestamps after the last frame sent (<see cref="WebRtcOutput.WaitForKeyframe"/>), so the browser's
///    timeline never goes back.
/// :: Step 3: the position is the source's start plus the video RTP time played (read on the source's loop, no allocation),
///    in recording time (<see cref="PlaybackPace.RecordingPerTimestamp"/>).
/// :: Step 4: scale = a new upstream session at the position with <c>Scale</c> on its PLAY; the browser's timestamps are
///    divided by the rate the recorder's run at (<see cref="PlaybackTimestamps"/>), so they advance at the wall clock's
///    rate and the browser plays frames as they come. G.711 audio is passed at scale 1 only.
/// :: Step 5: PLI/FIR: no GOP cache for a recording, so the session re-seeks to its position (at most once every
///    <see cref="KeyframeRefreshInterval"/>, not while paused or while a control runs): the recorder starts the new
///    session at a keyframe.
/// </para>
/// </summary>
internal sealed class PlaybackSessionHandle : IWebRtcMediaSender, IMediaSink
{
    /// <summary>A re-seek costs the recorder a session: a lossy path asking for keyframes often gets one this often.</summary>
    internal static readonly TimeSpan KeyframeRefreshInterval = TimeSpan.FromSeconds(2);

    private readonly WebRtcViewingService _service;
    private readonly IPlaybackSourceConnector _connector;
    private readonly WebRtcOutput _output;
    private readonly SemaphoreSlim _control = new(1, 1);
    private readonly KeyValuePair<string, object?>[] _tags;
    private readonly long _startedAt;
    private IDisposable? _registration;
    private IMediaSource? _source;
    private KeyframeTracker _keyframes;
    private CancellationTokenSource? _stop;
    private Task? _run;
    private int _closed, _connected;
    private int _videoTrack;
    private int _clockRate = 90000;
    private readonly int _audioClockRate;
    private double _scale;
    private long _lastKeyframeRefresh;

    // The browser's timeline: the pace of the current source, handed to the output's drainer by a version number.
    private PlaybackTimestamps _timestamps = new();
    private double _timestampRate = 1;
    private int _paceVersion, _appliedPaceVersion;
    private double _recordingPerTimestamp = 1;
    private volatile bool _audioOn = true;

    // Position: written on the source's read loop, read by controls (under _control, after the loop stopped, or racy-ok).
    private DateTimeOffset _sourceStart;
    private long _firstTimestamp = -1;
    private uint _lastTimestamp;
    private bool _paused;

    public PlaybackSessionHandle(WebRtcViewingService service, string sessionId, WebRtcPlaybackOffer offer, WebRtcSession session,
        IPlaybackSourceConnector connector, IMediaSource source, SubscriberQueueLimits limits, int audioTrack, int audioClockRate)
    {
        _service = service;
        SessionId = sessionId;
        Offer = offer;
        Session = session;
        _connector = connector;
        _startedAt = service.Time.GetTimestamp();
        _videoTrack = source.Media.VideoTrack;
        _scale = offer.Scale;
        _audioClockRate = audioClockRate > 0 ? audioClockRate : 8000;
        _output = new WebRtcOutput(this, _videoTrack, audioTrack, _audioClockRate, limits, service.Time, reason =>
        {
            service.GatewayMetrics.SlowViewerDisconnects.Add(1);
            Close("slow viewer: " + reason, revoked: false);
        });
        _tags = [new("action", Privilege.Playback.ToContractName()), new("transport", "webrtc")];
        _keyframes = new KeyframeTracker(source.Media.VideoCodec);
        Use(source, offer.Start);
    }

    public string SessionId { get; }
    public WebRtcPlaybackOffer Offer { get; }
    public string Account => Offer.Account;
    public WebRtcSession Session { get; }

    /// <summary>Where the viewer is in the recording: the current source's start plus the video played since.</summary>
    public DateTimeOffset Position
    {
        get
        {
            var first = Interlocked.Read(ref _firstTimestamp);
            if (first < 0) return _sourceStart;
            var played = unchecked(Volatile.Read(ref _lastTimestamp) - (uint)first);
            return _sourceStart + TimeSpan.FromSeconds(played / (double)_clockRate * Volatile.Read(ref _recordingPerTimestamp));
        }
    }

    public void Start(ISessionRegistry registry)
    {
        _registration = registry.Register(new ViewerSession
        {
            SessionId = SessionId,
            Account = Offer.Account,
            DeviceId = Offer.DeviceId,
            Channel = Offer.Channel,
            Action = Privilege.Playback,
            Remote = Offer.Remote,
            Revoke = reason => ThreadPool.UnsafeQueueUserWorkItem(static s => s.h.Close("revoked: " + s.reason, revoked: true), (h: this, reason), preferLocal: false),
        });
        _service.Metrics.Sessions.Add(1, new KeyValuePair<string, object?>("signalling", "whep"));
        _service.GatewayMetrics.ViewerSessions.Add(1, _tags);
        Session.Closed += reason => Close(reason, revoked: false);
        Session.KeyframeRequested += OnKeyframeRequested;
        _ = RunWhenConnectedAsync();
    }

    private async Task RunWhenConnectedAsync()
    {
        var result = await Session.Connected.ConfigureAwait(false);
        if (!result.Succeeded)
        {
            Close("dtls " + result.Failure, revoked: false);
            return;
        }
        await _control.WaitAsync().ConfigureAwait(false);
        try
        {
            Volatile.Write(ref _connected, 1);
            if (Volatile.Read(ref _closed) == 0 && !_paused) StartReading();
        }
        finally
        {
            _control.Release();
        }
    }

    /// <summary>Seek, speed, or pause/resume, one at a time.</summary>
    public async Task<WebRtcPlaybackControlResult> ControlAsync(WebRtcPlaybackControl control, TimeSpan timeout, CancellationToken ct)
    {
        await _control.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (Volatile.Read(ref _closed) != 0) return new(404, "the session ended");
            if (control.Scale is { } scale)
            {
                if (_paused)
                {
                    _scale = scale; // taken by the resume
                    return new(204, "paused", _sourceStart, true);
                }
                if (scale == _scale) return new(204, "playing", Position, false);
                var previous = _scale;
                _scale = scale;
                var result = await PlayFromAsync(Position, timeout, ct).ConfigureAwait(false);
                if (result.Status != 204) _scale = previous; // paused where it was; a resume plays at the old speed
                return result;
            }
            if (control.Pause is true)
            {
                if (!_paused)
                {
                    var at = Position;
                    await StopSourceAsync().ConfigureAwait(false);
                    _sourceStart = at;
                    _paused = true;
                }
                return new(204, "paused", _sourceStart, true);
            }
            DateTimeOffset target;
            if (control.Start is { } start) target = start;
            else if (control.Pause is false) { if (!_paused) return new(204, "playing", Position, false); target = _sourceStart; }
            else return new(400, "give start, scale or pause");
            if (Offer.End is { } end && target >= end) return new(400, "start is after the end of the span");
            if (_paused && control.Start is not null)
            {
                // A seek while paused moves the position; playing resumes with pause:false.
                _sourceStart = target;
                Interlocked.Exchange(ref _firstTimestamp, -1);
                return new(204, "paused", target, true);
            }
            return await PlayFromAsync(target, timeout, ct).ConfigureAwait(false);
        }
        finally
        {
            _control.Release();
        }
    }

    /// <summary>A new upstream session at <paramref name="target"/> and the current scale, the old one closed first. Under <see cref="_control"/>.</summary>
    private async Task<WebRtcPlaybackControlResult> PlayFromAsync(DateTimeOffset target, TimeSpan timeout, CancellationToken ct)
    {
        await StopSourceAsync().ConfigureAwait(false);
        IMediaSource next;
        try
        {
            next = await _connector.ConnectAsync(Offer.DeviceId, Offer.Channel, target, Offer.End, _scale, ct).WaitAsync(timeout, _service.Time, ct).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            return Stopped(target, 504, "the recorder did not start the playback in time");
        }
        catch (DeviceException)
        {
            return Stopped(target, 502, "the recorder could not play from there");
        }
        if (next.Media.VideoTrack < 0)
        {
            await next.DisposeAsync().ConfigureAwait(false);
            return Stopped(target, 502, "the recording has no video there");
        }
        Use(next, target);
        _paused = false;
        if (Volatile.Read(ref _connected) == 1) StartReading();
        return new(204, "playing", target, false);
    }

    private WebRtcPlaybackControlResult Stopped(DateTimeOffset target, int status, string detail)
    {
        _sourceStart = target;
        Interlocked.Exchange(ref _firstTimestamp, -1);
        _paused = true;
        return new(status, detail, target, true);
    }

    /// <summary>Step 5: PLI/FIR (on the session's receive path): a re-seek to the position, on the pool.</summary>
    private void OnKeyframeRequested()
    {
        var now = _service.Time.GetTimestamp();
        var last = Interlocked.Read(ref _lastKeyframeRefresh);
        if ((last != 0 && _service.Time.GetElapsedTime(last, now) < KeyframeRefreshInterval)
            || Interlocked.CompareExchange(ref _lastKeyframeRefresh, now, last) != last)
        {
            return;
        }
        ThreadPool.UnsafeQueueUserWorkItem(static h => _ = h.RefreshKeyframeAsync(), this, preferLocal: false);
    }

    private async Task RefreshKeyframeAsync()
    {
        if (!_control.Wait(0)) return; // a control runs: it starts at a keyframe anyway
        try
        {
            if (Volatile.Read(ref _closed) != 0 || _paused || _source is null || Volatile.Read(ref _connected) == 0) return;
            var at = Position;
            var result = await PlayFromAsync(at, TimeSpan.FromSeconds(_service.UpstreamTimeoutSeconds), CancellationToken.None).ConfigureAwait(false);
            WebRtcViewingService.LogPlaybackKeyframeRefresh(_service.Logger, SessionId, result.Status, at.ToString("O"));
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            WebRtcViewingService.LogPlaybackKeyframeRefresh(_service.Logger, SessionId, 500, e.GetType().Name);
        }
        finally
        {
            _control.Release();
        }
    }

    private void Use(IMediaSource source, DateTimeOffset start)
    {
        _source = source;
        _videoTrack = source.Media.VideoTrack;
        var rate = source.Media.Tracks[_videoTrack].ClockRate;
        _clockRate = rate > 0 ? rate : 90000;
        _keyframes = new KeyframeTracker(source.Media.VideoCodec);
        _sourceStart = start;
        Interlocked.Exchange(ref _firstTimestamp, -1);
        var pace = source is IPacedMediaSource paced ? paced.Pace : new PlaybackPace(_scale, _scale);
        Volatile.Write(ref _recordingPerTimestamp, pace.RecordingPerTimestamp);
        Volatile.Write(ref _timestampRate, pace.TimestampRate);
        _audioOn = pace.Requested == 1;
        Interlocked.Increment(ref _paceVersion);
    }

    /// <summary>Reads the current source into the output, from its next keyframe, on the pool. Under <see cref="_control"/>.</summary>
    private void StartReading()
    {
        if (_source is not { } source || _run is not null) return;
        _output.WaitForKeyframe(hasVideo: true);
        // A new upstream session starts at a keyframe: keyframe requests of the next interval re-seek nothing.
        Interlocked.Exchange(ref _lastKeyframeRefresh, _service.Time.GetTimestamp());
        var stop = _stop = new CancellationTokenSource();
        _run = Task.Run(async () =>
        {
            try
            {
                await source.RunAsync(this, stop.Token).ConfigureAwait(false);
                WebRtcViewingService.LogPlaybackSourceEnded(_service.Logger, SessionId, "the recording ended");
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
            }
            catch (DeviceException e)
            {
                // The recorder closing the session is how many recordings end; the viewer may seek again.
                WebRtcViewingService.LogPlaybackSourceEnded(_service.Logger, SessionId, e.Kind.ToString());
            }
        });
    }

    /// <summary>Stops reading and closes the current upstream session. Under <see cref="_control"/> (or at the end).</summary>
    private async Task StopSourceAsync()
    {
        var source = _source;
        _source = null;
        if (_stop is { } stop)
        {
            await stop.CancelAsync().ConfigureAwait(false);
        }
        if (_run is { } run)
        {
            await run.ConfigureAwait(false);
        }
        _stop?.Dispose();
        _stop = null;
        _run = null;
        if (source is not null)
        {
            await source.DisposeAsync().ConfigureAwait(false);
        }
    }

    void IMediaSink.OnPacket(RtpBuffer buffer)
    {
        if (buffer.Track == _videoTrack && !buffer.IsRtcp)
        {
            _keyframes.Mark(buffer);
            if (RtpPacket.TryParse(buffer.PacketSpan, out var rtp))
            {
                if (Interlocked.Read(ref _firstTimestamp) < 0) Interlocked.Exchange(ref _firstTimestamp, rtp.Timestamp);
                Volatile.Write(ref _lastTimestamp, rtp.Timestamp);
            }
        }
        _output.Enqueue(buffer, buffer.ReceivedAt);
        buffer.Release();
    }

    void IMediaSink.OnBatchEnd() => _output.Flush();

    // On the output's drainer (one at a time).
    void IWebRtcMediaSender.SendVideoRtpPayload(ReadOnlySpan<byte> payload, uint timestamp, bool marker)
    {
        var version = Volatile.Read(ref _paceVersion);
        if (version != _appliedPaceVersion)
        {
            _appliedPaceVersion = version;
            _timestamps.Restart(Volatile.Read(ref _timestampRate));
        }
        Session.SendVideoRtpPayload(payload, _timestamps.MapVideo(timestamp, _audioClockRate, _clockRate), marker);
    }

    void IWebRtcMediaSender.SendAudio(ReadOnlySpan<byte> payload, uint timestamp, bool marker)
    {
        if (_audioOn && Volatile.Read(ref _paceVersion) == _appliedPaceVersion && _timestamps.TryMapAudio(timestamp, out var mapped))
        {
            Session.SendAudio(payload, mapped, marker);
        }
    }

    public void Close(string reason, bool revoked)
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
        {
            return;
        }
        _registration?.Dispose();
        _output.Complete();
        _ = Session.DisposeAsync();
        _ = EndSourceAsync();
        _service.Metrics.Sessions.Add(-1, new KeyValuePair<string, object?>("signalling", "whep"));
        _service.GatewayMetrics.ViewerSessions.Add(-1, _tags);
        _service.GatewayMetrics.SessionDuration.Record(_service.Time.GetElapsedTime(_startedAt).TotalSeconds, _tags[0]);
        _service.PlaybackEnded(this, reason, revoked);
        _service.NotifyEnded(Offer.Ended, SessionId, reason);
    }

    private async Task EndSourceAsync()
    {
        await _control.WaitAsync().ConfigureAwait(false);
        try
        {
            await StopSourceAsync().ConfigureAwait(false);
        }
        finally
        {
            _control.Release();
        }
    }
}
