using System.Text;
using HikShareGateway.Core.Protocols;

namespace HikShareGateway.Rtsp.Protocol;

/// <summary>One <c>WWW-Authenticate</c> challenge.</summary>
public sealed record AuthChallenge(string Scheme, string? Realm, string? Nonce, string? Opaque, string? Qop, string? Algorithm)
{
    public bool IsDigest => Scheme.Equals("Digest", StringComparison.OrdinalIgnoreCase);
    public bool IsBasic => Scheme.Equals("Basic", StringComparison.OrdinalIgnoreCase);
}

/// <summary>Client side of RTSP authentication as cameras do it (Digest MD5 as in RFC 2617/7616; Basic on older Hikvision), and the server side's Basic/Bearer.</summary>
public static class RtspAuth
{
    public static AuthChallenge? ParseChallenge(string header)
    {
        var h = header.Trim();
        var sp = h.IndexOf(' ');
        var scheme = sp < 0 ? h : h[..sp];
        var parameters = ParseParameters(sp < 0 ? "" : h[(sp + 1)..]);
        parameters.TryGetValue("realm", out var realm);
        parameters.TryGetValue("nonce", out var nonce);
        parameters.TryGetValue("opaque", out var opaque);
        parameters.TryGetValue("qop", out var qop);
        parameters.TryGetValue("algorithm", out var algorithm);
        return scheme.Length == 0 ? null : new AuthChallenge(scheme, realm, nonce, opaque, qop, algorithm);
    }

    /// <summary>Digest preferred over Basic; null when none is usable.</summary>
    public static AuthChallenge? Choose(IEnumerable<string> headers)
    {
        AuthChallenge? basic = null;
        foreach (var h in headers)
        {
            var c = ParseChallenge(h);
            if (c is { IsDigest: true, Nonce: not null } && (c.Algorithm is null || c.Algorithm.Equals("MD5", StringComparison.OrdinalIgnoreCase)))
            {
                return c;
            }
            if (c is { IsBasic: true })
            {
                basic = c;
            }
        }
        return basic;
    }

    /// <summary>The <c>Authorization</c> value for a request; <paramref name="nc"/> counts uses of the nonce.</summary>
    /// <remarks>Digest is Core's one implementation (<see cref="Digest"/>, RFC 7616); <see cref="Choose"/> decides which algorithms the upstream accepts.</remarks>
    public static string Authorization(AuthChallenge c, string user, string password, string method, string uri, int nc = 1, string? cnonce = null)
    {
        if (c.IsBasic)
        {
            return "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes(user + ":" + password));
        }
        return Digest.Authorization(user, password, c.Realm, c.Nonce, c.Opaque, c.Qop, c.Algorithm, method, uri, nc, cnonce ?? Digest.NewCnonce());
    }

    /// <summary>Parses <c>name=value</c> or <c>name="value"</c> pairs separated by commas (quoted commas allowed).</summary>
    public static Dictionary<string, string> ParseParameters(string s) => AuthParameters.Parse(s);

    /// <summary>Server side: the user and password of <c>Authorization: Basic</c>, or false.</summary>
    public static bool TryParseBasic(string? header, out string user, out string password)
    {
        user = password = "";
        if (header is null || !header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }
        try
        {
            var text = Encoding.UTF8.GetString(Convert.FromBase64String(header[6..].Trim()));
            var colon = text.IndexOf(':');
            if (colon < 0)
            {
                return false;
            }
            user = text[..colon];
            password = text[(colon + 1)..];
            // Some players send the URL's user info still percent-encoded (bob%40example.com).
            if (user.Contains('%'))
            {
                user = Uri.UnescapeDataString(user);
            }
            return true;
        }
        catch (FormatException)
        {
            return false;
        }
    }

    public static string? TryParseBearer(string? header)
        => header is not null && header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? header[7..].Trim() : null;
}
