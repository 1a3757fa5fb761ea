using HikShareGateway.Core.Protocols;

namespace HikShareGateway.Onvif.Soap;

/// <summary>A parsed <c>WWW-Authenticate: Digest …</c> challenge (RFC 7616 §3.3).</summary>
public sealed record DigestChallenge(string Realm, string Nonce, string? Opaque, string? Qop, string Algorithm, bool Stale)
{
    /// <summary>Parses the parameters after <c>Digest </c>; false when it is not a usable digest challenge.</summary>
    public static bool TryParse(string headerValue, out DigestChallenge? challenge)
    {
        challenge = null;
        var v = headerValue.AsSpan().Trim();
        if (!v.StartsWith("Digest", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }
        var p = ParseParameters(v[6..].ToString());
        if (!p.TryGetValue("realm", out var realm) || !p.TryGetValue("nonce", out var nonce))
        {
            return false;
        }
        p.TryGetValue("opaque", out var opaque);
        p.TryGetValue("qop", out var qop);
        var algorithm = p.TryGetValue("algorithm", out var a) ? a : "MD5";
        challenge = new DigestChallenge(realm, nonce, opaque, qop, algorithm,
            p.TryGetValue("stale", out var stale) && stale.Equals("true", StringComparison.OrdinalIgnoreCase));
        return true;
    }

    /// <summary>Comma-separated <c>name=value</c> / <c>name="quoted, value"</c> pairs (see <see cref="AuthParameters"/>).</summary>
    public static Dictionary<string, string> ParseParameters(string s) => AuthParameters.Parse(s);
}

/// <summary>
/// The ONVIF/ISAPI client's Digest answer (RFC 7616 §3.4; MD5, MD5-sess, SHA-256, qop=auth or none), computed by
/// Core's one implementation (<see cref="Digest"/>). Pure: cnonce and nc are inputs.
/// </summary>
public static class HttpDigest
{
    public static string Authorization(DigestChallenge challenge, string method, string uri, string username, string password, string cnonce, int nc)
        => Digest.Authorization(username, password, challenge.Realm, challenge.Nonce, challenge.Opaque, challenge.Qop, challenge.Algorithm, method, uri, nc, cnonce);
}
