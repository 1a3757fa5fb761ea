using System.Net;
using HikShareGateway.Core.Protocols;

namespace HikShareGateway.Core.Access;

/// <summary>What a viewer presented (contract §4). Any of the three may be set; none means "no credentials".</summary>
/// <param name="QueryToken">The <c>?token=</c> URL query parameter.</param>
/// <param name="BasicUser">The user of <c>Authorization: Basic</c> (the account).</param>
/// <param name="BasicPassword">The password of <c>Authorization: Basic</c> (the token).</param>
/// <param name="BearerToken">The token of <c>Authorization: Bearer</c>.</param>
/// <param name="Digest"><c>Authorization: Digest</c> (contract §4.1, RTSP credentials only), already checked by the
/// protocol for its realm and nonce; the authenticator checks the response against the stored HA1.</param>
/// <param name="DigestMethod">The request method the Digest response covers (RFC 7616 §3.4.3 A2).</param>
public readonly record struct ViewerCredentials(string? QueryToken, string? BasicUser, string? BasicPassword, string? BearerToken,
    DigestCredentials? Digest = null, string? DigestMethod = null)
{
    public bool IsEmpty => QueryToken is null && BasicPassword is null && BearerToken is null && BasicUser is null && Digest is null;

    /// <summary>Never prints a token or password.</summary>
    public override string ToString() => IsEmpty ? "(none)" : "(credentials present)";
}

public enum AuthStatus
{
    /// <summary>A valid token; <see cref="AuthResult.Account"/> is set.</summary>
    Ok,
    /// <summary>Nothing presented: RTSP answers 401 with a Basic challenge.</summary>
    NoCredentials,
    /// <summary>Invalid, expired, wrong audience, Basic user ≠ sub: 401.</summary>
    Invalid,
    /// <summary>Too many failures from this address recently: 401 without checking (the reason says so).</summary>
    RateLimited,
}

/// <param name="Reason">A short reason for logs and audit; never contains the token.</param>
/// <param name="ExpiresAt">When what was presented stops being valid (the token's <c>exp</c>, or an RTSP credential's end).</param>
public readonly record struct AuthResult(AuthStatus Status, string? Account, string? Reason, DateTimeOffset? ExpiresAt = null)
{
    public static AuthResult Success(string account, DateTimeOffset? expiresAt = null) => new(AuthStatus.Ok, account, null, expiresAt);
    public static AuthResult Missing { get; } = new(AuthStatus.NoCredentials, null, "no credentials");
    public static AuthResult Fail(string reason) => new(AuthStatus.Invalid, null, reason);
}

/// <summary>Turns what a viewer presented into an account (who). The grants decide what (<see cref="IAccessPolicy"/>).</summary>
public interface IViewerAuthenticator
{
    AuthResult Authenticate(in ViewerCredentials credentials, IPAddress? remote);
}
