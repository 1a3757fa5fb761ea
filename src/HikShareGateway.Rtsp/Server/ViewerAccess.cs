using System.Net;
using HikShareGateway.Core.Access;
using HikShareGateway.Rtsp.Protocol;
using Microsoft.Extensions.Logging;

namespace HikShareGateway.Rtsp.Server;

/// <summary>
/// Who one viewer connection is and what it may do: authentication (remembering a token verified once), authorization
/// with <see cref="IAccessPolicy"/> (default deny), the <see cref="ISessionRegistry"/> registration that a grant change
/// revokes, and the audit of allow, deny and end. The connection keeps the RTSP state machine; this keeps the identity.
/// </summary>
internal sealed partial class ViewerAccess(ViewerServices services, string remote, IPAddress? remoteAddress, string connectionId, AdmissionTicket? ticket = null)
{
    private string? _account;
    private ViewerCredentials _verified;
    private IDisposable? _registration;
    private ViewerSession? _session;

    public string? Account => _account;

    /// <summary>True once a PLAY registered the session (until <see cref="End"/>).</summary>
    public bool Registered => _registration is not null;

    /// <summary>True when the registry revoked the session (it audited that itself).</summary>
    public bool Revoked { get; private set; }

    /// <summary>Who is asking (contract §4). Throws 401 on missing or bad credentials, 403 for another account.</summary>
    public string Authenticate(RtspMessage request, ViewerRequestPath path)
    {
        var authorization = request.Headers.Get("Authorization");
        string? basicUser = null, basicPassword = null;
        if (RtspAuth.TryParseBasic(authorization, out var u, out var p))
        {
            (basicUser, basicPassword) = (u, p);
        }
        var credentials = new ViewerCredentials(path.Token, basicUser, basicPassword, RtspAuth.TryParseBearer(authorization));
        if (credentials.IsEmpty && _account is not null)
        {
            // Players send the token once (ffmpeg drops the query from some URLs); the connection keeps the identity.
            return _account;
        }
        if (_account is not null && credentials == _verified)
        {
            // The same token as before on this connection: its signature was verified once already
            // (tokens are checked at session start; grants, not tokens, cut running sessions).
            return _account;
        }
        var result = services.Authenticator.Authenticate(credentials, remoteAddress);
        if (result.Status != AuthStatus.Ok)
        {
            if (result.Status != AuthStatus.NoCredentials)
            {
                LogAuthFailed(services.Logger, remote, result.Reason ?? "invalid");
            }
            throw new RtspRefusal(401, result.Reason ?? "authentication required");
        }
        if (_account is not null && !string.Equals(_account, result.Account, StringComparison.Ordinal))
        {
            throw new RtspRefusal(403, "this connection belongs to another account");
        }
        if (ticket is not null && !ticket.TryAuthenticate())
        {
            // The authenticated pool (Rtsp:MaxConnections) is full: counted and reported by the server.
            throw new RtspRefusal(503, "the server has no room for another viewer; try again later");
        }
        _account = result.Account;
        _verified = credentials;
        return _account!;
    }

    /// <summary>Authentication then authorization of <paramref name="action"/>; a denial is audited and throws 403.</summary>
    public string Authorize(RtspMessage request, ViewerRequestPath path, Privilege action, string? sessionId)
    {
        var account = Authenticate(request, path);
        if (!services.Policy.IsAllowed(account, path.DeviceId, path.Channel, action))
        {
            services.Audit.Record(new AuditEvent(services.Time.GetUtcNow(), sessionId ?? connectionId, account, path.DeviceId, path.Channel, action, AuditDecision.Deny,
                $"no {action.ToContractName()} grant", remote));
            throw new RtspRefusal(403, "not permitted");
        }
        return account;
    }

    /// <summary>The first successful PLAY: registers the session, whose revocation calls <paramref name="abort"/>.</summary>
    public void Register(string sessionId, string account, ViewerRequestPath path, Privilege action, Action<string> abort)
    {
        _session = new ViewerSession
        {
            SessionId = sessionId,
            Account = account,
            DeviceId = path.DeviceId,
            Channel = path.Channel,
            Action = action,
            Remote = remote,
            Revoke = reason =>
            {
                Revoked = true;
                abort("revoked: " + reason);
            },
        };
        _registration = services.Sessions.Register(_session);
    }

    /// <summary>Audits the start of the registered session.</summary>
    public void AuditStarted() => Record(AuditDecision.Allow, "session started");

    /// <summary>Ends the registration; audits the end unless the registry revoked it (and audited that).</summary>
    public void End(string? reason)
    {
        if (_registration is null)
        {
            return;
        }
        _registration.Dispose();
        _registration = null;
        if (!Revoked)
        {
            Record(AuditDecision.End, reason ?? "ended");
        }
    }

    private void Record(AuditDecision decision, string reason)
    {
        var s = _session!;
        services.Audit.Record(new AuditEvent(services.Time.GetUtcNow(), s.SessionId, s.Account, s.DeviceId, s.Channel, s.Action, decision, reason, remote));
    }

    // Debug: the authenticator logs failures per address without flooding (first at Information, the limit at Warning).
    [LoggerMessage(EventId = 2301, Level = LogLevel.Debug, Message = "Viewer {Remote} failed authentication: {Reason}")]
    private static partial void LogAuthFailed(ILogger logger, string remote, string reason);
}
