using System.Net;

namespace HikShareGateway.Core.WebRtc;

/// <summary>An SDP offer for playback of a recorded span (contract §5.1 <c>POST /whep/playback/{deviceId}/{channel}?start=…&amp;end=…</c>).</summary>
/// <param name="End">Null: until the recording ends.</param>
public sealed record WebRtcPlaybackOffer(
    string Account,
    string DeviceId,
    int Channel,
    DateTimeOffset Start,
    DateTimeOffset? End,
    ReadOnlyMemory<byte> Sdp,
    string Remote,
    IPAddress? RemoteAddress)
{
    /// <summary>The speed to start at (<c>&amp;scale=</c>; 1 = normal), as <see cref="WebRtcPlaybackControl.Scale"/>.</summary>
    public double Scale { get; init; } = 1;

    /// <summary>
    /// Called once with the reason when the session ends, however it ends (cloud signalling publishes <c>webrtc/close</c>),
    /// as <see cref="WebRtcLiveOffer.Ended"/>. The end of the recording is not an end: the session stays for a seek.
    /// </summary>
    public Action<string, string>? Ended { get; init; }
}

/// <summary>One control of a playback session (<c>POST /whep/sessions/{id}/seek</c>): exactly one of the three is set.</summary>
public sealed record WebRtcPlaybackControl(DateTimeOffset? Start = null, double? Scale = null, bool? Pause = null);

/// <summary>How a control went: the HTTP status (204 done, 404 no such playback session of this account, 502/504 the
/// recorder, a speed it refuses among them) with a short detail, and the position the session is at afterwards.</summary>
public readonly record struct WebRtcPlaybackControlResult(int Status, string Detail, DateTimeOffset? Position = null, bool Paused = false);

/// <summary>
/// WebRTC playback (contract §5.1): the recorded span over a viewer's own upstream session (nothing shared), authorized
/// by <c>playback</c>, registered and audited like live; seek and pause through <see cref="ControlAsync"/>. Sessions end
/// through <see cref="IWebRtcViewing.Close"/> like live ones.
/// </summary>
public interface IWebRtcPlayback
{
    Task<WebRtcAnswer> OpenPlaybackAsync(WebRtcPlaybackOffer offer, CancellationToken ct);

    Task<WebRtcPlaybackControlResult> ControlAsync(string sessionId, string account, WebRtcPlaybackControl control, CancellationToken ct);
}
