using HikShareGateway.Core.Cloud;
using HikShareGateway.Core.Configuration;

namespace HikShareGateway.Cloud;

/// <summary>
/// The cloud link's keys of section <c>Cloud</c> (contract §3, §9): the broker, the topic prefix, TLS, reconnect
/// and queue limits. The trust keys of the same section (<c>TrustedKeys</c>, <c>MaxGrantMessageBytes</c>) belong to
/// Access (<c>CloudTrustOptions</c>); each key is bound and validated by its one owner.
/// </summary>
public sealed class CloudLinkOptions : IValidatableOptions
{
    public const string Section = "Cloud";

    /// <summary><c>mqtt://host:port</c> (default port 1883) or <c>mqtts://host:port</c> (TLS, default 8883). Null: no broker (the demo then starts an embedded one).</summary>
    public string? Broker { get; set; }
    /// <summary>
    /// §3.1: several broker URLs, members of one cluster (RabbitMQ, EMQX, VerneMQ nodes), tried in turn: the gateway
    /// stays on the one that works and moves to the next when it fails. Use either this or <see cref="Broker"/>.
    /// </summary>
    public List<string> Brokers { get; set; } = [];
    /// <summary>After each connect, seconds to wait for a retained grants snapshot at or above the version held before
    /// publishing grants/resync (a cluster node may lack the retained message). Default 5.</summary>
    public double ResyncWaitSeconds { get; set; } = 5;
    public string? Username { get; set; }
    public string? Password { get; set; }
    /// <summary>Default <c>hikshare/v1</c>.</summary>
    public string TopicPrefix { get; set; } = CloudTopics.DefaultPrefix;

    /// <summary>mqtts:// only: PEM file of the CA certificate(s) that signed the broker's certificate, trusted instead of the system roots. Default null (system roots).</summary>
    public string? CaFile { get; set; }
    /// <summary>MQTT client id. Default <c>hikshare-gateway-{Gateway:Id}</c>.</summary>
    public string? ClientId { get; set; }
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

    /// <summary>True when a broker is configured (<see cref="Broker"/> or <see cref="Brokers"/>).</summary>
    public bool HasBroker => Broker is not null || Brokers.Count > 0;

    /// <summary>The configured brokers in order (call after <see cref="Validate"/>; invalid entries are left out).</summary>
    public IReadOnlyList<BrokerAddress> BrokerAddresses()
    {
        var list = new List<BrokerAddress>();
        foreach (var url in Brokers.Count > 0 ? Brokers : Broker is null ? [] : [Broker])
        {
            if (BrokerAddress.TryParse(url, out var a, out _))
            {
                list.Add(a!);
            }
        }
        return list;
    }

    public void Validate(ICollection<string> errors)
    {
        if (Broker is not null && !BrokerAddress.TryParse(Broker, out _, out var why))
        {
            errors.Add($"Cloud:Broker \"{Broker}\" {why} (e.g. mqtt://127.0.0.1:1883 or mqtts://broker.example.com:8883).");
        }
        if (Broker is not null && Brokers.Count > 0)
        {
            errors.Add("Cloud:Broker and Cloud:Brokers are both set: use Cloud:Brokers for a cluster (list every node) or Cloud:Broker for one broker, not both.");
        }
        for (var i = 0; i < Brokers.Count; i++)
        {
            if (!BrokerAddress.TryParse(Brokers[i], out _, out var bad))
            {
                errors.Add($"Cloud:Brokers:{i} \"{Brokers[i]}\" {bad} (e.g. mqtt://node1.example.com:1883).");
            }
        }
        if (ResyncWaitSeconds is <= 0 or > 600)
        {
            errors.Add($"Cloud:ResyncWaitSeconds {ResyncWaitSeconds} must be > 0 and at most 600 (default 5).");
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
