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

/// <summary>Section <c>Cloud</c> (contract §3, §9): the broker, the topic prefix and the keys grants and tokens are signed with.</summary>
public sealed class CloudOptions : IValidatableOptions
{
    public const string Section = "Cloud";

    /// <summary><c>mqtt://host:port</c> (default port 1883) or <c>mqtts://host:port</c> (TLS, default 8883). Null: no broker (the demo then starts an embedded one).</summary>
    public string? Broker { get; set; }
    public string? Username { get; set; }
    public string? Password { get; set; }
    /// <summary>Default <c>hikshare/v1</c>.</summary>
    public string TopicPrefix { get; set; } = "hikshare/v1";
    /// <summary>The cloud keys grants and viewer tokens are checked against (several at once during a rotation).</summary>
    public List<JwkOptions> TrustedKeys { get; set; } = [];

    /// <summary>mqtts:// only: PEM file of the CA certificate(s) that signed the broker's certificate, trusted instead of the system roots. Default null (system roots).</summary>
    public string? CaFile { get; set; }
    /// <summary>MQTT client id. Default <c>hikshare-gateway-{Gateway:Id}</c>.</summary>
    public string? ClientId { get; set; }
    /// <summary>Largest grant message accepted, bytes. Default 1 MiB; bigger ones are rejected unread.</summary>
    public int MaxGrantMessageBytes { get; set; } = 1024 * 1024;
    /// <summary>First reconnect delay, seconds (doubles per failure, with ±20 % jitter). Default 1.</summary>
    public double ReconnectMinSeconds { get; set; } = 1;
    /// <summary>Largest reconnect delay, seconds. Default 60.</summary>
    public double ReconnectMaxSeconds { get; set; } = 60;
    /// <summary>MQTT keep-alive, seconds. Default 30.</summary>
    public int KeepAliveSeconds { get; set; } = 30;
    /// <summary>Messages (alarms, audit) queued while the broker is away; the oldest are dropped beyond it. Default 10000.</summary>
    public int PublishQueueCapacity { get; set; } = 10_000;
    /// <summary>Demo only: port of the embedded broker on 127.0.0.1 when no Broker is configured. Default 1883.</summary>
    public int EmbeddedBrokerPort { get; set; } = 1883;

    public void Validate(ICollection<string> errors)
    {
        if (Broker is not null && !BrokerAddress.TryParse(Broker, out _, out var why))
        {
            errors.Add($"Cloud:Broker \"{Broker}\" {why} (e.g. mqtt://127.0.0.1:1883 or mqtts://broker.example.com:8883).");
        }
        if (CaFile is not null)
        {
            if (!File.Exists(CaFile))
            {
                errors.Add($"Cloud:CaFile \"{CaFile}\" does not exist (a PEM file with the broker's CA certificate).");
            }
            else if (!TryLoadCaFile(CaFile, out _, out var caError))
            {
                errors.Add($"Cloud:CaFile \"{CaFile}\" {caError}.");
            }
        }
        if (Password is not null && string.IsNullOrEmpty(Username))
        {
            errors.Add("Cloud:Password is set but Cloud:Username is not: set both or neither.");
        }
        if (string.IsNullOrWhiteSpace(TopicPrefix) || TopicPrefix.IndexOfAny(['+', '#']) >= 0 || TopicPrefix.StartsWith('/') || TopicPrefix.EndsWith('/'))
        {
            errors.Add($"Cloud:TopicPrefix \"{TopicPrefix}\" must be non-empty, without '+', '#' or a leading/trailing '/' (default hikshare/v1).");
        }
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
        if (MaxGrantMessageBytes is < 1024 or > 64 * 1024 * 1024)
        {
            errors.Add($"Cloud:MaxGrantMessageBytes {MaxGrantMessageBytes} must be 1024-67108864 (default 1048576).");
        }
        if (ReconnectMinSeconds <= 0 || ReconnectMaxSeconds < ReconnectMinSeconds)
        {
            errors.Add($"Cloud:ReconnectMinSeconds ({ReconnectMinSeconds}) must be > 0 and Cloud:ReconnectMaxSeconds ({ReconnectMaxSeconds}) at least as large (defaults 1 and 60).");
        }
        if (KeepAliveSeconds is < 5 or > 3600)
        {
            errors.Add($"Cloud:KeepAliveSeconds {KeepAliveSeconds} must be 5-3600 (default 30).");
        }
        if (PublishQueueCapacity < 10)
        {
            errors.Add($"Cloud:PublishQueueCapacity {PublishQueueCapacity} must be 10 or more (default 10000).");
        }
        if (EmbeddedBrokerPort is < 0 or > 65535)
        {
            errors.Add($"Cloud:EmbeddedBrokerPort {EmbeddedBrokerPort} is out of range (1-65535, 0 = any free port; default 1883).");
        }
    }

    /// <summary>Loads the PEM certificates of <see cref="CaFile"/>.</summary>
    public static bool TryLoadCaFile(string path, out System.Security.Cryptography.X509Certificates.X509Certificate2Collection certificates, out string? error)
    {
        certificates = [];
        error = null;
        try
        {
            certificates.ImportFromPemFile(path);
            if (certificates.Count == 0)
            {
                error = "holds no PEM certificate";
            }
        }
        catch (Exception e) when (e is System.Security.Cryptography.CryptographicException or IOException or UnauthorizedAccessException)
        {
            error = "is not a readable PEM certificate file: " + e.Message;
        }
        return error is null;
    }

    /// <summary>The valid trusted keys (call after <see cref="Validate"/>).</summary>
    public TrustedKeySet BuildKeySet()
    {
        var list = new List<Ed25519PublicJwk>();
        foreach (var k in TrustedKeys)
        {
            if (Ed25519PublicJwk.TryCreate(k.Kid, k.Kty, k.Crv, k.X, out var jwk, out _))
            {
                list.Add(jwk!);
            }
        }
        return new TrustedKeySet(list);
    }
}

/// <summary>Section <c>Access</c>: viewer authentication limits.</summary>
public sealed class AccessOptions : IValidatableOptions
{
    public const string Section = "Access";

    /// <summary>Failed authentications per remote address within the window before further attempts are refused unchecked. Default 10.</summary>
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

/// <summary>A parsed <c>Cloud:Broker</c>.</summary>
public sealed record BrokerAddress(string Host, int Port, bool Tls)
{
    public static bool TryParse(string value, out BrokerAddress? address, out string? error)
    {
        address = null;
        error = null;
        if (!Uri.TryCreate(value, UriKind.Absolute, out var u) || (u.Scheme != "mqtt" && u.Scheme != "mqtts"))
        {
            error = "is not an mqtt:// or mqtts:// URL";
            return false;
        }
        if (string.IsNullOrEmpty(u.Host))
        {
            error = "has no host";
            return false;
        }
        if (!string.IsNullOrEmpty(u.UserInfo))
        {
            error = "must not carry credentials: use Cloud:Username and Cloud:Password";
            return false;
        }
        var tls = u.Scheme == "mqtts";
        address = new BrokerAddress(u.IdnHost, u.IsDefaultPort || u.Port < 0 ? (tls ? 8883 : 1883) : u.Port, tls);
        return true;
    }

    public override string ToString() => $"{(Tls ? "mqtts" : "mqtt")}://{Host}:{Port}";
}
