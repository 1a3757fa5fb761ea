using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace HikShareGateway.Core.Protocols;

/// <summary>The <c>algorithm</c> of a Digest challenge (RFC 7616 §3.3; absent means MD5).</summary>
public enum DigestAlgorithm { Md5, Md5Sess, Sha256, Sha256Sess }

/// <summary>A parsed <c>Authorization: Digest …</c> (RFC 7616 §3.4), as a server receives it.</summary>
/// <param name="Qop">Null (RFC 2069 form) or <c>auth</c>; then <paramref name="Nc"/> and <paramref name="Cnonce"/> are set.</param>
public sealed record DigestCredentials(
    string Username, string Realm, string Nonce, string Uri, string Response, DigestAlgorithm Algorithm,
    string? Qop, string? Nc, string? Cnonce, string? Opaque);

/// <summary>
/// HTTP/RTSP Digest authentication, both sides, in one place (RFC 7616; RFC 2617/2069 forms for old cameras):
/// MD5, SHA-256 and their <c>-sess</c> variants, <c>qop=auth</c> (or none), <c>nc</c>/<c>cnonce</c>, quoted-string
/// escaping per §3.4. Clients: <see cref="Authorization"/>. Servers: <see cref="Challenge"/>,
/// <see cref="TryParseCredentials"/>, <see cref="Verify"/> against a stored <see cref="Ha1"/> (the password itself
/// need not be kept). Pure: nonces, cnonces and counts are inputs. Header parameters are read by <see cref="AuthParameters"/>.
/// </summary>
public static class Digest
{
    /// <summary>The algorithm token (case-insensitive); null or empty is MD5 (RFC 7616 §3.3). False for any other.</summary>
    public static bool TryParseAlgorithm(string? token, out DigestAlgorithm algorithm)
    {
        algorithm = DigestAlgorithm.Md5;
        if (string.IsNullOrEmpty(token) || token.Equals("MD5", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }
        if (token.Equals("MD5-sess", StringComparison.OrdinalIgnoreCase))
        {
            algorithm = DigestAlgorithm.Md5Sess;
            return true;
        }
        if (token.Equals("SHA-256", StringComparison.OrdinalIgnoreCase))
        {
            algorithm = DigestAlgorithm.Sha256;
            return true;
        }
        if (token.Equals("SHA-256-sess", StringComparison.OrdinalIgnoreCase))
        {
            algorithm = DigestAlgorithm.Sha256Sess;
            return true;
        }
        return false;
    }

    public static string Name(DigestAlgorithm algorithm) => algorithm switch
    {
        DigestAlgorithm.Md5Sess => "MD5-sess",
        DigestAlgorithm.Sha256 => "SHA-256",
        DigestAlgorithm.Sha256Sess => "SHA-256-sess",
        _ => "MD5",
    };

    /// <summary>True when a challenge's <c>qop</c> list (e.g. <c>auth,auth-int</c>) offers <c>auth</c>.</summary>
    public static bool OffersQopAuth(string? qopOptions)
    {
        if (qopOptions is null)
        {
            return false;
        }
        foreach (var q in qopOptions.Split(','))
        {
            if (q.Trim().Equals("auth", StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>RFC 7616 §3.4.2 HA1 without the <c>-sess</c> step: H(username:realm:password), lower-case hex.</summary>
    public static string Ha1(DigestAlgorithm algorithm, string username, string realm, string password)
        => Hash(algorithm, $"{username}:{realm}:{password}");

    /// <summary>
    /// RFC 7616 §3.4.1 <c>response</c>. <paramref name="ha1"/> is <see cref="Ha1"/>; for <c>-sess</c> it is turned into
    /// H(HA1:nonce:cnonce) here. With <paramref name="qop"/> <c>auth</c>: H(HA1:nonce:nc:cnonce:qop:HA2), else the
    /// RFC 2069 form H(HA1:nonce:HA2). HA2 = H(method:uri).
    /// </summary>
    public static string Response(DigestAlgorithm algorithm, string ha1, string nonce, string method, string uri, string? qop, string? nc, string? cnonce)
    {
        if (algorithm is DigestAlgorithm.Md5Sess or DigestAlgorithm.Sha256Sess)
        {
            ha1 = Hash(algorithm, $"{ha1}:{nonce}:{cnonce}");
        }
        var ha2 = Hash(algorithm, $"{method}:{uri}");
        return qop is null
            ? Hash(algorithm, $"{ha1}:{nonce}:{ha2}")
            : Hash(algorithm, $"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}");
    }

    /// <summary>
    /// Client side: the <c>Authorization</c> value answering a challenge. <paramref name="algorithmToken"/> is the
    /// challenge's <c>algorithm</c> as sent (echoed when present; an unknown one is computed as MD5, as cameras that
    /// invent names expect). <paramref name="nc"/> counts the uses of this nonce; <paramref name="cnonce"/> is used
    /// only when the challenge offers <c>qop=auth</c>.
    /// </summary>
    public static string Authorization(string username, string password, string? realm, string? nonce, string? opaque, string? qopOptions,
        string? algorithmToken, string method, string uri, int nc, string cnonce)
    {
        realm ??= "";
        nonce ??= "";
        TryParseAlgorithm(algorithmToken, out var algorithm);
        var qop = OffersQopAuth(qopOptions) ? "auth" : null;
        var ncText = nc.ToString("x8", CultureInfo.InvariantCulture);
        var response = Response(algorithm, Ha1(algorithm, username, realm, password), nonce, method, uri, qop, ncText, cnonce);
        var sb = new StringBuilder("Digest ");
        sb.Append("username=").Append(Quote(username))
          .Append(", realm=").Append(Quote(realm))
          .Append(", nonce=").Append(Quote(nonce))
          .Append(", uri=").Append(Quote(uri))
          .Append(", response=\"").Append(response).Append('"');
        if (qop is not null)
        {
            // §3.4: qop and nc are tokens, cnonce a quoted string.
            sb.Append(", qop=auth, nc=").Append(ncText).Append(", cnonce=").Append(Quote(cnonce));
        }
        if (opaque is not null)
        {
            sb.Append(", opaque=").Append(Quote(opaque));
        }
        if (!string.IsNullOrEmpty(algorithmToken))
        {
            sb.Append(", algorithm=").Append(algorithmToken);
        }
        return sb.ToString();
    }

    /// <summary>Server side: a <c>WWW-Authenticate</c> value (RFC 7616 §3.3) offering <c>qop=auth</c>.</summary>
    /// <remarks>
    /// The order is fixed: <c>realm</c>, <c>nonce</c>, then <c>stale</c>. RFC 7616 allows any order, but LIVE555's
    /// RTSP client (VLC, openRTSP and many NVR clients) reads a challenge with <c>sscanf("Digest realm=\"%[^\"]\",
    /// nonce=\"%[^\"]\", stale=…")</c> and ignores one that starts otherwise.
    /// </remarks>
    public static string Challenge(string realm, string nonce, DigestAlgorithm algorithm, string? opaque = null, bool stale = false)
    {
        var sb = new StringBuilder("Digest realm=").Append(Quote(realm))
            .Append(", nonce=").Append(Quote(nonce));
        if (stale)
        {
            sb.Append(", stale=true");
        }
        sb.Append(", algorithm=").Append(Name(algorithm)).Append(", qop=\"auth\"");
        if (opaque is not null)
        {
            sb.Append(", opaque=").Append(Quote(opaque));
        }
        return sb.ToString();
    }

    /// <summary>
    /// Server side: parses <c>Authorization: Digest …</c>. False when the scheme is not Digest, a required parameter
    /// is missing, the algorithm is unknown, or <c>qop</c> is present but not <c>auth</c> with an 8-hex-digit
    /// <c>nc</c> and a <c>cnonce</c>.
    /// </summary>
    public static bool TryParseCredentials(string? header, out DigestCredentials? credentials)
    {
        credentials = null;
        if (header is null)
        {
            return false;
        }
        var h = header.AsSpan().Trim();
        if (h.Length < 7 || !h.StartsWith("Digest", StringComparison.OrdinalIgnoreCase) || (h[6] != ' ' && h[6] != '\t'))
        {
            return false;
        }
        var p = AuthParameters.Parse(h[7..].ToString());
        if (!p.TryGetValue("username", out var username) || !p.TryGetValue("realm", out var realm) || !p.TryGetValue("nonce", out var nonce)
            || !p.TryGetValue("uri", out var uri) || !p.TryGetValue("response", out var response))
        {
            return false;
        }
        if (!TryParseAlgorithm(p.GetValueOrDefault("algorithm"), out var algorithm))
        {
            return false;
        }
        p.TryGetValue("qop", out var qop);
        p.TryGetValue("nc", out var nc);
        p.TryGetValue("cnonce", out var cnonce);
        if (qop is not null && (!qop.Equals("auth", StringComparison.OrdinalIgnoreCase) || nc is not { Length: 8 } || !IsHex(nc) || string.IsNullOrEmpty(cnonce)))
        {
            return false;
        }
        if (qop is null && algorithm is DigestAlgorithm.Md5Sess or DigestAlgorithm.Sha256Sess)
        {
            return false; // -sess needs a cnonce, which only comes with qop
        }
        credentials = new DigestCredentials(username, realm, nonce, uri, response, algorithm, qop is null ? null : "auth", nc, cnonce, p.GetValueOrDefault("opaque"));
        return true;
    }

    /// <summary>
    /// Server side: whether <paramref name="credentials"/> answer for <paramref name="method"/> with the stored
    /// <paramref name="ha1"/> (<see cref="Ha1"/> of the credentials' algorithm). Compared in constant time. Whether the
    /// nonce is one the server issued and still fresh, and the realm and uri the expected ones, is the caller's to check.
    /// </summary>
    public static bool Verify(DigestCredentials credentials, string method, string ha1)
    {
        var expected = Response(credentials.Algorithm, ha1, credentials.Nonce, method, credentials.Uri, credentials.Qop, credentials.Nc, credentials.Cnonce);
        var given = credentials.Response.ToLowerInvariant();
        return CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(expected), Encoding.ASCII.GetBytes(given));
    }

    /// <summary>RFC 7616 §3.4 / RFC 7230 §3.2.6 quoted-string: <c>"</c> and <c>\</c> escaped with a backslash.</summary>
    public static string Quote(string value)
    {
        if (value.AsSpan().IndexOfAny('"', '\\') < 0)
        {
            return "\"" + value + "\"";
        }
        var sb = new StringBuilder(value.Length + 8).Append('"');
        foreach (var c in value)
        {
            if (c is '"' or '\\')
            {
                sb.Append('\\');
            }
            sb.Append(c);
        }
        return sb.Append('"').ToString();
    }

    /// <summary>A fresh client nonce: 16 lower-case hex digits from the system's RNG.</summary>
    public static string NewCnonce() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));

    private static string Hash(DigestAlgorithm algorithm, string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        return algorithm is DigestAlgorithm.Sha256 or DigestAlgorithm.Sha256Sess
            ? Convert.ToHexStringLower(SHA256.HashData(bytes))
            : Convert.ToHexStringLower(MD5.HashData(bytes));
    }

    private static bool IsHex(string s)
    {
        foreach (var c in s)
        {
            if (!char.IsAsciiHexDigit(c))
            {
                return false;
            }
        }
        return true;
    }
}
