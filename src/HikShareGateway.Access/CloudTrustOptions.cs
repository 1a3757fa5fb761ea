using HikShareGateway.Access.Jose;
using HikShareGateway.Core.Configuration;

namespace HikShareGateway.Access;

/// <summary>One entry of <c>Cloud:TrustedKeys</c>: a JWK (RFC 8037) with <c>kid</c>, <c>kty</c> OKP, <c>crv</c> Ed25519, <c>x</c>.</summary>
public sealed class JwkOptions
{
    public string? Kid { get; set; }
    public string? Kty { get; set; }
    public string? Crv { get; set; }
    public string? X { get; set; }
}

/// <summary>
/// The keys of section <c>Cloud</c> that say whom to trust (contract §2, §3, §9): <c>TrustedKeys</c> and
/// <c>MaxGrantMessageBytes</c>. The section's other keys (broker, topics, reconnect) belong to the cloud link
/// (<c>HikShareGateway.Cloud.CloudLinkOptions</c>); each key is bound and validated by its one owner.
/// </summary>
public sealed class CloudTrustOptions : IValidatableOptions
{
    public const string Section = "Cloud";

    /// <summary>The cloud keys grants and viewer tokens are checked against (several at once during a rotation).</summary>
    public List<JwkOptions> TrustedKeys { get; set; } = [];
    /// <summary>
    /// Largest grant message accepted, bytes; bigger ones are refused unread (the MQTT link skips them on the socket).
    /// Default 64 MiB: a snapshot of 100,000 shares over 500 recorders is 38 MiB signed (LargeOperatorGrantsTests).
    /// </summary>
    public int MaxGrantMessageBytes { get; set; } = 64 * 1024 * 1024;

    public void Validate(ICollection<string> errors)
    {
        var kids = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < TrustedKeys.Count; i++)
        {
            var k = TrustedKeys[i];
            if (!Ed25519PublicJwk.TryCreate(k.Kid, k.Kty, k.Crv, k.X, out _, out var error))
            {
                errors.Add($"Cloud:TrustedKeys:{i} is not a usable Ed25519 JWK: {error}.");
            }
            else if (!kids.Add(k.Kid!))
            {
                errors.Add($"Cloud:TrustedKeys:{i}: kid \"{k.Kid}\" appears twice.");
            }
        }
        if (MaxGrantMessageBytes is < 1024 or > 256 * 1024 * 1024)
        {
            errors.Add($"Cloud:MaxGrantMessageBytes {MaxGrantMessageBytes} must be 1024-268435456 (default 67108864).");
        }
    }

    /// <summary>The valid trusted keys (call after <see cref="Validate"/>), then <paramref name="extra"/> (a key of the same kid replaces the configured one).</summary>
    public TrustedKeySet BuildKeySet(IEnumerable<Ed25519PublicJwk>? extra = null)
    {
        var list = new List<Ed25519PublicJwk>();
        foreach (var k in TrustedKeys)
        {
            if (Ed25519PublicJwk.TryCreate(k.Kid, k.Kty, k.Crv, k.X, out var jwk, out _))
            {
                list.Add(jwk!);
            }
        }
        list.AddRange(extra ?? []);
        return new TrustedKeySet(list); // later entries win per kid
    }
}

/// <summary>Section <c>Access</c>: viewer authentication limits.</summary>
public sealed class AccessOptions : IValidatableOptions
{
    public const string Section = "Access";

    /// <summary>Failed authentications per remote address within the window before its further failures are answered "too many failures" (valid tokens are always accepted). Default 10.</summary>
    public int AuthFailureLimit { get; set; } = 10;
    /// <summary>Sliding window for <see cref="AuthFailureLimit"/>, seconds. Default 60.</summary>
    public int AuthFailureWindowSeconds { get; set; } = 60;

    public void Validate(ICollection<string> errors)
    {
        if (AuthFailureLimit < 1)
        {
            errors.Add($"Access:AuthFailureLimit {AuthFailureLimit} must be 1 or more (default 10).");
        }
        if (AuthFailureWindowSeconds is < 1 or > 86400)
        {
            errors.Add($"Access:AuthFailureWindowSeconds {AuthFailureWindowSeconds} must be 1-86400 (default 60).");
        }
    }
}
