using System.Collections.Concurrent;
using System.Security.Cryptography;
using HikShareGateway.Core.Access;
using HikShareGateway.Core.Audio;
using HikShareGateway.Core.Devices;
using HikShareGateway.Core.Diagnostics;
using HikShareGateway.Core.WebRtc;
using HikShareGateway.Media;
using HikShareGateway.WebRtc.Sdp;
using Microsoft.Extensions.Logging;

namespace HikShareGateway.WebRtc.Viewing;

/// <summary>
/// WebRTC viewing of live streams (contract §5.1), behind <see cref="IWebRtcViewing"/> for WHEP and the cloud signalling.
/// <para>
/// :: Step 1: authorization of <c>liveView</c> (<see cref="IAccessPolicy"/>, default deny; a denial is audited) → 403;
///    a device or channel this gateway does not know → 404 (after authorization, as RTSP: nothing is revealed).
/// :: Step 2: capacity, in total and per account → 503.
/// :: Step 3: a lease on the shared <see cref="LiveStream"/> (no second upstream), waiting for it to play → 502/504.
/// :: Step 4: the offer negotiated against the stream's codecs → 400/422 (an H.265 stream to an offer without H.265:
///    the shared H.264 derived stream of <see cref="IDerivedStreams"/> when one is configured, 503 when none is free;
///    without FFmpeg, 422 naming H265; an AAC stream to an offer with Opus: the shared AAC → Opus derived stream, or the
///    video alone when no transcoder is free); the session's answer and its registration
///    in <see cref="ISessionRegistry"/> (a grant change closes it), the audit of its start.
/// :: Step 5: when DTLS-SRTP is up, the <see cref="WebRtcOutput"/> subscribes: the cached GOP first, then live packets.
/// </para>
/// </summary>
public sealed partial class WebRtcViewingService : IWebRtcViewing, IAsyncDisposable
{
    private readonly WebRtcSessionContext _context;
    private readonly WebRtcViewingOptions _options;
    private readonly IDeviceCatalog _catalog;
    private readonly IAccessPolicy _policy;
    private readonly ISessionRegistry _registry;
    private readonly IAuditSink _audit;
    private readonly GatewayMetrics _gatewayMetrics;
    private readonly IDerivedStreams? _derived;
    private readonly IPlaybackSourceConnector? _playbackConnector;
    private readonly PacketizedStreams _packetized;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, ViewerSessionHandle> _sessions = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _perAccount = new(StringComparer.Ordinal);
    private readonly Lock _capacity = new();
    private int _total;

    public WebRtcViewingService(WebRtcSessionContext context, WebRtcViewingOptions options, LiveRelay relay, IDeviceCatalog catalog,
        IAccessPolicy policy, ISessionRegistry registry, IAuditSink audit, GatewayMetrics metrics,
        ITalkChannels? talkChannels = null, ITalkTranscoders? talkTranscoders = null,
        IDerivedStreams? derived = null, IPlaybackSourceConnector? playback = null)
    {
        _talkChannels = talkChannels;
        _talkTranscoders = talkTranscoders;
        _derived = derived;
        _playbackConnector = playback;
        _context = context;
        _options = options;
        _catalog = catalog;
        _policy = policy;
        _registry = registry;
        _audit = audit;
        _gatewayMetrics = metrics;
        _logger = context.Loggers.CreateLogger<WebRtcViewingService>();
        // Video is cut to the viewers' payload size once per stream, not once per viewer.
        _packetized = new PacketizedStreams(relay, derived, context.Options.RtpMtu - Rtp.RtpStreamWriter.HeaderLength, context.Time);
        Metrics = new WebRtcMetrics(metrics, context.Mux.Drops, LiveNacks, context.Mux.IceOutcomes);
    }

    public WebRtcMetrics Metrics { get; }
    public int SessionCount => _sessions.Count + _playbackSessions.Count;
    internal TimeProvider Time => _context.Time;

