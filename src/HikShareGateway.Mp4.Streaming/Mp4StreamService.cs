using HikShareGateway.Core.Access;
using HikShareGateway.Core.Devices;
using HikShareGateway.Core.Streaming;
using HikShareGateway.Media;
using Microsoft.Extensions.Logging;

namespace HikShareGateway.Mp4.Streaming;

/// <param name="Queue">The viewer queue's bounds: the RTSP viewers' (section <c>Rtsp</c>), so both outputs treat a slow reader alike.</param>
/// <param name="StartTimeout">How long the device may take to start the stream (<c>Rtsp:UpstreamTimeoutSeconds</c>).</param>
public sealed record Mp4StreamOptions(SubscriberQueueLimits Queue, TimeSpan StartTimeout);

/// <summary>
/// fMP4 viewers of the live relay (contract §5.2), with the RTSP viewer's rules: authorization through
/// <see cref="IAccessPolicy"/> (403 also for unknown devices), then 404/503 from the catalog, one
/// <see cref="ISessionRegistry"/> session per response (a grant change cuts it), audit of allow, deny, end.
/// </summary>
/// <remarks>
/// :: Step 1: authorize (deny audited). :: Step 2: the device and channel (404), online (503).
/// :: Step 3: a lease on the shared live stream; wait for it to play (504/502). :: Step 4: the output, registered and
/// audited, subscribed: it starts with the stream's cached GOP. Playback: the same steps with the playback grant and an
/// upstream session of its own (<see cref="IPlaybackSourceConnector"/>), which ends the response when the recording ends.
/// </remarks>
public sealed partial class Mp4StreamService(
    LiveRelay relay,
    IDeviceCatalog catalog,
    IAccessPolicy policy,
    ISessionRegistry sessions,
    IAuditSink audit,
    Mp4StreamOptions options,
    TimeProvider time,
    ILogger<Mp4StreamService> logger,
    IPlaybackSourceConnector? playback = null,
    IDerivedStreams? derived = null) : IMp4Streams
{
    private readonly ISessionRegistry _registry = sessions;
    private readonly IAccessPolicy _policy = policy;
    private readonly IAuditSink _audit = audit;
    private readonly TimeProvider _time = time;
    private readonly ILogger _logger = logger;
    private long _sessions;

    public async Task<Mp4Open> OpenLiveAsync(Mp4LiveRequest request, CancellationToken ct)
    {
        var sessionId = NewSessionId();
        // :: Step 1
        if (!_policy.IsAllowed(request.Account, request.DeviceId, request.Channel, Privilege.LiveView))
        {
            _audit.Record(new AuditEvent(_time.GetUtcNow(), sessionId, request.Account, request.DeviceId, request.Channel, Privilege.LiveView, AuditDecision.Deny,
                "no liveView grant", request.Remote));
            return Mp4Open.Failed(Mp4OpenStatus.Forbidden, "not permitted");
        }
        // :: Step 2
        if (!catalog.TryGetDevice(request.DeviceId, out var device) || device.FindChannel(request.Channel) is not { } channel)
        {
            return Mp4Open.Failed(Mp4OpenStatus.NotFound, "no such device or channel on this gateway");
        }
        if (channel.StreamUri(request.Kind) is null)
        {
            return Mp4Open.Failed(Mp4OpenStatus.NotFound, $"channel {request.Channel} has no {(request.Kind == StreamKind.Sub ? "sub" : "main")} stream");
        }
        if (!device.Online)
        {
            return Mp4Open.Failed(Mp4OpenStatus.Unavailable, "the device is offline");
        }
        // :: Step 3
        var lease = relay.Acquire(request.DeviceId, request.Channel, request.Kind);
        var (description, failed) = await WaitReadyAsync(lease, "the device", ct).ConfigureAwait(false);
        if (failed is { } failure)
        {
            return failure;
        }
        if (request.RequireH264 && description!.VideoCodec == VideoCodec.H265)
        {
            // :: Step 3b: the viewer cannot play H.265: the stream's shared H.264 transcoder (it holds its own lease on
            // the camera's stream, so ours goes once it plays).
            string? reason = "transcoding is not available on this gateway";
            if (derived is null || !derived.TryAcquire(request.DeviceId, request.Channel, request.Kind, DerivedFormat.H264, out var h264, out reason))
            {
                lease.Dispose();
                LogTranscoderRefused(_logger, request.DeviceId, request.Channel, request.Kind, reason ?? "refused");
                return Mp4Open.Failed(Mp4OpenStatus.Unavailable, "no H.264 transcoder for this H.265 stream: " + reason);
            }
            (description, failed) = await WaitReadyAsync(h264!, "the transcoder", ct).ConfigureAwait(false);
            lease.Dispose();
            if (failed is { } transcoderFailure)
            {
                return transcoderFailure;
            }
            lease = h264!;
        }
        if (Fmp4Tracks.From(description!) is not { } tracks)
        {
            lease.Dispose();
            return Mp4Open.Failed(Mp4OpenStatus.UnsupportedCodec, "the stream's video is neither H.264 nor H.265");
        }
        // :: Step 4
        var session = new LiveMp4Stream(this, sessionId, request, lease, new Fmp4Output(tracks, options.Queue, _time));
        if (!session.Start())
        {
            await session.DisposeAsync().ConfigureAwait(false);
            return Mp4Open.Failed(Mp4OpenStatus.Forbidden, "not permitted");
        }
        LogStarted(_logger, sessionId, request.DeviceId, request.Channel, request.Kind, request.Remote);
        return new Mp4Open(Mp4OpenStatus.Ok, "streaming", session);
    }

    public async Task<Mp4Open> OpenPlaybackAsync(Mp4PlaybackRequest request, CancellationToken ct)
    {
        var sessionId = NewSessionId();
        if (!_policy.IsAllowed(request.Account, request.DeviceId, request.Channel, Privilege.Playback))
        {
            _audit.Record(new AuditEvent(_time.GetUtcNow(), sessionId, request.Account, request.DeviceId, request.Channel, Privilege.Playback, AuditDecision.Deny,
                "no playback grant", request.Remote));
            return Mp4Open.Failed(Mp4OpenStatus.Forbidden, "not permitted");
        }
        if (!catalog.TryGetDevice(request.DeviceId, out var device) || device.FindChannel(request.Channel) is null)
        {
            return Mp4Open.Failed(Mp4OpenStatus.NotFound, "no such device or channel on this gateway");
        }
        if (playback is null)
        {
            return Mp4Open.Failed(Mp4OpenStatus.Unavailable, "playback is not available on this gateway");
        }
        if (!device.Online)
        {
            return Mp4Open.Failed(Mp4OpenStatus.Unavailable, "the device is offline");
        }
        IMediaSource source;
        try
        {
            source = await playback.ConnectAsync(request.DeviceId, request.Channel, request.Start, request.End, ct).WaitAsync(options.StartTimeout, _time, ct).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            return Mp4Open.Failed(Mp4OpenStatus.Timeout, "the recorder did not start the playback in time");
        }
        catch (DeviceException e)
        {
            return Mp4Open.Failed(e.Kind switch
            {
                DeviceErrorKind.Timeout => Mp4OpenStatus.Timeout,
                DeviceErrorKind.NotSupported => Mp4OpenStatus.NotFound,
                _ => Mp4OpenStatus.DeviceError,
            }, e.Kind == DeviceErrorKind.NotSupported ? "no recordings this gateway can play back on that channel" : "the recorder could not start the playback");
        }
        if (Fmp4Tracks.From(source.Media) is not { } tracks)
        {
            await source.DisposeAsync().ConfigureAwait(false);
            return Mp4Open.Failed(Mp4OpenStatus.UnsupportedCodec, "the recording's video is neither H.264 nor H.265");
        }
        var session = new PlaybackMp4Stream(this, sessionId, request, source, tracks, new Fmp4Output(tracks, options.Queue, _time));
        if (!session.Start())
        {
            await session.DisposeAsync().ConfigureAwait(false);
            return Mp4Open.Failed(Mp4OpenStatus.Forbidden, "not permitted");
        }
        LogPlaybackStarted(_logger, sessionId, request.DeviceId, request.Channel, request.Remote);
        return new Mp4Open(Mp4OpenStatus.Ok, "streaming", session);
    }

    /// <summary>Waits for <paramref name="lease"/>'s stream to play; on failure disposes the lease and gives the answer (504/502/404).</summary>
    private async Task<(MediaDescription? Media, Mp4Open? Failure)> WaitReadyAsync(LiveStreamLease lease, string who, CancellationToken ct)
    {
        try
        {
            return (await lease.Stream.WaitReadyAsync(options.StartTimeout, ct).ConfigureAwait(false), null);
        }
        catch (TimeoutException)
        {
            lease.Dispose();
            return (null, Mp4Open.Failed(Mp4OpenStatus.Timeout, who + " did not start the stream in time"));
        }
        catch (DeviceException e)
        {
            lease.Dispose();
            return (null, Mp4Open.Failed(e.Kind switch
            {
                DeviceErrorKind.Timeout => Mp4OpenStatus.Timeout,
                DeviceErrorKind.NotSupported => Mp4OpenStatus.NotFound,
                _ => Mp4OpenStatus.DeviceError,
            }, who + " could not start the stream"));
        }
        catch
        {
            lease.Dispose();
            throw;
        }
    }

    private string NewSessionId() =>
        "mp4-" + Interlocked.Increment(ref _sessions).ToString(System.Globalization.CultureInfo.InvariantCulture) + "-" + Guid.NewGuid().ToString("N")[..8];

    /// <summary>Registration (revocation), audit of allow and end, shared by live and playback responses.</summary>
    private sealed class SessionRecord(Mp4StreamService owner, string sessionId, string account, string deviceId, int channel, Privilege action, string remote)
    {
        private IDisposable? _registration;
        private int _revoked;

        public bool Revoked => Volatile.Read(ref _revoked) == 1;

        /// <summary>Registers the session; false when the grant went between the check and the registration (caught now).</summary>
        public bool Register(Action<string> abort)
        {
            _registration = owner._registry.Register(new ViewerSession
            {
                SessionId = sessionId, Account = account, DeviceId = deviceId, Channel = channel, Action = action, Remote = remote,
                Revoke = reason =>
                {
                    Volatile.Write(ref _revoked, 1);
                    abort("revoked: " + reason);
                },
            });
            if (!owner._policy.IsAllowed(account, deviceId, channel, action))
            {
                _registration.Dispose();
                _registration = null;
                return false;
            }
            Record(AuditDecision.Allow, "session started (fMP4)");
            return true;
        }

        /// <summary>Ends the registration; audits the end unless the registry revoked it (and audited that). True when it was registered.</summary>
        public bool End(string reason)
        {
            if (_registration is null)
            {
                return false;
            }
            _registration.Dispose();
            _registration = null;
            if (!Revoked)
            {
                Record(AuditDecision.End, reason);
            }
            return true;
        }

        private void Record(AuditDecision decision, string reason) =>
            owner._audit.Record(new AuditEvent(owner._time.GetUtcNow(), sessionId, account, deviceId, channel, action, decision, reason, remote));
    }

    /// <summary>
    /// One fMP4 playback response: its own upstream session feeding the output on the source's read loop (keyframes
    /// marked as for live), until the recording ends (RTCP BYE on every track, or the recorder closing).
    /// </summary>
    private sealed class PlaybackMp4Stream(Mp4StreamService owner, string sessionId, Mp4PlaybackRequest request, IMediaSource source, Fmp4Tracks tracks, Fmp4Output output)
        : IMp4Stream, IMediaSink
    {
        private readonly SessionRecord _record = new(owner, sessionId, request.Account, request.DeviceId, request.Channel, Privilege.Playback, request.Remote);
        private readonly KeyframeTracker _keyframes = new(source.Media.VideoCodec);
        private readonly bool[] _bye = new bool[source.Media.Tracks.Count];
        private readonly CancellationTokenSource _stop = new();
        private Task? _run;
        private int _disposed;
        private string? _endReason;

        public bool Start()
        {
            if (!_record.Register(output.Abort))
            {
                return false;
            }
            output.WaitForKeyframe(hasVideo: true);
            _run = Task.Run(RunSourceAsync);
            return true;
        }

        private async Task RunSourceAsync()
        {
            try
            {
                await source.RunAsync(this, _stop.Token).ConfigureAwait(false);
                output.Complete("the recording ended");
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
            }
            catch (DeviceException)
            {
                // The recorder closing the session is how many recordings end.
                output.Complete("the recorder ended the playback");
            }
        }

        void IMediaSink.OnPacket(RtpBuffer buffer)
        {
            if (buffer.Track == tracks.VideoTrack && !buffer.IsRtcp)
            {
                _keyframes.Mark(buffer);
            }
            else if (buffer.IsRtcp && (uint)buffer.Track < (uint)_bye.Length && RtcpPacket.ContainsBye(buffer.PacketSpan))
            {
                _bye[buffer.Track] = true;
                if (Array.TrueForAll(_bye, b => b))
                {
                    output.Complete("the recording ended");
                }
            }
            output.Enqueue(buffer, buffer.ReceivedAt);
            buffer.Release();
        }

        void IMediaSink.OnBatchEnd() => output.Flush();

        public async Task<Mp4StreamEnd> CopyToAsync(Stream destination, Action<string> onStart, CancellationToken ct)
        {
            var end = await output.RunAsync(destination, onStart, ct).ConfigureAwait(false);
            _endReason = end.Reason;
            return end;
        }

        public async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0)
            {
                return;
            }
            await _stop.CancelAsync().ConfigureAwait(false);
            if (_run is not null)
            {
                await _run.ConfigureAwait(false);
            }
            await source.DisposeAsync().ConfigureAwait(false);
            output.Dispose();
            if (_record.End(_endReason ?? "ended"))
            {
                LogEnded(owner._logger, sessionId, _endReason ?? "ended", output.FragmentsWritten, output.Overflows);
            }
        }
    }

    /// <summary>One live fMP4 response: the lease, the output, the registration, the audit.</summary>
    private sealed class LiveMp4Stream(Mp4StreamService owner, string sessionId, Mp4LiveRequest request, LiveStreamLease lease, Fmp4Output output) : IMp4Stream
    {
        private readonly SessionRecord _record = new(owner, sessionId, request.Account, request.DeviceId, request.Channel, Privilege.LiveView, request.Remote);
        private bool _subscribed;
        private int _disposed;
        private string? _endReason;

        /// <summary>Registers, audits and subscribes; false when the grant went between the check and the registration.</summary>
        public bool Start()
        {
            if (!_record.Register(output.Abort))
            {
                return false;
            }
            lease.Stream.Invalidated += OnInvalidated;
            lease.Stream.Subscribe(output);
            _subscribed = true;
            return true;
        }

        private void OnInvalidated(string reason) => output.Abort(reason);

        public async Task<Mp4StreamEnd> CopyToAsync(Stream destination, Action<string> onStart, CancellationToken ct)
        {
            var end = await output.RunAsync(destination, onStart, ct).ConfigureAwait(false);
            _endReason = end.Reason;
            return end;
        }

        public ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0)
            {
                return ValueTask.CompletedTask;
            }
            lease.Stream.Invalidated -= OnInvalidated;
            if (_subscribed)
            {
                lease.Stream.Unsubscribe(output);
            }
            output.Dispose();
            lease.Dispose();
            if (_record.End(_endReason ?? "ended"))
            {
                LogEnded(owner._logger, sessionId, _endReason ?? "ended", output.FragmentsWritten, output.Overflows);
            }
            return ValueTask.CompletedTask;
        }
    }

    [LoggerMessage(EventId = 7600, Level = LogLevel.Information, Message = "fMP4 session {SessionId} started: {DeviceId}/{Channel}/{Kind} for {Remote}")]
    private static partial void LogStarted(ILogger logger, string sessionId, string deviceId, int channel, StreamKind kind, string remote);

    [LoggerMessage(EventId = 7603, Level = LogLevel.Warning, Message = "fMP4 viewer of {DeviceId}/{Channel}/{Kind} wants H.264, no transcoder: {Reason} (503)")]
    private static partial void LogTranscoderRefused(ILogger logger, string deviceId, int channel, StreamKind kind, string reason);

    [LoggerMessage(EventId = 7602, Level = LogLevel.Information, Message = "fMP4 playback session {SessionId} started: {DeviceId}/{Channel} for {Remote}")]
    private static partial void LogPlaybackStarted(ILogger logger, string sessionId, string deviceId, int channel, string remote);

    [LoggerMessage(EventId = 7601, Level = LogLevel.Information, Message = "fMP4 session {SessionId} ended: {Reason} ({Fragments} fragments, {Overflows} overflows)")]
    private static partial void LogEnded(ILogger logger, string sessionId, string reason, long fragments, long overflows);
}
