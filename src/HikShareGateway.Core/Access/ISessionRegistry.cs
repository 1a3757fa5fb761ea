namespace HikShareGateway.Core.Access;

/// <summary>
/// A running viewer session (live, playback, talk) or a running PTZ move, registered so that it can be
/// cut when its grant goes away (contract §4: within 100 ms of the change being applied).
/// </summary>
public sealed class ViewerSession
{
    public required string SessionId { get; init; }
    public required string Account { get; init; }
    public required string DeviceId { get; init; }
    public required int Channel { get; init; }
    /// <summary>The single privilege this session uses.</summary>
    public required Privilege Action { get; init; }
    /// <summary>"ip:port" of the viewer.</summary>
    public required string Remote { get; init; }
    /// <summary>
    /// Called once, on a grant change that removed the session's privilege. Must close the session
    /// promptly and must not block (queue the close, do not await I/O here).
    /// </summary>
    public required Action<string> Revoke { get; init; }
}

public interface ISessionRegistry
{
    /// <summary>Registers a session that was just allowed. Dispose the result when the session ends.</summary>
    IDisposable Register(ViewerSession session);

    /// <summary>A snapshot of the sessions running now (for status and metrics).</summary>
    IReadOnlyList<ViewerSession> ActiveSessions { get; }
}
