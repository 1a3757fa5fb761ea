using System.Text.Json;
using System.Text.Json.Nodes;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Math.EC.Rfc8032;
using Org.BouncyCastle.Security;

namespace HikShareGateway.Access.Jose;

/// <summary>A trusted Ed25519 public key as a JWK (RFC 8037 §2: <c>kty</c> OKP, <c>crv</c> Ed25519, <c>x</c>).</summary>
public sealed class Ed25519PublicJwk
{
    private readonly Ed25519PublicKeyParameters _key;

    public Ed25519PublicJwk(string kid, ReadOnlySpan<byte> publicKey)
    {
        if (publicKey.Length != Ed25519.PublicKeySize)
        {
            throw new ArgumentException($"an Ed25519 public key is {Ed25519.PublicKeySize} bytes, not {publicKey.Length}", nameof(publicKey));
        }
        Kid = kid;
        PublicKey = publicKey.ToArray();
        _key = new Ed25519PublicKeyParameters(PublicKey);
    }

    public string Kid { get; }
    public byte[] PublicKey { get; }

    /// <summary>Ed25519 (RFC 8032 §5.1.7) over <paramref name="signingInput"/>.</summary>
    public bool Verify(byte[] signingInput, int length, byte[] signature)
        => signature.Length == Ed25519.SignatureSize && _key.Verify(Ed25519.Algorithm.Ed25519, null, signingInput, 0, length, signature, 0);

    public string ToJson() => new JsonObject { ["kid"] = Kid, ["kty"] = "OKP", ["crv"] = "Ed25519", ["x"] = Base64UrlStrict.Encode(PublicKey) }.ToJsonString();

    /// <summary>Checks the members of a JWK; <paramref name="error"/> says which one is wrong.</summary>
    public static bool TryCreate(string? kid, string? kty, string? crv, string? x, out Ed25519PublicJwk? jwk, out string? error)
    {
        jwk = null;
        error = null;
        if (string.IsNullOrWhiteSpace(kid))
        {
            error = "kid is required";
        }
        else if (kty != "OKP")
        {
            error = $"kty must be \"OKP\" (RFC 8037), not \"{kty}\"";
        }
        else if (crv != "Ed25519")
        {
            error = $"crv must be \"Ed25519\", not \"{crv}\"";
        }
        else if (x is null || !Base64UrlStrict.TryDecode(x, out var bytes))
        {
            error = "x must be the base64url (no padding) of the 32-byte public key";
        }
        else if (bytes.Length != Ed25519.PublicKeySize)
        {
            error = $"x decodes to {bytes.Length} bytes; an Ed25519 public key is 32";
        }
        else
        {
            jwk = new Ed25519PublicJwk(kid, bytes);
        }
        return jwk is not null;
    }

    public static bool TryParse(string json, out Ed25519PublicJwk? jwk, out string? error)
    {
        jwk = null;
        try
        {
            using var doc = JsonDocument.Parse(json);
            var r = doc.RootElement;
            if (r.ValueKind != JsonValueKind.Object)
            {
                error = "a JWK is a JSON object";
                return false;
            }
            return TryCreate(Str(r, "kid"), Str(r, "kty"), Str(r, "crv"), Str(r, "x"), out jwk, out error);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException) // invalid UTF-8 inside a string throws the latter
        {
            error = "not JSON: " + e.Message;
            return false;
        }
    }

    private static string? Str(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
}

/// <summary>An Ed25519 signing key with its key id (the cloud's side; used by hikshare-cloud and the demo).</summary>
public sealed class Ed25519SigningKey
{
    private readonly Ed25519PrivateKeyParameters _key;

    public Ed25519SigningKey(string kid, ReadOnlySpan<byte> privateKey)
    {
        if (privateKey.Length != Ed25519.SecretKeySize)
        {
            throw new ArgumentException($"an Ed25519 private key is {Ed25519.SecretKeySize} bytes", nameof(privateKey));
        }
        Kid = kid;
        _key = new Ed25519PrivateKeyParameters(privateKey.ToArray());
        Public = new Ed25519PublicJwk(kid, _key.GeneratePublicKey().GetEncoded());
    }

    public string Kid { get; }
    public Ed25519PublicJwk Public { get; }

    public static Ed25519SigningKey Generate(string kid)
    {
        var k = new Ed25519PrivateKeyParameters(new SecureRandom());
        return new Ed25519SigningKey(kid, k.GetEncoded());
    }

    public byte[] Sign(ReadOnlySpan<byte> message)
    {
        var m = message.ToArray();
        var sig = new byte[Ed25519.SignatureSize];
        _key.Sign(Ed25519.Algorithm.Ed25519, null, m, 0, m.Length, sig, 0);
        return sig;
    }

    /// <summary>The private JWK (RFC 8037 §2, with <c>d</c>): the key file format of hikshare-cloud. Keep it secret.</summary>
    public string ToPrivateJson() => new JsonObject
    {
        ["kid"] = Kid, ["kty"] = "OKP", ["crv"] = "Ed25519",
        ["x"] = Base64UrlStrict.Encode(Public.PublicKey), ["d"] = Base64UrlStrict.Encode(_key.GetEncoded()),
    }.ToJsonString(new JsonSerializerOptions { WriteIndented = true });

    public static bool TryParsePrivate(string json, out Ed25519SigningKey? key, out string? error)
    {
        key = null;
        error = null;
        try
        {
            using var doc = JsonDocument.Parse(json);
            var r = doc.RootElement;
            var kid = r.TryGetProperty("kid", out var k) ? k.GetString() : null;
            var d = r.TryGetProperty("d", out var dv) ? dv.GetString() : null;
            if (string.IsNullOrWhiteSpace(kid))
            {
                error = "kid is required";
            }
            else if (r.TryGetProperty("crv", out var crv) && crv.GetString() != "Ed25519")
            {
                error = "crv must be Ed25519";
            }
            else if (d is null || !Base64UrlStrict.TryDecode(d, out var bytes) || bytes.Length != Ed25519.SecretKeySize)
            {
                error = "d must be the base64url of a 32-byte Ed25519 private key";
            }
            else
            {
                key = new Ed25519SigningKey(kid, bytes);
            }
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            error = "not a JWK: " + e.Message;
        }
        return key is not null;
    }
}

/// <summary>The keys the gateway trusts (several at once, for rotation), by <c>kid</c>.</summary>
public sealed class TrustedKeySet
{
    private readonly Dictionary<string, Ed25519PublicJwk> _keys;

    public TrustedKeySet(IEnumerable<Ed25519PublicJwk> keys)
    {
        _keys = new Dictionary<string, Ed25519PublicJwk>(StringComparer.Ordinal);
        foreach (var k in keys)
        {
            _keys[k.Kid] = k;
        }
    }

    public int Count => _keys.Count;
    public IEnumerable<string> KeyIds => _keys.Keys;
    public bool TryGet(string kid, out Ed25519PublicJwk? key) => _keys.TryGetValue(kid, out key);
}