    public async Task<WebRtcAnswer> OpenLiveAsync(WebRtcLiveOffer offer, CancellationToken ct)
    {
        var sessionId = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12));
        // :: Step 1 (two-way audio: see WebRtcViewingService.Talk.cs)
        var talk = TalkRequest(offer, sessionId, out var parsed, out var mayWatch);
        if (talk == TalkDecision.Forbidden)
        {
            return WebRtcAnswer.Refused(403, "not permitted");
        }
        if (talk == TalkDecision.Talk && !mayWatch)
        {
            return await OpenTalkOnlyAsync(offer, sessionId, parsed!, ct).ConfigureAwait(false);
        }
        if (!mayWatch)
        {
            _audit.Record(new AuditEvent(_context.Time.GetUtcNow(), sessionId, offer.Account, offer.DeviceId, offer.Channel, Privilege.LiveView,
                AuditDecision.Deny, "no liveView grant (webrtc)", offer.Remote));
            return WebRtcAnswer.Refused(403, "not permitted");
        }
        if (!_catalog.TryGetDevice(offer.DeviceId, out var device) || device.FindChannel(offer.Channel) is null)
        {
            return WebRtcAnswer.Refused(404, "no such device or channel on this gateway");
        }
        // :: Step 2
        if (!TryReserve(offer.Account, out var full))
        {
            LogCapacity(_logger, offer.Account, full);
            return WebRtcAnswer.Refused(503, full);
        }
        var reserved = true;
        LiveStreamLease? lease = null;
        WebRtcTalkOpening? talking = null;
        try
        {
            if (talk == TalkDecision.Talk)
            {
                talking = await OpenTalkAsync(offer, device, ct).ConfigureAwait(false);
                if (talking.Refusal is { } talkRefusal)
                {
                    return talkRefusal;
                }
            }
            // :: Step 3 (the stream already cut to the WebRTC payload size, shared by every WebRTC viewer of it)
            lease = _packetized.AcquireLive(offer.DeviceId, offer.Channel, offer.Stream);
            MediaDescription description;
            try
            {
                description = await lease.Stream.WaitReadyAsync(TimeSpan.FromSeconds(_options.UpstreamTimeoutSeconds), ct).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                return WebRtcAnswer.Refused(504, "the device did not start the stream in time");
            }
            catch (DeviceException e)
            {
                return WebRtcAnswer.Refused(e.Kind switch { DeviceErrorKind.Timeout => 504, DeviceErrorKind.NotSupported => 404, _ => 502 }, "the device failed to start the stream");
            }
            // :: Step 4
            var source = WebRtcSourceMedia.From(description, out var audioTrack);
            if (source.Video?.Codec == "H265" && _derived is not null && !WebRtcSession.WouldNegotiate(offer.Sdp.Span, source))
            {
                // :: Step 4a: an offer without H.265 gets the shared H.264 derived stream when the transcoder can make one.
                var transcoded = await TranscodedAsync(offer, ct).ConfigureAwait(false);
                if (transcoded.Refusal is { } r)
                {
                    return r;
                }
                lease.Dispose();
                lease = transcoded.Lease!;
                description = transcoded.Description!;
                source = WebRtcSourceMedia.From(description, out audioTrack);
            }
            else if (_derived is not null && WebRtcSourceMedia.HasAac(description) && WebRtcSession.WouldReceiveAudio(offer.Sdp.Span, Opus))
            {
                // :: Step 4b: AAC, which WebRTC cannot carry, and an offer that takes Opus: the shared AAC → Opus stream
                // (video passed as the camera sends it). Without a transcoder the viewer gets the video alone, as before.
                if (await OpusAudioAsync(offer, ct).ConfigureAwait(false) is { } withOpus)
                {
                    lease.Dispose();
                    lease = withOpus.Lease;
                    description = withOpus.Description;
                    source = WebRtcSourceMedia.From(description, out audioTrack);
                }
            }
            WebRtcSession session;
            string answer;
            SessionRefusal refusal;
            if (!(parsed is not null
                    ? WebRtcSession.TryCreate(parsed, source, talking?.Receivable, _context, out session, out answer, out refusal)
                    : WebRtcSession.TryCreate(offer.Sdp.Span, source, _context, out session, out answer, out refusal)))
            {
                return WebRtcAnswer.Refused(refusal.Status, refusal.Reason);
            }
            var talker = talking is null ? null : StartTalk(talking, session);
            if (talker is not null)
            {
                talking = null; // the talker owns the channel now
            }
            var handle = new ViewerSessionHandle(this, sessionId, offer, session, lease,
                description.VideoTrack, session.AudioSsrc is null ? -1 : audioTrack,
                audioTrack >= 0 ? description.Tracks[audioTrack].ClockRate : 8000, _options.QueueLimits, talker);
            _sessions[sessionId] = handle;
            reserved = false;
            lease = null; // the handle owns it now
            handle.Start(_registry);
            _audit.Record(new AuditEvent(_context.Time.GetUtcNow(), sessionId, offer.Account, offer.DeviceId, offer.Channel, Privilege.LiveView,
                AuditDecision.Allow, "session started (webrtc " + SignallingName(offer.Signalling) + ")", offer.Remote));
            LogStarted(_logger, sessionId, offer.Account, offer.DeviceId, offer.Channel, SignallingName(offer.Signalling));
            AuditTalkStarted(handle);
            return new WebRtcAnswer(201, sessionId, answer, "created");
        }
        finally
        {
            lease?.Dispose();
            if (talking?.Channel is { } unused)
            {
                await unused.DisposeAsync().ConfigureAwait(false);
            }
            if (reserved)
            {
                Unreserve(offer.Account);
            }
        }
    }

    private static readonly SourceAudio Opus = new("opus", 48000, Channels: 2);

    /// <summary>
    /// The derived AAC → Opus stream of the offer's path, ready; null (logged) when no transcoder is free
    /// (<c>Media:MaxTranscoders</c>), FFmpeg is missing, or it did not start in time: the viewer then watches without audio.
    /// </summary>
    private async Task<(LiveStreamLease Lease, MediaDescription Description)?> OpusAudioAsync(WebRtcLiveOffer offer, CancellationToken ct)
    {
        if (!_derived!.TryAcquire(offer.DeviceId, offer.Channel, offer.Stream, DerivedFormat.OpusAudio, out var lease, out var reason))
        {
            LogOpusRefused(_logger, offer.Account, reason ?? "");
            return null;
        }
        LiveStreamLease? packetized = null;
        try
        {
            // As for H.264: the derived lease holds the transcoder until the packetized stream over it has its own, so
            // the camera's video of this stream is cut once for every viewer too.
            packetized = _packetized.AcquireDerived(offer.DeviceId, offer.Channel, offer.Stream, DerivedFormat.OpusAudio);
            var description = await packetized.Stream.WaitReadyAsync(TimeSpan.FromSeconds(_options.UpstreamTimeoutSeconds), ct).ConfigureAwait(false);
            LogOpusAudio(_logger, offer.Account, offer.DeviceId, offer.Channel);
            var ready = packetized;
            packetized = null;
            return (ready, description);
        }
        catch (Exception e) when (e is TimeoutException or DeviceException)
        {
            LogOpusRefused(_logger, offer.Account, e is TimeoutException ? "the AAC to Opus transcoder did not start in time" : "the AAC to Opus transcoder could not start");
            return null;
        }
        finally
        {
            packetized?.Dispose();
            lease!.Dispose();
        }
    }

    [LoggerMessage(EventId = 7146, Level = LogLevel.Information, Message = "WebRTC viewer {Account} on {DeviceId}/{Channel} gets the camera's AAC as Opus (shared transcoder)")]
    private static partial void LogOpusAudio(ILogger logger, string account, string deviceId, int channel);

    [LoggerMessage(EventId = 7147, Level = LogLevel.Warning, Message = "WebRTC viewer {Account}: no AAC to Opus transcoder ({Reason}); video without audio")]
    private static partial void LogOpusRefused(ILogger logger, string account, string reason);

    /// <summary>
    /// The derived H.264 stream of the offer's path, ready: 503 when no transcoder is free (<c>Media:MaxTranscoders</c>)
    /// or the transcoder failed to start, 504 when it did not start in time; 422 when the offer has no H.264 either.
    /// </summary>
    private async Task<(LiveStreamLease? Lease, MediaDescription? Description, WebRtcAnswer? Refusal)> TranscodedAsync(WebRtcLiveOffer offer, CancellationToken ct)
    {
        if (!WebRtcSession.WouldNegotiate(offer.Sdp.Span, new SourceMedia(new SourceVideo("H264", null), null)))
        {
            return (null, null, WebRtcAnswer.Refused(422, "no common codec: the source sends H265 and the offer has neither H265 nor H264"));
        }
        if (!_derived!.TryAcquire(offer.DeviceId, offer.Channel, offer.Stream, DerivedFormat.H264, out var lease, out var reason))
        {
            LogTranscoderRefused(_logger, offer.Account, reason ?? "");
            return (null, null, WebRtcAnswer.Refused(503, "no transcoder for this H265 stream: " + reason));
        }
        LiveStreamLease? packetized = null;
        try
        {
            // The derived lease holds the transcoder until the packetized stream over it has its own.
            packetized = _packetized.AcquireDerived(offer.DeviceId, offer.Channel, offer.Stream, DerivedFormat.H264);
            var description = await packetized.Stream.WaitReadyAsync(TimeSpan.FromSeconds(_options.UpstreamTimeoutSeconds), ct).ConfigureAwait(false);
            LogTranscoded(_logger, offer.Account, offer.DeviceId, offer.Channel);
            var ready = packetized;
            packetized = null;
            return (ready, description, null);
        }
        catch (TimeoutException)
        {
            return (null, null, WebRtcAnswer.Refused(504, "the H265 to H264 transcoder did not start in time"));
        }
        catch (DeviceException)
        {
            return (null, null, WebRtcAnswer.Refused(503, "the H265 to H264 transcoder could not start"));
        }
        finally
        {
            packetized?.Dispose();
            lease!.Dispose();
        }
    }

    public bool AcceptTrickle(string sessionId, string account, ReadOnlySpan<byte> fragment)
    {
        WebRtcSession session;
        if (_sessions.TryGetValue(sessionId, out var s) && string.Equals(s.Account, account, StringComparison.Ordinal))
        {
            session = s.Session;
        }
        else if (_playbackSessions.TryGetValue(sessionId, out var p) && string.Equals(p.Account, account, StringComparison.Ordinal))
        {
            session = p.Session;
        }
        else
        {
            return false;
        }
        // An ICE restart (another ufrag) is not done: the fragment is accepted and changes nothing.
        session.AddTrickledCandidates(fragment, out _);
        return true;
    }

    public bool Close(string sessionId, string account, string reason)
    {
        if (!_sessions.TryGetValue(sessionId, out var s) || !string.Equals(s.Account, account, StringComparison.Ordinal))
        {
            return ClosePlayback(sessionId, account, reason);
        }
        s.Close(reason, revoked: false);
        return true;
    }

    internal static string SignallingName(WebRtcSignalling s) => s == WebRtcSignalling.Cloud ? "cloud" : "whep";

    private long LiveNacks()
    {
        long n = 0;
        foreach (var (_, s) in _sessions)
        {
            n += s.Session.NacksServed;
        }
        return n;
    }

    private bool TryReserve(string account, out string full)
    {
        lock (_capacity)
        {
            _perAccount.TryGetValue(account, out var mine);
            if (_total >= _options.MaxSessions)
            {
                full = $"the gateway serves its maximum of {_options.MaxSessions} WebRTC sessions";
                return false;
            }
            if (mine >= _options.MaxSessionsPerAccount)
            {
                full = $"this account has its maximum of {_options.MaxSessionsPerAccount} WebRTC sessions";
                return false;
            }
            _total++;
            _perAccount[account] = mine + 1;
            full = "";
            return true;
        }
    }

    private void Unreserve(string account)
    {
        lock (_capacity)
        {
            _total--;
            if (_perAccount.TryGetValue(account, out var mine) && --mine > 0)
            {
                _perAccount[account] = mine;
            }
            else
            {
                _perAccount.Remove(account);
            }
        }
    }

    /// <summary>Called once by a handle that ended (any reason).</summary>
    internal void Ended(ViewerSessionHandle handle, string reason, bool revoked)
    {
        _sessions.TryRemove(new KeyValuePair<string, ViewerSessionHandle>(handle.SessionId, handle));
        Unreserve(handle.Account);
        Metrics.AddEndedSessionNacks(handle.Session.NacksServed);
        if (!revoked)
        {
            _audit.Record(new AuditEvent(_context.Time.GetUtcNow(), handle.SessionId, handle.Account, handle.Offer.DeviceId, handle.Offer.Channel,
                Privilege.LiveView, AuditDecision.End, reason, handle.Offer.Remote));
        }
        AuditTalkEnded(handle, reason, revoked);
        LogEnded(_logger, handle.SessionId, reason);
    }

    /// <summary>
    /// The offer's <c>Ended</c> callback, the last step of a handle's close (live and playback alike). No lock is held
    /// here: the callback may call back into this service (the cloud signalling's <see cref="IWebRtcViewing.Close"/> is
    /// a no-op by then). Its exception is logged, not thrown: a close runs on the registry's, the ICE agent's or the
    /// pool's thread, where it would end the process or stop that loop.
    /// </summary>
    internal void NotifyEnded(Action<string, string>? ended, string sessionId, string reason)
    {
        if (ended is null)
        {
            return;
        }
        try
        {
            ended(sessionId, reason);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            LogEndedCallbackFailed(_logger, e, sessionId);
        }
    }

    internal GatewayMetrics GatewayMetrics => _gatewayMetrics;
    internal ILogger Logger => _logger;

    public async ValueTask DisposeAsync()
    {
        foreach (var (_, s) in _sessions)
        {
            s.Close("gateway stopping", revoked: false);
        }
        foreach (var (_, s) in _playbackSessions)
        {
            s.Close("gateway stopping", revoked: false);
        }
        await _packetized.DisposeAsync().ConfigureAwait(false);
    }

    [LoggerMessage(EventId = 7100, Level = LogLevel.Information, Message = "WebRTC session {SessionId} of {Account} on {DeviceId}/{Channel} started ({Signalling})")]
    private static partial void LogStarted(ILogger logger, string sessionId, string account, string deviceId, int channel, string signalling);

    [LoggerMessage(EventId = 7101, Level = LogLevel.Information, Message = "WebRTC session {SessionId} ended: {Reason}")]
    private static partial void LogEnded(ILogger logger, string sessionId, string reason);

    [LoggerMessage(EventId = 7104, Level = LogLevel.Error, Message = "WebRTC session {SessionId}: its end callback failed")]
    private static partial void LogEndedCallbackFailed(ILogger logger, Exception exception, string sessionId);

    [LoggerMessage(EventId = 7102, Level = LogLevel.Warning, Message = "WebRTC offer of {Account} refused (503): {Reason}")]
    private static partial void LogCapacity(ILogger logger, string account, string reason);

    [LoggerMessage(EventId = 7140, Level = LogLevel.Information, Message = "WebRTC offer of {Account} on {DeviceId}/{Channel} has no H265: sending the transcoded H264 stream")]
    private static partial void LogTranscoded(ILogger logger, string account, string deviceId, int channel);

    [LoggerMessage(EventId = 7141, Level = LogLevel.Warning, Message = "WebRTC offer of {Account} refused (503): no transcoder ({Reason})")]
    private static partial void LogTranscoderRefused(ILogger logger, string account, string reason);

    [LoggerMessage(EventId = 7103, Level = LogLevel.Information, Message = "WebRTC session {SessionId}: DTLS-SRTP failed ({Failure})")]
    internal static partial void LogDtlsFailed(ILogger logger, string sessionId, string failure);
}
