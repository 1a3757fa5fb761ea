using System.Net;
using HikShareGateway.Core.Access;
using HikShareGateway.Core.Protocols;
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
    /// <summary>The realm of the gateway's RTSP credentials (contract §4.1).</summary>
    public const string Realm = "HikShareGateway";

    private string? _account;
    private bool _digestFailed;
    private ViewerCredentials _verified;
    private IDisposable? _registration;
    private ViewerSession? _session;

    public string? Account => _account;

    /// <summary>True once a PLAY registered the session (until <see cref="End"/>).</summary>
    public bool Registered => _registration is not null;

    /// <summary>True when the registry revoked the session (it audited that itself).</summary>
    public bool Revoked { get; private set; }

    /// <summary>
    /// Who is asking (contract §4, §4.1). Throws 401 on missing or bad credentials — with the Basic challenge and a
    /// Digest challenge per algorithm (SHA-256, then MD5) on a nonce of this connection — and 403 for another account.
    /// </summary>
    public string Authenticate(RtspMessage request, ViewerRequestPath path)
    {
        var (authorization, digest) = ChooseAuthorization(request);
        string? basicUser = null, basicPassword = null;
        if (RtspAuth.TryParseBasic(authorization, out var u, out var p))
        {
            (basicUser, basicPassword) = (u, p);
        }
        if (digest is not null && !string.Equals(digest.Realm, Realm, StringComparison.Ordinal))
        {
            throw Unauthorized("Digest realm is not " + Realm, stale: false);
        }
        var credentials = new ViewerCredentials(path.Token, basicUser, basicPassword, RtspAuth.TryParseBearer(authorization), digest, digest is null ? null : request.Method);
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
            // A player that prefers Digest (GStreamer) answers it even when its password is a viewer token, which no
            // Digest can carry: once a Digest answer failed, this connection is offered Basic only, and such a player
            // sends the token again as Basic.
            _digestFailed |= digest is not null;
            throw Unauthorized(result.Reason ?? "authentication required", stale: false);
        }
        if (digest is not null && credentials is { BearerToken: null, QueryToken: null }
            && services.Nonces.Check(digest.Nonce, connectionId, services.Time.GetUtcNow()) != NonceStatus.Valid)
        {
            // The right password on a nonce that is old or not this connection's (RFC 7616 §3.3 stale): ask again with a
            // fresh one; a player answers without asking its user.
            throw Unauthorized("Digest nonce expired or not issued on this connection", stale: true);
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

    /// <summary>
    /// The <c>Authorization</c> to use when a request has several: Bearer or Basic before Digest. GStreamer's rtspsrc,
    /// offered Basic only after its Digest answer failed, adds a Basic header and keeps the Digest one first.
    /// </summary>
    private static (string? Authorization, DigestCredentials? Digest) ChooseAuthorization(RtspMessage request)
    {
        string? first = null;
        DigestCredentials? digest = null;
        foreach (var value in request.Headers.GetAll("Authorization"))
        {
            first ??= value;
            if (value.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase) || value.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
            {
                return (value, null);
            }
            if (digest is null && Digest.TryParseCredentials(value, out var d))
            {
                digest = d;
            }
        }
        return (first, digest);
    }

    /// <summary>A 401 with the challenges of contract §4.1 (the Basic one is added by the connection, first, as in v1).</summary>
    private RtspRefusal Unauthorized(string reason, bool stale)
    {
        if (_digestFailed)
        {
            return new RtspRefusal(401, reason);
        }
        var nonce = services.Nonces.Issue(connectionId, services.Time.GetUtcNow());
        return new RtspRefusal(401, reason,
            ("WWW-Authenticate", Digest.Challenge(Realm, nonce, DigestAlgorithm.Sha256, stale: stale)),
            ("WWW-Authenticate", Digest.Challenge(Realm, nonce, DigestAlgorithm.Md5, stale: stale)));
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
