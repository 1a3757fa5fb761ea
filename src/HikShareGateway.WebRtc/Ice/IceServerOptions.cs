using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace HikShareGateway.WebRtc.Ice;

/// <summary>
/// One entry of <c>WebRtc:IceServers</c>, as a browser's RTCIceServer: URLs (<c>stun:host[:port]</c>,
/// <c>turn:host[:port][?transport=udp|tcp]</c>, <c>turns:host[:port]</c> = TLS over TCP), and for TURN either a long-term
/// <see cref="Username"/>/<see cref="Credential"/> or the TURN REST <see cref="SharedSecret"/> (coturn's
/// <c>static-auth-secret</c>), from which the gateway derives an ephemeral username "expiry:user" and its
/// HMAC-SHA1 password itself.
/// </summary>
public sealed record IceServerOptions
{
    public IReadOnlyList<string> Urls { get; set; } = [];
    public string? Username { get; set; }
    /// <summary>The long-term password. Never logged.</summary>
    public string? Credential { get; set; }
    /// <summary>The TURN REST shared secret. Never logged.</summary>
    public string? SharedSecret { get; set; }
    /// <summary>Lifetime of a REST username (its expiry is now + this); re-derived whenever the server asks again.</summary>
    public TimeSpan RestTtl { get; set; } = TimeSpan.FromDays(1);

    /// <summary>
    /// For <c>turns:</c> URLs: a PEM file of the CA certificates the TURN server's certificate must chain to, instead
    /// of the system's roots (a private CA, the tests' own). The server's name (or IP address) is checked either way.
    /// </summary>
    public string? TlsCaFile { get; set; }

    /// <summary>The certificates of <see cref="TlsCaFile"/>, or null for the system's roots.</summary>
    public System.Security.Cryptography.X509Certificates.X509Certificate2Collection? LoadTrustedRoots()
    {
        if (TlsCaFile is null) return null;
        var roots = new System.Security.Cryptography.X509Certificates.X509Certificate2Collection();
        roots.ImportFromPemFile(TlsCaFile);
        return roots;
    }

    /// <summary>The credentials to present now: the configured pair, or a fresh REST username and password.</summary>
    public TurnCredentials CredentialsAt(DateTimeOffset now)
    {
        if (SharedSecret is null) return new TurnCredentials(Username ?? "", Credential ?? "");
        // draft-uberti-behave-turn-rest §2.2: username = expiry timestamp ":" user, password = base64(HMAC-SHA1(secret, username)).
        var username = now.Add(RestTtl).ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture) + ":" + (Username ?? "hikshare-gateway");
        var password = Convert.ToBase64String(HMACSHA1.HashData(Encoding.UTF8.GetBytes(SharedSecret), Encoding.UTF8.GetBytes(username)));
        return new TurnCredentials(username, password);
    }

    public void Validate(int index, List<string> errors)
    {
        var at = $"WebRtc:IceServers:{index}";
        if (Urls.Count == 0) errors.Add($"{at}:Urls must name at least one stun: or turn: URL.");
        for (var u = 0; u < Urls.Count; u++)
        {
            if (!IceServerUrl.TryParse(Urls[u], out var url, out var why)) { errors.Add($"{at}:Urls:{u}: {why}"); continue; }
            if (url.Kind != IceServerKind.Stun && SharedSecret is null && (string.IsNullOrEmpty(Username) || string.IsNullOrEmpty(Credential)))
            {
                errors.Add($"{at}: a TURN URL needs Username and Credential, or SharedSecret.");
            }
        }
        if (SharedSecret is not null && Credential is not null) errors.Add($"{at}: give Credential or SharedSecret, not both.");
        if (RestTtl < TimeSpan.FromMinutes(10)) errors.Add($"{at}:RestTtl must be at least 10 minutes.");
        if (TlsCaFile is not null)
        {
            try
            {
                if (LoadTrustedRoots()!.Count == 0) errors.Add($"{at}:TlsCaFile {TlsCaFile} holds no PEM certificate.");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
            {
                errors.Add($"{at}:TlsCaFile {TlsCaFile} cannot be read as PEM certificates: {e.Message}");
            }
        }
    }
}

public enum IceServerKind { Stun, Turn, Turns }

/// <summary>A parsed ICE server URL (RFC 7064 stun:, RFC 7065 turn:/turns:).</summary>
public sealed record IceServerUrl(IceServerKind Kind, string Host, int Port, string Transport)
{
    /// <summary>How a TURN client reaches this server: <c>turns:</c> is TLS over TCP (RFC 7065 §3), else the URL's transport.</summary>
    public TurnTransport TurnTransport => Kind == IceServerKind.Turns ? TurnTransport.Tls : Transport == "tcp" ? TurnTransport.Tcp : TurnTransport.Udp;

    public static bool TryParse(string text, out IceServerUrl url, out string why)
    {
        url = null!;
        why = "";
        var colon = text.IndexOf(':');
        if (colon < 0) { why = "not a stun:, turn: or turns: URL"; return false; }
        IceServerKind kind;
        switch (text[..colon].ToLowerInvariant())
        {
            case "stun": kind = IceServerKind.Stun; break;
            case "turn": kind = IceServerKind.Turn; break;
            case "turns": kind = IceServerKind.Turns; break;
            default: why = "not a stun:, turn: or turns: URL"; return false;
        }
        var rest = text[(colon + 1)..];
        var transport = kind == IceServerKind.Turns ? "tcp" : "udp";
        var q = rest.IndexOf('?');
        if (q >= 0)
        {
            var query = rest[(q + 1)..];
            rest = rest[..q];
            if (kind == IceServerKind.Stun || !query.StartsWith("transport=", StringComparison.OrdinalIgnoreCase)) { why = "unknown query"; return false; }
            transport = query[10..].ToLowerInvariant();
            if (transport is not ("udp" or "tcp")) { why = "transport must be udp or tcp"; return false; }
            if (kind == IceServerKind.Turns && transport != "tcp") { why = "turns: runs over TLS on TCP (transport=tcp)"; return false; }
        }
        var port = kind == IceServerKind.Turns ? 5349 : 3478;
        var host = rest;
        if (rest.StartsWith('['))
        {
            var close = rest.IndexOf(']');
            if (close < 0) { why = "unclosed IPv6 literal"; return false; }
            host = rest[1..close];
            rest = rest[(close + 1)..];
            if (rest.Length > 0 && (rest[0] != ':' || !int.TryParse(rest[1..], NumberStyles.None, CultureInfo.InvariantCulture, out port))) { why = "bad port"; return false; }
        }
        else
        {
            var pc = rest.LastIndexOf(':');
            if (pc >= 0)
            {
                host = rest[..pc];
                if (!int.TryParse(rest[(pc + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out port)) { why = "bad port"; return false; }
            }
        }
        if (port is < 1 or > 65535) { why = "bad port"; return false; }
        if (host.Length == 0 || Uri.CheckHostName(host) == UriHostNameType.Unknown) { why = "bad host"; return false; }
        url = new IceServerUrl(kind, host, port, transport);
        return true;
    }
}
