using System.Text;
using System.Text.Json;

namespace HikShareGateway.Access.Jose;

/// <summary>Why a JWS was refused. Stable names: they are the <c>reason</c> tag of the rejection metrics.</summary>
public enum JwsError
{
    None,
    /// <summary>Not three base64url parts separated by dots, bad base64url, or a header that is not JSON.</summary>
    Malformed,
    /// <summary>RFC 7515 §4.1.1: only <c>EdDSA</c> (RFC 8037 §3.1) is accepted.</summary>
    UnsupportedAlgorithm,
    UnknownKey,
    BadSignature,
    TooLarge,
}

/// <summary>JWS compact serialisation (RFC 7515 §7.1) with EdDSA/Ed25519 (RFC 8037) only.</summary>
public static class Jws
{
    /// <summary>Signs <paramref name="payload"/> with header <c>{"alg":"EdDSA","kid":…}</c>.</summary>
    public static string Sign(ReadOnlySpan<byte> payload, Ed25519SigningKey key, string? typ = null)
    {
        var header = typ is null
            ? JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, string> { ["alg"] = "EdDSA", ["kid"] = key.Kid }, AccessJson.Default.DictionaryStringString)
            : JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, string> { ["alg"] = "EdDSA", ["kid"] = key.Kid, ["typ"] = typ }, AccessJson.Default.DictionaryStringString);
        var signingInput = Base64UrlStrict.Encode(header) + "." + Base64UrlStrict.Encode(payload);
        var sig = key.Sign(Encoding.ASCII.GetBytes(signingInput));
        return signingInput + "." + Base64UrlStrict.Encode(sig);
    }

    /// <summary>
    /// Verifies a compact JWS and returns its payload. The order of checks follows RFC 7515 §5.2:
    /// split, decode and parse the header, check <c>alg</c> and find the key by <c>kid</c>, then the
    /// signature over the ASCII of <c>BASE64URL(header) "." BASE64URL(payload)</c>; only then the payload is decoded.
    /// </summary>
    public static JwsError TryVerify(ReadOnlySpan<byte> compact, TrustedKeySet keys, int maxLength, out byte[] payload, out string? kid)
    {
        payload = [];
        kid = null;
        if (compact.Length > maxLength)
        {
            return JwsError.TooLarge;
        }
        // Tolerate surrounding whitespace (a trailing newline from a shell pipe), nothing inside.
        compact = compact.Trim(" \t\r\n"u8);
        var first = compact.IndexOf((byte)'.');
        if (first <= 0)
        {
            return JwsError.Malformed;
        }
        var rest = compact[(first + 1)..];
        var second = rest.IndexOf((byte)'.');
        if (second < 0)
        {
            return JwsError.Malformed;
        }
        second += first + 1;
        var headerPart = compact[..first];
        var payloadPart = compact[(first + 1)..second];
        var sigPart = compact[(second + 1)..];
        if (sigPart.IndexOf((byte)'.') >= 0 || payloadPart.Length == 0 || sigPart.Length == 0)
        {
            return JwsError.Malformed; // Five parts would be JWE (RFC 7516); not accepted.
        }
        if (!Base64UrlStrict.TryDecode(headerPart, out var headerBytes) || !Base64UrlStrict.IsStrict(payloadPart)
            || !Base64UrlStrict.TryDecode(sigPart, out var signature))
        {
            return JwsError.Malformed;
        }

        string? alg;
        try
        {
            using var header = JsonDocument.Parse(headerBytes);
            var root = header.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return JwsError.Malformed;
            }
            alg = root.TryGetProperty("alg", out var a) && a.ValueKind == JsonValueKind.String ? a.GetString() : null;
            kid = root.TryGetProperty("kid", out var k) && k.ValueKind == JsonValueKind.String ? k.GetString() : null;
            // RFC 7515 §4.1.11: a "crit" header we do not understand makes the JWS invalid.
            if (root.TryGetProperty("crit", out _))
            {
                return JwsError.Malformed;
            }
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException) // invalid UTF-8 inside a string throws the latter
        {
            return JwsError.Malformed;
        }
        if (alg != "EdDSA")
        {
            return JwsError.UnsupportedAlgorithm; // Also refuses "none" (RFC 7518 §3.6) and HS/RS/ES.
        }
        if (kid is null || !keys.TryGet(kid, out var key))
        {
            return JwsError.UnknownKey;
        }
        var signingInput = compact[..second].ToArray();
        if (!key!.Verify(signingInput, signingInput.Length, signature))
        {
            return JwsError.BadSignature;
        }
        if (!Base64UrlStrict.TryDecode(payloadPart, out payload))
        {
            return JwsError.Malformed;
        }
        return JwsError.None;
    }

    public static string ReasonName(this JwsError e) => e switch
    {
        JwsError.Malformed => "malformed",
        JwsError.UnsupportedAlgorithm => "unsupported-alg",
        JwsError.UnknownKey => "unknown-kid",
        JwsError.BadSignature => "bad-signature",
        JwsError.TooLarge => "too-large",
        _ => "none",
    };
}
