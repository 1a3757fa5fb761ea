using System.Collections.Concurrent;
using System.Security.Cryptography;
using HikShareGateway.Core.Access;
using HikShareGateway.Core.Devices;
using HikShareGateway.Core.WebRtc;
using HikShareGateway.Media;
using Microsoft.Extensions.Logging;

namespace HikShareGateway.WebRtc.Viewing;

/// <summary>
/// Playback over WebRTC (contract §5.1): the steps of live viewing with the <c>playback</c> grant and the viewer's own
/// upstream session on the recording (<see cref="IPlaybackSourceConnector"/>, the RTSP playback upstream the fMP4
/// download uses too) instead of a lease on the shared live stream.
/// <para>
/// :: Step 1: <c>playback</c> (audited denial) → 403; unknown device or channel → 404; capacity (shared with live) → 503.
/// :: Step 2: the upstream session at <c>start</c> and <c>scale</c>: no recording there → 404, timeout → 504, other
///    failures (a speed the recorder refuses among them) → 502.
/// :: Step 3: the offer negotiated against the recording's video (400/422), the session registered and audited.
/// </para>
/// </summary>
public sealed partial class WebRtcViewingService : IWebRtcPlayback
{
    private readonly ConcurrentDictionary<string, PlaybackSessionHandle> _playbackSessions = new(StringComparer.Ordinal);

