namespace HikShareGateway.Core.Access;

/// <summary>One issued RTSP credential as the API lists it (never with its password).</summary>
public sealed record RtspCredentialInfo(string Id, string Username, DateTimeOffset CreatedAt, DateTimeOffset ExpiresAt);

/// <summary>A credential just issued: the only time its password exists outside the viewer.</summary>
public sealed record IssuedRtspCredential(RtspCredentialInfo Info, string Password);

public enum RtspCredentialIssue { Issued, TooMany, TokenExpired }

/// <summary>
/// RTSP credentials for players that cannot carry a token (contract §4.1): issued for the account of a verified viewer
/// token, never beyond its expiry. Who they are is all they say; the grants still decide what.
/// </summary>
public interface IRtspCredentials
{
    RtspCredentialIssue TryIssue(string account, DateTimeOffset tokenExpiresAt, TimeSpan? ttl, out IssuedRtspCredential? issued);
    IReadOnlyList<RtspCredentialInfo> List(string account);
    bool Revoke(string account, string id);
}
