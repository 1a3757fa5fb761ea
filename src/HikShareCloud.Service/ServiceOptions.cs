using HikShareCloud.Service.Accounts;

namespace HikShareCloud.Service;

/// <summary>An account the service creates, verified, at start if it does not exist (the demo's; never for production).</summary>
public sealed record DemoAccount
{
    public string Address { get; init; } = "";
    public string Password { get; init; } = "";
}

/// <summary>One ICE server (RFC 8825 <c>RTCIceServer</c>): <c>turn:host:3478?transport=udp</c>, <c>stun:…</c>; TURN with long-term credentials.</summary>
public sealed record IceServerOptions
{
    public IReadOnlyList<string> Urls { get; init; } = [];
    public string? Username { get; init; }
    public string? Credential { get; init; }
}

public sealed record SmtpOptions
{
    public string Host { get; init; } = "127.0.0.1";
    public int Port { get; init; } = 25;
    /// <summary>STARTTLS.</summary>
    public bool Tls { get; init; }
    public string? Username { get; init; }
    public string? Password { get; init; }
    public string From { get; init; } = "hikshare@localhost";
}

/// <summary>
/// The <c>Sharing</c> section of <c>hikshare-cloud serve --config FILE</c>. Validated at start; every
/// error is reported at once (<see cref="Validate"/>).
/// </summary>
public sealed record ServiceOptions
{
    /// <summary>Holds the SQLite file (<c>sharing.db</c>) and the signing keys.</summary>
    public string StateDirectory { get; init; } = "/var/lib/hikshare-cloud";
    /// <summary>PostgreSQL connection string; null = the embedded SQLite file.</summary>
    public string? PostgresConnectionString { get; init; }
    /// <summary>Private JWK files (hikshare-cloud keygen); the first signs, all are published as trusted (rotation).</summary>
    public IReadOnlyList<string> SigningKeyFiles { get; init; } = [];
    public string Broker { get; init; } = "mqtt://127.0.0.1:1883";
    public string? BrokerUsername { get; init; }
    public string? BrokerPassword { get; init; }
    public string TopicPrefix { get; init; } = "hikshare/v1";
    /// <summary><c>http://host:port</c>, or <c>https://host:port</c> with <see cref="TlsCertificateFile"/> (cookies are then <c>Secure</c>).</summary>
    public string Listen { get; init; } = "http://127.0.0.1:8090";
    /// <summary>PEM certificate (leaf first, then its chain) for an <c>https://</c> <see cref="Listen"/>; the key in <see cref="TlsKeyFile"/> or in the same file.</summary>
    public string? TlsCertificateFile { get; init; }
    public string? TlsKeyFile { get; init; }
    public SmtpOptions? Smtp { get; init; }
    public string? SmsWebhook { get; init; }
    public int PasswordIterations { get; init; } = PasswordHasher.MinimumIterations;
    public int MinimumPasswordLength { get; init; } = 10;
    public int VerificationCodeMinutes { get; init; } = 15;
    public int VerificationMaxAttempts { get; init; } = 5;
    /// <summary>Failed sign-ins allowed per account and per remote address in <see cref="LoginWindowMinutes"/>.</summary>
    public int LoginFailureLimit { get; init; } = 5;
    public int LoginWindowMinutes { get; init; } = 15;
    public int SessionHours { get; init; } = 24 * 14;
    public int ViewerTokenMinutes { get; init; } = 10;
    /// <summary>Demo: run an MQTT broker inside the service on 127.0.0.1:port (then <see cref="Broker"/> is that broker). Null: none.</summary>
    public int? EmbeddedBrokerPort { get; init; }
    /// <summary>Demo: accounts created verified at start (<c>scripts/demo.sh</c>: an owner and a second account).</summary>
    public IReadOnlyList<DemoAccount> DemoAccounts { get; init; } = [];
    /// <summary>
    /// Gateway id → the base URL of that gateway's web viewer (e.g. <c>https://gw-lab-01.example.net:8080</c>); the
    /// portal's "Watch" opens <c>{url}/#token=…</c>. A gateway without one has no Watch link.
    /// </summary>
    public IReadOnlyDictionary<string, string> GatewayViewerUrls { get; init; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>STUN/TURN servers put in every relayed WebRTC offer (contract §3.1 <c>iceServers</c>) and given to the browser as WHEP <c>Link</c> headers.</summary>
    public IReadOnlyList<IceServerOptions> IceServers { get; init; } = [];

    /// <summary>How long the WHEP relay waits for the gateway's <c>webrtc/answer</c> before answering 504.</summary>
    public int WebRtcAnswerSeconds { get; init; } = 15;

    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(StateDirectory))
        {
            errors.Add("Sharing:StateDirectory is required (a directory for sharing.db and keys)");
        }
        if (SigningKeyFiles.Count == 0)
        {
            errors.Add("Sharing:SigningKeyFiles needs at least one private JWK file (create one with: hikshare-cloud keygen --kid ID --out FILE)");
        }
        if (!HikShareGateway.Cloud.BrokerAddress.TryParse(Broker, out _, out var why))
        {
            errors.Add($"Sharing:Broker \"{Broker}\" {why}");
        }
        if (WebRtcAnswerSeconds is < 1 or > 120)
        {
            errors.Add($"Sharing:WebRtcAnswerSeconds {WebRtcAnswerSeconds} must be 1-120 (default 15)");
        }
        for (var i = 0; i < IceServers.Count; i++)
        {
            if (IceServers[i].Urls.Count == 0 || IceServers[i].Urls.Any(u => !(u.StartsWith("stun:", StringComparison.Ordinal) || u.StartsWith("turn:", StringComparison.Ordinal) || u.StartsWith("turns:", StringComparison.Ordinal))))
            {
                errors.Add($"Sharing:IceServers:{i}:Urls needs one or more stun:, turn: or turns: URLs");
            }
        }
        if (PasswordIterations < PasswordHasher.MinimumIterations)
        {
            errors.Add($"Sharing:PasswordIterations must be at least {PasswordHasher.MinimumIterations} (PBKDF2-SHA256)");
        }
        ValidateTls(errors);
        if (EmbeddedBrokerPort is < 1 or > 65535)
        {
            errors.Add($"Sharing:EmbeddedBrokerPort {EmbeddedBrokerPort} is out of range (1-65535)");
        }
        foreach (var (d, i) in DemoAccounts.Select((d, i) => (d, i)))
        {
            if (!HikShareGateway.Access.Accounts.AccountName.TryNormalize(d.Address, out _, out _) || d.Password.Length < MinimumPasswordLength)
            {
                errors.Add($"Sharing:DemoAccounts:{i} needs an Address (an e-mail or a +E.164 number) and a Password of {MinimumPasswordLength}+ characters");
            }
        }
        if (MinimumPasswordLength < 8)
        {
            errors.Add("Sharing:MinimumPasswordLength must be at least 8");
        }
        if (Smtp is null && SmsWebhook is null)
        {
            errors.Add("Sharing:Smtp or Sharing:SmsWebhook is required: sign-up sends a verification code");
        }
        if (SmsWebhook is not null && !Uri.TryCreate(SmsWebhook, UriKind.Absolute, out _))
        {
            errors.Add($"Sharing:SmsWebhook \"{SmsWebhook}\" is not an absolute URL");
        }
        foreach (var (name, value) in new[] { ("VerificationCodeMinutes", VerificationCodeMinutes), ("VerificationMaxAttempts", VerificationMaxAttempts),
                     ("LoginFailureLimit", LoginFailureLimit), ("LoginWindowMinutes", LoginWindowMinutes), ("SessionHours", SessionHours), ("ViewerTokenMinutes", ViewerTokenMinutes) })
        {
            if (value < 1)
            {
                errors.Add($"Sharing:{name} must be 1 or more");
            }
        }
        foreach (var (gateway, url) in GatewayViewerUrls)
        {
            if (!Uri.TryCreate(url, UriKind.Absolute, out var u) || (u.Scheme != "https" && u.Scheme != "http") || u.Fragment.Length > 0)
            {
                errors.Add($"Sharing:GatewayViewerUrls:{gateway} \"{url}\" is not an absolute http(s) URL without a fragment");
            }
        }
        if (ViewerTokenMinutes > 60)
        {
            errors.Add("Sharing:ViewerTokenMinutes must be 60 or less (viewer tokens are short-lived)");
        }
        return errors;
    }

    private void ValidateTls(List<string> errors)
    {
        if (!Uri.TryCreate(Listen, UriKind.Absolute, out var listen) || (listen.Scheme != "http" && listen.Scheme != "https"))
        {
            errors.Add($"Sharing:Listen \"{Listen}\" is not an http:// or https:// URL (e.g. https://0.0.0.0:8443)");
            return;
        }
        if (listen.Scheme == "https" && TlsCertificateFile is null)
        {
            errors.Add("Sharing:Listen is https:// but Sharing:TlsCertificateFile is not set (a PEM certificate, with Sharing:TlsKeyFile)");
        }
        if (listen.Scheme == "http" && TlsCertificateFile is not null)
        {
            errors.Add("Sharing:TlsCertificateFile is set but Sharing:Listen is http://; use https://");
        }
        if (TlsCertificateFile is not null && TryLoadCertificate(out var why) is null)
        {
            errors.Add($"Sharing:TlsCertificateFile {TlsCertificateFile}: {why}");
        }
    }

    /// <summary>The listener's certificate with its private key, or null with the reason.</summary>
    internal System.Security.Cryptography.X509Certificates.X509Certificate2? TryLoadCertificate(out string? error)
    {
        error = null;
        try
        {
            using var pem = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPemFile(TlsCertificateFile!, TlsKeyFile);
            if (!pem.HasPrivateKey)
            {
                error = "no private key (put it in Sharing:TlsKeyFile or after the certificate)";
                return null;
            }
            // Re-imported as PKCS#12: a PEM-loaded key is ephemeral, which TLS servers on some platforms refuse.
            return System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadPkcs12(pem.Export(System.Security.Cryptography.X509Certificates.X509ContentType.Pkcs12), null);
        }
        catch (Exception e) when (e is System.Security.Cryptography.CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            error = "not a readable PEM certificate and key: " + e.Message;
            return null;
        }
    }
}
