using HikShareGateway.Core.Access;
using HikShareGateway.Core.Audio;
using HikShareGateway.Core.Devices;
using HikShareGateway.Core.WebRtc;
using HikShareGateway.WebRtc.Sdp;
using Microsoft.Extensions.Logging;

namespace HikShareGateway.WebRtc.Viewing;

/// <summary>The talk floor and speaker opened for an offer, or the refusal to answer with.</summary>
internal sealed record WebRtcTalkOpening(ITalkChannel? Channel, TalkReceive? Receivable, WebRtcAnswer? Refusal);

/// <summary>
/// Two-way audio over WebRTC (contract §5.1): an offer whose audio the viewer sends (<c>sendrecv</c>, or <c>sendonly</c> =
/// talk only) asks for the talk floor of the channel.
/// <para>
/// :: Step T1: without <c>twoWayAudio</c> the talk is not taken: the audio is answered <c>sendonly</c> from the gateway
///    (a viewer with <c>liveView</c>), or 403 when the viewer asked for talk only (or may not watch either).
/// :: Step T2: the floor and the device's speaker through <see cref="ITalkChannels"/> (the RTSP talk path's: one talker
///    per channel across RTSP and WebRTC) → 409 busy, 422 no backchannel, 502/504 device.
/// :: Step T3: the answer receives G.711 the device takes (passed as is), else Opus through <see cref="ITalkTranscoders"/>;
///    an Opus-only offer without FFmpeg → 422 naming the codec.
/// :: Step T4: the session registers under <c>twoWayAudio</c> too: a grant change removing it ends the session; closing
///    it closes the speaker and frees the floor. Without <c>liveView</c> the session has no lease on the stream.
/// </para>
/// </summary>
public sealed partial class WebRtcViewingService
{
    private readonly ITalkChannels? _talkChannels;
    private readonly ITalkTranscoders? _talkTranscoders;

    private enum TalkDecision { NoTalk, Talk, Forbidden }

    /// <summary>:: Step T1. <paramref name="parsed"/> is null when the offer is not SDP (the viewing path answers 400).</summary>
    private TalkDecision TalkRequest(WebRtcLiveOffer offer, string sessionId, out SdpOffer? parsed, out bool mayWatch)
    {
        mayWatch = _policy.IsAllowed(offer.Account, offer.DeviceId, offer.Channel, Privilege.LiveView);
        parsed = SdpOfferParser.TryParse(offer.Sdp.Span, out var o, out _) ? o : null;
        if (parsed is null || !SdpNegotiator.AsksToTalk(parsed, out var talkOnly))
        {
            return TalkDecision.NoTalk;
        }
        if (_policy.IsAllowed(offer.Account, offer.DeviceId, offer.Channel, Privilege.TwoWayAudio))
        {
            return TalkDecision.Talk;
        }
        if (talkOnly || !mayWatch)
        {
            _audit.Record(new AuditEvent(_context.Time.GetUtcNow(), sessionId, offer.Account, offer.DeviceId, offer.Channel, Privilege.TwoWayAudio,
                AuditDecision.Deny, "no twoWayAudio grant (webrtc)", offer.Remote));
            return TalkDecision.Forbidden;
        }
        return TalkDecision.NoTalk; // watch only: the audio goes sendonly from the gateway
    }

    /// <summary>:: Step T2.</summary>
    private async Task<WebRtcTalkOpening> OpenTalkAsync(WebRtcLiveOffer offer, DeviceInfo device, CancellationToken ct)
    {
        if (_talkChannels is null)
        {
            return new(null, null, WebRtcAnswer.Refused(422, "no common codec: this gateway has no two-way audio"));
        }
        var channel = device.FindChannel(offer.Channel)!;
        var opened = await _talkChannels.OpenAsync(device, channel, offer.Stream, offer.Remote, ct).ConfigureAwait(false);
        if (opened.Channel is not { } speaker)
        {
            LogTalkRefused(_logger, offer.Account, offer.DeviceId, offer.Channel, opened.Refusal.ToString());
            var status = opened.Refusal switch
            {
                TalkRefusal.Busy => 409,
                TalkRefusal.NoBackchannel => 422,
                TalkRefusal.Timeout => 504,
                _ => 502,
            };
            return new(null, null, WebRtcAnswer.Refused(status, opened.Detail));
        }
        return new(speaker, WebRtcTalk.Receivable(speaker, _talkTranscoders), null);
    }

    /// <summary>:: Step T3: the talker for what the answer chose; null (the speaker is closed by the caller) when it took no audio.</summary>
    private WebRtcTalk? StartTalk(WebRtcTalkOpening opening, WebRtcSession session)
    {
        if (opening.Channel is not { } channel || session.TalkCodecName is not { } codec)
        {
            return null;
        }
        var talk = WebRtcTalk.Create(channel, codec, _talkTranscoders);
        LogTalkStarted(_logger, codec, talk.Transcodes);
        return talk;
    }

