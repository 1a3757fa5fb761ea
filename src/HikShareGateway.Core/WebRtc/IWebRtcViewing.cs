using System.Net;
using HikShareGateway.Core.Devices;

namespace HikShareGateway.Core.WebRtc;

/// <summary>How an offer reached the gateway (a metrics and audit tag).</summary>
public enum WebRtcSignalling { Whep, Cloud }

/// <summary>
/// A viewer's WebRTC offer for a live stream, from an authenticated account (contract §5.1 WHEP, §3.1 cloud
/// signalling): the caller has turned the viewer token into <paramref name="Account"/>; authorization is the
/// service's (<c>IAccessPolicy</c>, default deny).
/// </summary>
/// <param name="Remote">"ip:port" of the viewer as the signalling saw it (audit; "cloud" for cloud signalling).</param>
public sealed record WebRtcLiveOffer(
    string Account,
    string DeviceId,
    int Channel,
    StreamKind Stream,
    ReadOnlyMemory<byte> Sdp,
    string Remote,
    IPAddress? RemoteAddress,
    WebRtcSignalling Signalling)
{
    /// <summary>Called once with the reason when the session ends, however it ends (cloud signalling publishes <c>webrtc/close</c>).</summary>
    public Action<string, string>? Ended { get; init; }
}

/// <summary>
/// The answer to an offer: <see cref="Status"/> 201 with <see cref="SessionId"/> and <see cref="AnswerSdp"/>, or an
/// error status (400 not SDP, 403 not permitted, 404 no such device or channel, 422 no common codec, 502/504 device,
/// 503 at capacity) with a short <see cref="Detail"/> that never names a secret or the device's address.
/// </summary>
public sealed record WebRtcAnswer(int Status, string? SessionId, string? AnswerSdp, string Detail)
{
    public bool Succeeded => Status == 201;

    public static WebRtcAnswer Refused(int status, string detail) => new(status, null, null, detail);
}

/// <summary>
/// WebRTC viewing (contract §5.1): one session per accepted offer, registered in <c>ISessionRegistry</c> so that a grant
/// change closes it, audited like RTSP. The HTTP WHEP endpoint and the cloud signalling both call it.
/// </summary>
public interface IWebRtcViewing
{
    Task<WebRtcAnswer> OpenLiveAsync(WebRtcLiveOffer offer, CancellationToken ct);

    /// <summary>
    /// Trickle ICE (RFC 8840 fragment, WHEP PATCH): the fragment's candidates go to the session's ICE agent (an ICE
    /// restart, another ufrag, is not done and changes nothing). False when no session <paramref name="sessionId"/> of
    /// <paramref name="account"/> runs.
    /// </summary>
    bool AcceptTrickle(string sessionId, string account, ReadOnlySpan<byte> fragment);

    /// <summary>Ends a session of <paramref name="account"/>; false when none with that id runs for it.</summary>
    bool Close(string sessionId, string account, string reason);

    /// <summary>Sessions running now.</summary>
    int SessionCount { get; }
}
