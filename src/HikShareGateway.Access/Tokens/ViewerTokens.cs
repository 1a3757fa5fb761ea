using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using HikShareGateway.Access.Accounts;
using HikShareGateway.Access.Jose;

namespace HikShareGateway.Access.Tokens;

/// <summary>Why a viewer token was refused (stable names: the <c>reason</c> tag of the failure metric).</summary>
public enum TokenError
{
    None,
    Malformed,
    UnsupportedAlgorithm,
    UnknownKey,
    BadSignature,
    TooLarge,
    MissingClaim,
    Expired,
    NotYetValid,
    WrongAudience,
    BadSubject,
}

/// <summary>Viewer tokens (contract §4): JWS/EdDSA over a JWT claim set (RFC 7519 §4.1).</summary>
public static class ViewerTokens
{
    /// <summary>Contract §4: 60 s of clock leeway on exp and nbf.</summary>
    public static readonly TimeSpan Leeway = TimeSpan.FromSeconds(60);
    public const int MaxTokenLength = 8 * 1024;

    public static string Mint(Ed25519SigningKey key, string subject, IReadOnlyList<string> audience, TimeSpan ttl, DateTimeOffset now, string? jti = null)
    {
        var claims = new JsonObject
        {
            ["sub"] = subject,
            ["aud"] = audience.Count == 1 ? JsonValue.Create(audience[0]) : new JsonArray(audience.Select(a => (JsonNode?)JsonValue.Create(a)).ToArray()),
            ["iat"] = now.ToUnixTimeSeconds(),
            ["exp"] = (now + ttl).ToUnixTimeSeconds(),
            ["jti"] = jti ?? Guid.NewGuid().ToString("N"),
        };
        return Jws.Sign(JsonSerializer.SerializeToUtf8Bytes(claims, AccessJson.Default.JsonObject), key, typ: "JWT");
    }

    /// <summary>Validates a token for <paramref name="gatewayId"/> at <paramref name="now"/>; <paramref name="account"/> is the normalised <c>sub</c>.</summary>
    public static TokenError Validate(string token, TrustedKeySet keys, string gatewayId, DateTimeOffset now, out string? account) =>
        Validate(token, keys, gatewayId, now, out account, out _);

    /// <summary>As above; <paramref name="expiresAt"/> is the token's <c>exp</c> when it is valid.</summary>
    public static TokenError Validate(string token, TrustedKeySet keys, string gatewayId, DateTimeOffset now, out string? account, out DateTimeOffset expiresAt)
    {
        account = null;
        expiresAt = default;
        if (token.Length > MaxTokenLength)
        {
            return TokenError.TooLarge;
        }
        var bytes = Encoding.ASCII.GetBytes(token); // Non-ASCII becomes '?', which base64url rejects.
        var jws = Jws.TryVerify(bytes, keys, MaxTokenLength, out var payload, out _);
        switch (jws)
        {
            case JwsError.None: break;
            case JwsError.UnsupportedAlgorithm: return TokenError.UnsupportedAlgorithm;
            case JwsError.UnknownKey: return TokenError.UnknownKey;
            case JwsError.BadSignature: return TokenError.BadSignature;
            case JwsError.TooLarge: return TokenError.TooLarge;
            default: return TokenError.Malformed;
        }
        try
        {
            using var doc = JsonDocument.Parse(payload);
            var c = doc.RootElement;
            if (c.ValueKind != JsonValueKind.Object)
            {
                return TokenError.Malformed;
            }
            if (!c.TryGetProperty("sub", out var sub) || sub.ValueKind != JsonValueKind.String
                || !c.TryGetProperty("exp", out var exp) || !c.TryGetProperty("aud", out var aud))
            {
                return TokenError.MissingClaim;
            }
            // RFC 7519 §4.1.4: NumericDate; fractions allowed.
            if (exp.ValueKind != JsonValueKind.Number || !exp.TryGetDouble(out var expSeconds))
            {
                return TokenError.Malformed;
            }
            var nowSeconds = now.ToUnixTimeMilliseconds() / 1000.0;
            if (nowSeconds >= expSeconds + Leeway.TotalSeconds)
            {
                return TokenError.Expired;
            }
            expiresAt = DateTimeOffset.UnixEpoch.AddSeconds(Math.Clamp(expSeconds, 0, 253_402_300_799)); // ≤ 9999-12-31
            if (c.TryGetProperty("nbf", out var nbf))
            {
                if (nbf.ValueKind != JsonValueKind.Number || !nbf.TryGetDouble(out var nbfSeconds))
                {
                    return TokenError.Malformed;
                }
                if (nowSeconds + Leeway.TotalSeconds < nbfSeconds)
                {
                    return TokenError.NotYetValid;
                }
            }
            if (c.TryGetProperty("iat", out var iat) && iat.ValueKind != JsonValueKind.Number)
            {
                return TokenError.Malformed;
            }
            // RFC 7519 §4.1.3: a string, or an array of strings one of which identifies us.
            var audOk = aud.ValueKind switch
            {
                JsonValueKind.String => aud.GetString() == gatewayId,
                JsonValueKind.Array => aud.EnumerateArray().Any(a => a.ValueKind == JsonValueKind.String && a.GetString() == gatewayId),
                _ => false,
            };
            if (!audOk)
            {
                return TokenError.WrongAudience;
            }
            account = AccountName.Normalize(sub.GetString());
            return account is null ? TokenError.BadSubject : TokenError.None;
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException) // invalid UTF-8 inside a string throws the latter
        {
            return TokenError.Malformed;
        }
    }

    /// <summary>
    /// The reason as logs and the <c>reason</c> metric label spell it: kebab-case, and the JWS-level failures spelt
    /// exactly as <see cref="Jws.ReasonName(JwsError)"/> does for grant messages (one spelling per reason).
    /// </summary>
    public static string ReasonName(this TokenError e) => e switch
    {
        TokenError.Malformed => JwsError.Malformed.ReasonName(),
        TokenError.UnsupportedAlgorithm => JwsError.UnsupportedAlgorithm.ReasonName(),
        TokenError.UnknownKey => JwsError.UnknownKey.ReasonName(),
        TokenError.BadSignature => JwsError.BadSignature.ReasonName(),
        TokenError.TooLarge => JwsError.TooLarge.ReasonName(),
        TokenError.MissingClaim => "missing-claim",
        TokenError.Expired => "expired",
        TokenError.NotYetValid => "not-yet-valid",
        TokenError.WrongAudience => "wrong-audience",
        TokenError.BadSubject => "bad-subject",
        _ => "ok",
    };
}
