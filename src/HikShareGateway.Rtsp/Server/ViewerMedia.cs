using System.Buffers;
using HikShareGateway.Core.Access;
using HikShareGateway.Rtsp.Protocol;

namespace HikShareGateway.Rtsp.Server;

/// <summary>
/// What a viewer's DESCRIBE resolved to, once authorized: the live relay, a playback session, a talk
/// (backchannel) session. The connection owns RTSP, authorization and the send queue; the media owns
/// where packets come from and go to.
/// </summary>
public interface IViewerMedia : IAsyncDisposable
{
    /// <summary>The privilege this media needs (checked at start and on every grant change).</summary>
    Privilege Action { get; }

    /// <summary>The SDP for the viewer, rebuilt by the gateway.</summary>
    string Sdp { get; }

    int TrackCount { get; }

    /// <summary>True when a joining viewer must start at a keyframe.</summary>
    bool HasVideo { get; }

    /// <summary>
    /// SETUP of <paramref name="track"/> with <paramref name="requestUri"/>, exactly as the viewer sent it (players
    /// match RTP-Info urls against it literally). Most media need not know.
    /// </summary>
    void OnSetup(int track, string requestUri) { }

    /// <summary>
    /// PLAY: returns the response to send, and what to do right after it is queued (e.g. subscribe to the
    /// relay, so that packets follow the response on the wire).
    /// </summary>
    Task<(RtspMessage Response, Action? AfterResponse)> PlayAsync(RtspMessage request, ViewerOutput output, CancellationToken ct);

    /// <summary>PAUSE: stop delivering to <paramref name="output"/>.</summary>
    Task<RtspMessage> PauseAsync(RtspMessage request, ViewerOutput output, CancellationToken ct);

    /// <summary>The viewer stopped (TEARDOWN, disconnect, revocation): stop delivering to <paramref name="output"/>.</summary>
    void Stop(ViewerOutput output);

    /// <summary>An interleaved frame from the viewer on <paramref name="track"/> (RTCP receiver reports, backchannel audio).</summary>
    void OnViewerPacket(int track, bool rtcp, ReadOnlySequence<byte> packet);

    /// <summary>Raised when the media ends by itself (upstream changed, end of recording); the connection closes.</summary>
    event Action<string>? Ended;
}

/// <summary>What the connection tells the media about the viewer it serves.</summary>
public sealed record ViewerContext(string Account, string SessionId, long SdpSessionId, string Remote);

/// <summary>
/// Resolves an authorized viewer request to its <see cref="IViewerMedia"/> (implemented above the server, by
/// <c>HikShareGateway.Rtsp.ViewerMediaResolver</c>, so the server never depends on playback or talk).
/// </summary>
public interface IViewerMediaResolver
{
    /// <summary>The privilege the request needs, before anything touches a device; throws <see cref="RtspRefusal"/> (551) for an unknown <c>Require</c>.</summary>
    Privilege RequiredPrivilege(ViewerRequestPath path, RtspMessage request);

    /// <summary>Opens the media of an authorized request; throws <see cref="RtspRefusal"/>.</summary>
    Task<IViewerMedia> OpenAsync(ViewerRequestPath path, RtspMessage request, ViewerContext viewer, CancellationToken ct);
}

/// <summary>A refusal with an RTSP status, raised while resolving media (mapped from device failures).</summary>
public sealed class RtspRefusal(int status, string reason, params (string Name, string Value)[] headers) : Exception(reason)
{
    public int Status { get; } = status;
    public (string Name, string Value)[] Headers { get; } = headers;
}
