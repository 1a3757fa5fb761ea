using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using HikShareGateway.Core.Access;
using HikShareGateway.Core.Cloud;
using HikShareGateway.Core.Devices;
using HikShareGateway.Core.WebRtc;
using Microsoft.Extensions.Logging;

namespace HikShareGateway.WebRtc.Viewing;

/// <summary>
/// WebRTC signalling through the cloud (contract v1.1 §3.1), for viewers that reach only the cloud: an offer on
/// <c>webrtc/offer</c> carries the viewer's own token, which decides who the viewer is (the cloud only relays); the
/// answer or the refusal (same statuses as WHEP, with an RFC 9457 problem) goes out on <c>webrtc/answer</c>;
/// <c>webrtc/close</c> ends a session either way: the cloud's closes it here, and one that ends at the gateway (any
/// reason) is published, once, after its answer.
/// <para>
/// :: Step 1: parse the offer message (bounded; malformed → dropped and logged, there is no session id to answer).
/// :: Step 2: authenticate the token (401), parse the path (404 for forms that can never exist).
/// :: Step 3: <see cref="IWebRtcViewing.OpenLiveAsync"/>, or <see cref="IWebRtcPlayback.OpenPlaybackAsync"/> for
/// <c>/playback/{deviceId}/{channel}?start=…&amp;end=…</c> (403/404/422/503/502/504 or 201) → publish the answer.
/// :: Step 4: a session that ended at the gateway meanwhile → publish its <c>webrtc/close</c> (<see cref="RelayedSession"/>).
/// </para>
/// </summary>
/// <param name="viewing">Resolved at first use, as <paramref name="publisher"/>: the MQTT link is built with its receivers
/// (this one), and the viewing service's audit sink publishes through that link.</param>
/// <param name="publisher">The MQTT link, resolved at first use.</param>
/// <param name="playback">WebRTC playback, resolved at first use; null (or returning null): playback paths are 503.</param>
public sealed partial class CloudWebRtcSignalling(IViewerAuthenticator authenticator, Func<IWebRtcViewing> viewing, Func<ICloudPublisher> publisher, ILogger<CloudWebRtcSignalling> logger,
    Func<IWebRtcPlayback?>? playback = null)
    : ICloudInbound
{
    /// <summary>An offer message is an SDP of at most 64 KiB plus a token and a path.</summary>
    public const int MaxMessageBytes = 96 * 1024;

    // Every relayed session from just before it is opened until it ends, by the cloud's session id; see RelayedSession.
    private readonly ConcurrentDictionary<string, RelayedSession> _byCloudId = new(StringComparer.Ordinal);

    /// <summary>Relayed sessions known now (opening or running): what a cloud close would find.</summary>
    internal int RelayedCount => _byCloudId.Count;

    public IReadOnlyList<string> SubTopics { get; } = [CloudTopics.WebRtcOfferSubTopic, CloudTopics.WebRtcCloseSubTopic];

    public void Receive(string subTopic, ReadOnlySpan<byte> payload)
    {
        if (payload.Length > MaxMessageBytes)
        {
            LogMalformed(logger, subTopic, "larger than " + MaxMessageBytes + " bytes");
            return;
        }
        if (subTopic == CloudTopics.WebRtcOfferSubTopic)
        {
            OfferMessage? offer;
            try
            {
                offer = JsonSerializer.Deserialize(payload, SignallingJson.Default.OfferMessage);
            }
            catch (JsonException e)
            {
                LogMalformed(logger, subTopic, e.Message);
                return;
            }
            if (offer is null || string.IsNullOrEmpty(offer.SessionId) || offer.SessionId.Length > 128)
            {
                LogMalformed(logger, subTopic, "no sessionId");
                return;
            }
            // Off the MQTT thread: starting the stream may take seconds.
            _ = Task.Run(() => AnswerAsync(offer));
        }
        else if (subTopic == CloudTopics.WebRtcCloseSubTopic)
        {
            CloseMessage? close;
            try
            {
                close = JsonSerializer.Deserialize(payload, SignallingJson.Default.CloseMessage);
            }
            catch (JsonException e)
            {
                LogMalformed(logger, subTopic, e.Message);
                return;
            }
            if (close?.SessionId is { } id && _byCloudId.TryRemove(id, out var relayed))
            {
                var reason = "closed through the cloud" + (string.IsNullOrEmpty(close.Reason) ? "" : ": " + Truncate(close.Reason));
                // Still opening: the opener closes it as soon as it has the session id.
                if (relayed.ClosedByCloud(reason) is { } session)
                {
                    viewing().Close(session.SessionId, session.Account, reason);
                }
            }
        }
    }

    private async Task AnswerAsync(OfferMessage offer)
    {
        var cloudId = offer.SessionId!;
        var relayed = new RelayedSession();
        try
        {
            var answer = await OpenAsync(offer, cloudId, relayed).ConfigureAwait(false);
            var message = answer.Succeeded
                ? new AnswerMessage(cloudId, 201, answer.AnswerSdp, null)
                : new AnswerMessage(cloudId, answer.Status, null, Problem(answer));
            publisher().Publish(CloudTopics.WebRtcAnswerSubTopic, JsonSerializer.SerializeToUtf8Bytes(message, SignallingJson.Default.AnswerMessage), retain: false);
            LogAnswered(logger, cloudId, answer.Status);
        }
        catch (Exception e)
        {
            LogFailed(logger, e, cloudId);
        }
        finally
        {
            // :: Step 4: after the answer (or its failure), so that the cloud never sees a close before the 201.
            if (relayed.Answered() is { } reason)
            {
                PublishClose(cloudId, reason);
            }
        }
    }

    private async Task<WebRtcAnswer> OpenAsync(OfferMessage offer, string cloudId, RelayedSession relayed)
    {
        // :: Step 2: the token decides who the viewer is.
        var auth = string.IsNullOrEmpty(offer.Token) ? AuthResult.Missing : authenticator.Authenticate(new ViewerCredentials(null, null, null, offer.Token), null);
        if (auth.Status != AuthStatus.Ok || string.IsNullOrEmpty(auth.Account))
        {
            return WebRtcAnswer.Refused(401, "the token is not valid for this gateway: " + (auth.Reason ?? auth.Status.ToString()));
        }
        if (offer.Path is not null && offer.Path.StartsWith("/playback/", StringComparison.Ordinal))
        {
            return await OpenPlaybackAsync(offer, cloudId, relayed, auth.Account).ConfigureAwait(false);
        }
        if (!TryParseLivePath(offer.Path, out var deviceId, out var channel, out var kind))
        {
            return WebRtcAnswer.Refused(404, "cloud signalling serves /live/{deviceId}/{channel}/{main|sub} and /playback/{deviceId}/{channel}?start=…&end=…");
        }
        if (string.IsNullOrEmpty(offer.Sdp))
        {
            return WebRtcAnswer.Refused(400, "the message has no sdp");
        }
        var account = auth.Account;
        var request = new WebRtcLiveOffer(account, deviceId, channel, kind, System.Text.Encoding.UTF8.GetBytes(offer.Sdp), "cloud", null, WebRtcSignalling.Cloud);
        // :: Step 3
        return await OpenRelayedAsync(cloudId, relayed, account,
            ended => viewing().OpenLiveAsync(request with { Ended = ended }, CancellationToken.None)).ConfigureAwait(false);
    }

    /// <summary>Playback through the cloud: the same checks as <c>POST /whep/playback/…</c> (the <c>playback</c> grant, in the viewing service).</summary>
    private async Task<WebRtcAnswer> OpenPlaybackAsync(OfferMessage offer, string cloudId, RelayedSession relayed, string account)
    {
        if (!TryParsePlaybackPath(offer.Path, out var deviceId, out var channel, out var start, out var end))
        {
            return WebRtcAnswer.Refused(404, "cloud playback paths are /playback/{deviceId}/{channel}?start=…&end=… (UTC, e.g. 20261125T100000Z; end optional, after start)");
        }
        if (string.IsNullOrEmpty(offer.Sdp))
        {
            return WebRtcAnswer.Refused(400, "the message has no sdp");
        }
        if (playback?.Invoke() is not { } service)
        {
            return WebRtcAnswer.Refused(503, "playback is not available on this gateway");
        }
        var request = new WebRtcPlaybackOffer(account, deviceId, channel, start, end, System.Text.Encoding.UTF8.GetBytes(offer.Sdp), "cloud", null);
        return await OpenRelayedAsync(cloudId, relayed, account,
            ended => service.OpenPlaybackAsync(request with { Ended = ended }, CancellationToken.None)).ConfigureAwait(false);
    }

    /// <summary>
    /// Step 3 for live and playback alike: <paramref name="open"/> is given the offer's <c>Ended</c>. The entry is in
    /// <see cref="_byCloudId"/> before the session exists, so an end at the gateway while the open still runs (a
    /// revocation, a handshake that fails at once) finds it, and a cloud close meanwhile is kept for the opener.
    /// </summary>
    private async Task<WebRtcAnswer> OpenRelayedAsync(string cloudId, RelayedSession relayed, string account, Func<Action<string, string>, Task<WebRtcAnswer>> open)
    {
        // A second offer with a running session's id takes the id over; the first one's end then publishes nothing
        // (its entry is gone) and it ends by DTLS or revocation as any session the cloud no longer knows.
        _byCloudId[cloudId] = relayed;
        WebRtcAnswer answer;
        try
        {
            answer = await open((_, reason) => EndedAtGateway(cloudId, relayed, reason)).ConfigureAwait(false);
        }
        catch
        {
            _byCloudId.TryRemove(new KeyValuePair<string, RelayedSession>(cloudId, relayed));
            throw;
        }
        if (!answer.Succeeded)
        {
            _byCloudId.TryRemove(new KeyValuePair<string, RelayedSession>(cloudId, relayed));
            return answer;
        }
        if (relayed.Opened(answer.SessionId!, account) is { } closedByCloud)
        {
            // The cloud's webrtc/close came while the session was being opened; its end publishes nothing (no entry).
            viewing().Close(answer.SessionId!, account, closedByCloud);
        }
        return answer;
    }

    /// <summary>The offer's <c>Ended</c>: once per session, on whichever thread ended it, no lock of the viewing service held.</summary>
    private void EndedAtGateway(string cloudId, RelayedSession relayed, string reason)
    {
        // Not there: the cloud closed it (it knows), or the id was taken over by a later offer.
        if (!_byCloudId.TryRemove(new KeyValuePair<string, RelayedSession>(cloudId, relayed)))
        {
            return;
        }
        if (relayed.EndedBeforeAnswer(reason))
        {
            return; // published by AnswerAsync once the answer is out
        }
        PublishClose(cloudId, reason);
    }

    private void PublishClose(string cloudId, string reason)
    {
        publisher().Publish(CloudTopics.WebRtcCloseSubTopic,
            JsonSerializer.SerializeToUtf8Bytes(new CloseMessage(cloudId, reason), SignallingJson.Default.CloseMessage), retain: false);
        LogClosePublished(logger, cloudId, reason);
    }

    /// <summary>
    /// One relayed session's signalling state, between the three threads that may touch it: the opener (session id known,
    /// answer published), the viewing service ending the session, and the MQTT thread with the cloud's close. The
    /// dictionary entry says whether the cloud still has to be told; this says when (not before the answer) and to whom a
    /// close that came early goes. Nothing is called under its lock.
    /// </summary>
    private sealed class RelayedSession
    {
        private readonly Lock _gate = new();
        private (string SessionId, string Account)? _session;
        private string? _closedByCloud, _endedBeforeAnswer;
        private bool _answered;

        /// <summary>The cloud closed it: the session to close now, or null when the opener must (it has no id yet).</summary>
        public (string SessionId, string Account)? ClosedByCloud(string reason)
        {
            lock (_gate)
            {
                if (_session is null)
                {
                    _closedByCloud = reason;
                }
                return _session;
            }
        }

        /// <summary>The open succeeded: the reason of a cloud close that came meanwhile, or null.</summary>
        public string? Opened(string sessionId, string account)
        {
            lock (_gate)
            {
                _session = (sessionId, account);
                return _closedByCloud;
            }
        }

        /// <summary>It ended at the gateway: true when the answer is not out yet (the close then waits for it).</summary>
        public bool EndedBeforeAnswer(string reason)
        {
            lock (_gate)
            {
                if (_answered)
                {
                    return false;
                }
                _endedBeforeAnswer = reason;
                return true;
            }
        }

        /// <summary>The answer is out (or failed): the reason of an end at the gateway still to publish, or null.</summary>
        public string? Answered()
        {
            lock (_gate)
            {
                _answered = true;
                return _endedBeforeAnswer;
            }
        }
    }

    /// <summary><c>/playback/{deviceId}/{channel}?start=…[&amp;end=…]</c>, times UTC in the basic (<c>20261125T100000Z</c>) or extended ISO 8601 form.</summary>
    public static bool TryParsePlaybackPath(string? path, out string deviceId, out int channel, out DateTimeOffset start, out DateTimeOffset? end)
    {
        deviceId = "";
        channel = 0;
        start = default;
        end = null;
        if (path is null || !path.StartsWith("/playback/", StringComparison.Ordinal)) return false;
        var q = path.IndexOf('?', StringComparison.Ordinal);
        if (q < 0) return false;
        var parts = path[10..q].Split('/');
        if (parts.Length != 2 || parts[0].Length == 0) return false;
        if (!int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out channel) || channel < 1) return false;
        string? startText = null, endText = null;
        foreach (var pair in path[(q + 1)..].Split('&'))
        {
            var eq = pair.IndexOf('=', StringComparison.Ordinal);
            var (key, value) = eq < 0 ? (pair, "") : (pair[..eq], Uri.UnescapeDataString(pair[(eq + 1)..]));
            if (key == "start") startText = value;
            else if (key == "end") endText = value;
        }
        if (startText is null || !TryUtc(startText, out start)) return false;
        if (endText is not null)
        {
            if (!TryUtc(endText, out var e) || e <= start) return false;
            end = e;
        }
        deviceId = Uri.UnescapeDataString(parts[0]);
        return true;
    }

    private static bool TryUtc(string text, out DateTimeOffset value)
        => DateTimeOffset.TryParseExact(text, "yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out value)
            || (text.EndsWith('Z') && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out value));

    /// <summary><c>/live/{deviceId}/{channel}</c> with an optional <c>/main</c> or <c>/sub</c> (contract §5).</summary>
    public static bool TryParseLivePath(string? path, out string deviceId, out int channel, out StreamKind kind)
    {
        deviceId = "";
        channel = 0;
        kind = StreamKind.Main;
        if (path is null || !path.StartsWith("/live/", StringComparison.Ordinal)) return false;
        var parts = path[6..].Split('/');
        if (parts.Length is < 2 or > 3 || parts[0].Length == 0) return false;
        if (!int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out channel) || channel < 1) return false;
        if (parts.Length == 3)
        {
            if (parts[2] == "sub") kind = StreamKind.Sub;
            else if (parts[2] != "main") return false;
        }
        deviceId = Uri.UnescapeDataString(parts[0]);
        return true;
    }

    private static ProblemMessage Problem(WebRtcAnswer answer) => answer.Status switch
    {
        401 => new("urn:hikshare:problem:unauthorized", "Authentication required", 401, answer.Detail),
        403 => new("urn:hikshare:problem:forbidden", "Not permitted", 403, "Your account has no grant for this operation on this device and channel."),
        404 => new("urn:hikshare:problem:not-found", "Not found", 404, answer.Detail),
        422 => new("urn:hikshare:problem:no-common-codec", "No common codec", 422, answer.Detail),
        503 => new("urn:hikshare:problem:at-capacity", "At capacity", 503, answer.Detail),
        400 => new("urn:hikshare:problem:bad-offer", "Not a usable SDP offer", 400, answer.Detail),
        _ => new("urn:hikshare:problem:device-error", "Device error", answer.Status, answer.Detail),
    };

    private static string Truncate(string s) => s.Length <= 200 ? s : s[..200];

    [LoggerMessage(EventId = 7120, Level = LogLevel.Warning, Message = "Dropped a cloud {SubTopic} message: {Reason}")]
    private static partial void LogMalformed(ILogger logger, string subTopic, string reason);

    [LoggerMessage(EventId = 7121, Level = LogLevel.Information, Message = "Answered cloud WebRTC offer {CloudSessionId}: {Status}")]
    private static partial void LogAnswered(ILogger logger, string cloudSessionId, int status);

    [LoggerMessage(EventId = 7123, Level = LogLevel.Information, Message = "Published webrtc/close for cloud WebRTC session {CloudSessionId}: {Reason}")]
    private static partial void LogClosePublished(ILogger logger, string cloudSessionId, string reason);

    [LoggerMessage(EventId = 7122, Level = LogLevel.Error, Message = "Answering cloud WebRTC offer {CloudSessionId} failed unexpectedly")]
    private static partial void LogFailed(ILogger logger, Exception exception, string cloudSessionId);
}

/// <summary>The §3.1 messages (camelCase JSON).</summary>
public sealed record OfferMessage(string? SessionId, string? Token, string? Path, string? Sdp);

public sealed record CloseMessage(string? SessionId, string? Reason);

public sealed record ProblemMessage(string Type, string Title, int Status, string Detail);

public sealed record AnswerMessage(
    string SessionId,
    int Status,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Sdp,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] ProblemMessage? Problem);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(OfferMessage))]
[JsonSerializable(typeof(CloseMessage))]
[JsonSerializable(typeof(AnswerMessage))]
internal sealed partial class SignallingJson : JsonSerializerContext;