    public async Task<WebRtcAnswer> OpenPlaybackAsync(WebRtcPlaybackOffer offer, CancellationToken ct)
    {
        var sessionId = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12));
        // :: Step 1
        if (!_policy.IsAllowed(offer.Account, offer.DeviceId, offer.Channel, Privilege.Playback))
        {
            _audit.Record(new AuditEvent(_context.Time.GetUtcNow(), sessionId, offer.Account, offer.DeviceId, offer.Channel, Privilege.Playback,
                AuditDecision.Deny, "no playback grant (webrtc)", offer.Remote));
            return WebRtcAnswer.Refused(403, "not permitted");
        }
        if (!_catalog.TryGetDevice(offer.DeviceId, out var device) || device.FindChannel(offer.Channel) is null)
        {
            return WebRtcAnswer.Refused(404, "no such device or channel on this gateway");
        }
        if (_playbackConnector is null)
        {
            return WebRtcAnswer.Refused(503, "playback is not available on this gateway");
        }
        if (!TryReserve(offer.Account, out var full))
        {
            LogCapacity(_logger, offer.Account, full);
            return WebRtcAnswer.Refused(503, full);
        }
        var reserved = true;
        IMediaSource? source = null;
        try
        {
            // :: Step 2
            try
            {
                source = await _playbackConnector.ConnectAsync(offer.DeviceId, offer.Channel, offer.Start, offer.End, offer.Scale, ct)
                    .WaitAsync(TimeSpan.FromSeconds(_options.UpstreamTimeoutSeconds), _context.Time, ct).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                return WebRtcAnswer.Refused(504, "the recorder did not start the playback in time");
            }
            catch (DeviceException e)
            {
                return e.Kind switch
                {
                    DeviceErrorKind.NotSupported => WebRtcAnswer.Refused(404, "no recordings this gateway can play back on that channel"),
                    DeviceErrorKind.Timeout => WebRtcAnswer.Refused(504, "the recorder did not start the playback in time"),
                    _ => WebRtcAnswer.Refused(502, "the recorder could not start the playback"),
                };
            }
            // :: Step 3
            var media = WebRtcSourceMedia.From(source.Media, out var audioTrack);
            if (source.Media.VideoTrack < 0)
            {
                return WebRtcAnswer.Refused(422, "no common codec: the recording has no video");
            }
            if (!WebRtcSession.TryCreate(offer.Sdp.Span, media, _context, out var session, out var answer, out var refusal))
            {
                return WebRtcAnswer.Refused(refusal.Status, refusal.Reason);
            }
            // G.711 of the recording as live passes it (at scale 1; the handle keeps it in step across seeks).
            var handle = new PlaybackSessionHandle(this, sessionId, offer, session, _playbackConnector, source, _options.QueueLimits,
                session.AudioSsrc is null ? -1 : audioTrack, audioTrack >= 0 ? source.Media.Tracks[audioTrack].ClockRate : 8000);
            source = null; // the handle owns it now
            _playbackSessions[sessionId] = handle;
            reserved = false;
            handle.Start(_registry);
            _audit.Record(new AuditEvent(_context.Time.GetUtcNow(), sessionId, offer.Account, offer.DeviceId, offer.Channel, Privilege.Playback,
                AuditDecision.Allow, "session started (webrtc whep playback)", offer.Remote));
            LogPlaybackStarted(_logger, sessionId, offer.Account, offer.DeviceId, offer.Channel);
            return new WebRtcAnswer(201, sessionId, answer, "created");
        }
        finally
        {
            if (source is not null)
            {
                await source.DisposeAsync().ConfigureAwait(false);
            }
            if (reserved)
            {
                Unreserve(offer.Account);
            }
        }
    }

    public async Task<WebRtcPlaybackControlResult> ControlAsync(string sessionId, string account, WebRtcPlaybackControl control, CancellationToken ct)
    {
        if (!_playbackSessions.TryGetValue(sessionId, out var s) || !string.Equals(s.Account, account, StringComparison.Ordinal))
        {
            return new WebRtcPlaybackControlResult(404, "no WebRTC playback session with this id runs for this account");
        }
        var result = await s.ControlAsync(control, TimeSpan.FromSeconds(_options.UpstreamTimeoutSeconds), ct).ConfigureAwait(false);
        LogPlaybackControl(_logger, sessionId, result.Status, result.Detail, result.Position?.ToString("O") ?? "");
        return result;
    }

    private bool ClosePlayback(string sessionId, string account, string reason)
    {
        if (!_playbackSessions.TryGetValue(sessionId, out var s) || !string.Equals(s.Account, account, StringComparison.Ordinal))
        {
            return false;
        }
        s.Close(reason, revoked: false);
        return true;
    }

    /// <summary>Called once by a playback handle that ended (any reason).</summary>
    internal void PlaybackEnded(PlaybackSessionHandle handle, string reason, bool revoked)
    {
        _playbackSessions.TryRemove(new KeyValuePair<string, PlaybackSessionHandle>(handle.SessionId, handle));
        Unreserve(handle.Account);
        Metrics.AddEndedSessionNacks(handle.Session.NacksServed);
        if (!revoked)
        {
            _audit.Record(new AuditEvent(_context.Time.GetUtcNow(), handle.SessionId, handle.Account, handle.Offer.DeviceId, handle.Offer.Channel,
                Privilege.Playback, AuditDecision.End, reason, handle.Offer.Remote));
        }
        LogEnded(_logger, handle.SessionId, reason);
    }

    [LoggerMessage(EventId = 7142, Level = LogLevel.Information, Message = "WebRTC playback session {SessionId} of {Account} on {DeviceId}/{Channel} started (whep)")]
    private static partial void LogPlaybackStarted(ILogger logger, string sessionId, string account, string deviceId, int channel);

    [LoggerMessage(EventId = 7143, Level = LogLevel.Information, Message = "WebRTC playback session {SessionId}: control {Status} ({Detail}), position {Position}")]
    private static partial void LogPlaybackControl(ILogger logger, string sessionId, int status, string detail, string position);

    internal int UpstreamTimeoutSeconds => _options.UpstreamTimeoutSeconds;

    [LoggerMessage(EventId = 7145, Level = LogLevel.Information, Message = "WebRTC playback session {SessionId}: keyframe request answered by a re-seek ({Status}) to {Position}")]
    internal static partial void LogPlaybackKeyframeRefresh(ILogger logger, string sessionId, int status, string position);

    [LoggerMessage(EventId = 7144, Level = LogLevel.Information, Message = "WebRTC playback session {SessionId}: upstream ended ({Reason})")]
    internal static partial void LogPlaybackSourceEnded(ILogger logger, string sessionId, string reason);
}
