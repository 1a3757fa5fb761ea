using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace HikShareGateway.Onvif.Soap;

/// <summary>A parsed <c>WWW-Authenticate: Digest …</c> challenge (RFC 2617 §3.2.1).</summary>
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

    /// <summary>Comma-separated <c>name=value</c> / <c>name="quoted, value"</c> pairs (see <see cref="Core.Protocols.AuthParameters"/>).</summary>
    public static Dictionary<string, string> ParseParameters(string s) => Core.Protocols.AuthParameters.Parse(s);
}

/// <summary>RFC 2617 §3.2.2 digest response (MD5, qop=auth or none). Pure: cnonce and nc are inputs.</summary>
public static class HttpDigest
{
    public static string Authorization(DigestChallenge challenge, string method, string uri, string username, string password, string cnonce, int nc)
    {
        var ha1 = Md5Hex($"{username}:{challenge.Realm}:{password}");
        if (challenge.Algorithm.Equals("MD5-sess", StringComparison.OrdinalIgnoreCase))
        {
            ha1 = Md5Hex($"{ha1}:{challenge.Nonce}:{cnonce}");
        }
        var ha2 = Md5Hex($"{method}:{uri}");
        var useQop = challenge.Qop is not null && challenge.Qop.Split(',').Any(q => q.Trim().Equals("auth", StringComparison.OrdinalIgnoreCase));
        var ncText = nc.ToString("x8", CultureInfo.InvariantCulture);
        var response = useQop
            ? Md5Hex($"{ha1}:{challenge.Nonce}:{ncText}:{cnonce}:auth:{ha2}")
            : Md5Hex($"{ha1}:{challenge.Nonce}:{ha2}");
        var sb = new StringBuilder();
        sb.Append("Digest username=\"").Append(Escape(username)).Append("\", realm=\"").Append(Escape(challenge.Realm))
          .Append("\", nonce=\"").Append(Escape(challenge.Nonce)).Append("\", uri=\"").Append(uri)
          .Append("\", response=\"").Append(response).Append('"');
        if (challenge.Algorithm.Length > 0)
        {
            sb.Append(", algorithm=").Append(challenge.Algorithm);
        }
        if (useQop)
        {
            sb.Append(", qop=auth, nc=").Append(ncText).Append(", cnonce=\"").Append(cnonce).Append('"');
        }
        if (challenge.Opaque is not null)
        {
            sb.Append(", opaque=\"").Append(Escape(challenge.Opaque)).Append('"');
        }
        return sb.ToString();
    }

    public static string Md5Hex(string s) => Convert.ToHexStringLower(MD5.HashData(Encoding.UTF8.GetBytes(s)));

    private static string Escape(string s) => s.Replace("\\", "\\\\").Replace("\"", "\\\"");
}