    /// <summary>A viewer with <c>twoWayAudio</c> and no <c>liveView</c>: the speaker only, no lease on the stream.</summary>
    private async Task<WebRtcAnswer> OpenTalkOnlyAsync(WebRtcLiveOffer offer, string sessionId, SdpOffer parsed, CancellationToken ct)
    {
        if (!_catalog.TryGetDevice(offer.DeviceId, out var device) || device.FindChannel(offer.Channel) is null)
        {
            return WebRtcAnswer.Refused(404, "no such device or channel on this gateway");
        }
        if (!TryReserve(offer.Account, out var full))
        {
            LogCapacity(_logger, offer.Account, full);
            return WebRtcAnswer.Refused(503, full);
        }
        var reserved = true;
        WebRtcTalkOpening? talking = null;
        try
        {
            talking = await OpenTalkAsync(offer, device, ct).ConfigureAwait(false);
            if (talking.Refusal is { } refused)
            {
                return refused;
            }
            if (!WebRtcSession.TryCreate(parsed, new SourceMedia(null, null), talking.Receivable, _context, out var session, out var answer, out var refusal))
            {
                return WebRtcAnswer.Refused(refusal.Status, refusal.Reason);
            }
            var talker = StartTalk(talking, session);
            if (talker is null)
            {
                await session.DisposeAsync().ConfigureAwait(false);
                return WebRtcAnswer.Refused(422, "no common codec: the offer sends no usable audio");
            }
            talking = null;
            var handle = new ViewerSessionHandle(this, sessionId, offer, session, null, -1, -1, 8000, _options.QueueLimits, talker);
            _sessions[sessionId] = handle;
            reserved = false;
            handle.Start(_registry);
            AuditTalkStarted(handle);
            LogStarted(_logger, sessionId, offer.Account, offer.DeviceId, offer.Channel, SignallingName(offer.Signalling));
            return new WebRtcAnswer(201, sessionId, answer, "created");
        }
        finally
        {
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

    private void AuditTalkStarted(ViewerSessionHandle handle)
    {
        if (handle.Talk is { } talk)
        {
            _audit.Record(new AuditEvent(_context.Time.GetUtcNow(), handle.SessionId, handle.Account, handle.Offer.DeviceId, handle.Offer.Channel,
                Privilege.TwoWayAudio, AuditDecision.Allow, talk.Transcodes ? "talk started (webrtc, opus transcoded)" : "talk started (webrtc)", handle.Offer.Remote));
        }
    }

    private void AuditTalkEnded(ViewerSessionHandle handle, string reason, bool revoked)
    {
        if (handle.Talk is not null && !revoked)
        {
            _audit.Record(new AuditEvent(_context.Time.GetUtcNow(), handle.SessionId, handle.Account, handle.Offer.DeviceId, handle.Offer.Channel,
                Privilege.TwoWayAudio, AuditDecision.End, reason, handle.Offer.Remote));
        }
    }

    /// <summary>Called once the speaker of an ended session is closed and its floor free.</summary>
    internal void TalkClosed(ViewerSessionHandle handle, WebRtcTalk talk)
        => LogTalkEnded(_logger, handle.SessionId, talk.PacketsReceived, talk.Channel.FramesWritten);

    /// <summary>Talk sessions running now (tests, diagnostics): frames written to devices by each.</summary>
    public IReadOnlyList<(string SessionId, long PacketsReceived, long FramesWritten)> TalkSessions()
    {
        var list = new List<(string, long, long)>();
        foreach (var (id, s) in _sessions)
        {
            if (s.Talk is { } t)
            {
                list.Add((id, t.PacketsReceived, t.Channel.FramesWritten));
            }
        }
        return list;
    }

    [LoggerMessage(EventId = 7130, Level = LogLevel.Information, Message = "WebRTC talk of {Account} on {DeviceId}/{Channel} refused: {Refusal}")]
    private static partial void LogTalkRefused(ILogger logger, string account, string deviceId, int channel, string refusal);

    [LoggerMessage(EventId = 7132, Level = LogLevel.Information, Message = "WebRTC talk {SessionId} ended: {Packets} packets from the viewer, {Frames} frames to the device; floor free")]
    private static partial void LogTalkEnded(ILogger logger, string sessionId, long packets, long frames);

    [LoggerMessage(EventId = 7131, Level = LogLevel.Information, Message = "WebRTC talk in {Codec} (transcoded to G.711: {Transcodes})")]
    private static partial void LogTalkStarted(ILogger logger, string codec, bool transcodes);
}
