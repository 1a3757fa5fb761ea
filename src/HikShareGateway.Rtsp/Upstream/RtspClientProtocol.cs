using System.Collections.Concurrent;
using System.Globalization;
using HikShareGateway.Core.Devices;
using HikShareGateway.Rtsp.Protocol;

namespace HikShareGateway.Rtsp.Upstream;

/// <summary>
/// The client side of one upstream RTSP session as protocol, without the socket (MQTTnet's formatter to the
/// <see cref="Transport.RtspClientChannel"/>'s channel; <see cref="RtspUpstreamClient"/> is the adapter that joins them):
/// CSeq numbering and the request builder (User-Agent, Authorization for the current challenge with its nonce count,
/// Session, the session's own headers), the answer to an authentication challenge, the session id and timeout learnt
/// from SETUP, the keep-alive method and interval, and the matching of responses to the requests sent while the read
/// loop runs. Thread-safe where the read loop and senders meet (CSeq, nonce count, pending requests).
/// </summary>
public sealed class RtspClientProtocol(DeviceCredentials credentials, string userAgent)
{
    private readonly ConcurrentDictionary<int, PendingRequest> _pending = new();
    private int _cseq;
    private AuthChallenge? _challenge;
    private int _nonceCount;
    private volatile string _keepAliveMethod = "GET_PARAMETER";

    /// <summary>A request sent while the read loop runs, waiting for its response.</summary>
    public sealed class PendingRequest(Action<RtspMessage>? onReadLoop)
    {
        public TaskCompletionSource<RtspMessage> Response { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public Action<RtspMessage>? OnReadLoop { get; } = onReadLoop;
    }

    /// <summary>The session id the device gave in its first SETUP answer.</summary>
    public string? Session { get; private set; }

    /// <summary>The device's session timeout (RFC 2326 §12.37; 60 s when it names none or one under 5 s).</summary>
    public TimeSpan SessionTimeout { get; private set; } = TimeSpan.FromSeconds(60);

    /// <summary>GET_PARAMETER, or OPTIONS once the device answered a keep-alive with 405 or 501.</summary>
    public string KeepAliveMethod => _keepAliveMethod;

    /// <summary>Headers that go on every request of the session (ONVIF replay's or backchannel's <c>Require</c>).</summary>
    public IReadOnlyList<(string Name, string Value)> SessionHeaders { get; set; } = [];

    /// <summary>A request with the next CSeq and the session's headers; <paramref name="headers"/> come last.</summary>
    public RtspMessage BuildRequest(string method, string uri, IReadOnlyList<(string Name, string Value)> headers)
    {
        var request = RtspMessage.Request(method, uri);
        request.Headers.Add("CSeq", Interlocked.Increment(ref _cseq).ToString(CultureInfo.InvariantCulture));
        request.Headers.Add("User-Agent", userAgent);
        if (_challenge is { } challenge && credentials.Username is not null)
        {
            request.Headers.Add("Authorization", RtspAuth.Authorization(challenge, credentials.Username, credentials.Password ?? "", method, uri, Interlocked.Increment(ref _nonceCount)));
        }
        if (Session is not null && method is not "SETUP")
        {
            request.Headers.Add("Session", Session);
        }
        foreach (var (n, v) in SessionHeaders)
        {
            request.Headers.Add(n, v);
        }
        foreach (var (n, v) in headers)
        {
            request.Headers.Add(n, v);
        }
        return request;
    }

    /// <summary>
    /// True when the request that got <paramref name="response"/> should be sent once more: a 401 to the first attempt,
    /// with credentials to give and a challenge the gateway can answer (Digest preferred; a stale nonce is a new
    /// challenge). The challenge is then used by every later request.
    /// </summary>
    public bool TryTakeChallenge(RtspMessage response, int attempt)
    {
        if (response.StatusCode != 401 || attempt != 0 || credentials.Username is null
            || RtspAuth.Choose(response.Headers.GetAll("WWW-Authenticate")) is not { } challenge)
        {
            return false;
        }
        _challenge = challenge;
        Interlocked.Exchange(ref _nonceCount, 0);
        return true;
    }

    /// <summary>Learns the session id and timeout from a successful SETUP.</summary>
    public void OnSetupResponse(RtspMessage response)
    {
        if (response.StatusCode == 200 && response.Headers.Get("Session") is { } header)
        {
            var session = SessionHeader.Parse(header);
            Session = session.Id;
            if (session.TimeoutSeconds is { } seconds && seconds >= 5)
            {
                SessionTimeout = TimeSpan.FromSeconds(seconds);
            }
        }
    }

    /// <summary>How often the keep-alive loop wakes: half the session timeout or half the stall timeout, the shorter.</summary>
    public TimeSpan KeepAliveTick(TimeSpan stallTimeout) => TimeSpan.FromTicks(Math.Min(SessionTimeout.Ticks / 2, stallTimeout.Ticks / 2));

    /// <summary>During set-up: whether <paramref name="message"/> answers the request with <paramref name="cseq"/> (a device that sends no CSeq answers the one pending).</summary>
    public static bool IsResponseTo(RtspMessage message, int cseq) => message is { IsRequest: false } && (message.CSeq == cseq || message.CSeq < 0);

    /// <summary>Registers a request sent while the read loop runs; <see cref="OnResponse"/> completes it.</summary>
    public PendingRequest Expect(int cseq, Action<RtspMessage>? onReadLoop)
    {
        var pending = new PendingRequest(onReadLoop);
        _pending[cseq] = pending;
        return pending;
    }

    public void Forget(int cseq) => _pending.TryRemove(cseq, out _);

    /// <summary>
    /// A message the read loop received: a response to a pending request completes it (after running its read-loop
    /// action); a 405/501 to anything else was the keep-alive, which then becomes OPTIONS. Requests from the device are ignored.
    /// </summary>
    public void OnResponse(RtspMessage message)
    {
        if (message is { IsRequest: false } && _pending.TryRemove(message.CSeq, out var pending))
        {
            // RFC 2326 §10.12: responses arrive between interleaved frames; everything before this one
            // was sent before the device acted on the request, everything after it was sent after.
            pending.OnReadLoop?.Invoke(message);
            pending.Response.TrySetResult(message);
        }
        else if (message is { IsRequest: false, StatusCode: 405 or 501 })
        {
            // The keep-alive method is not supported: OPTIONS works everywhere.
            _keepAliveMethod = "OPTIONS";
        }
    }

    /// <summary>The read loop ended: every request still waiting fails with <paramref name="e"/>.</summary>
    public void FailPending(Exception e)
    {
        foreach (var key in _pending.Keys)
        {
            if (_pending.TryRemove(key, out var p))
            {
                p.Response.TrySetException(e);
            }
        }
    }
}
