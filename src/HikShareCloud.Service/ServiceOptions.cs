using HikShareCloud.Service.Accounts;

namespace HikShareCloud.Service;

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
    public string Listen { get; init; } = "http://127.0.0.1:8090";
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
    /// <summary>
    /// Gateway id → the base URL of that gateway's web viewer (e.g. <c>https://gw-lab-01.example.net:8080</c>); the
    /// portal's "Watch" opens <c>{url}/#token=…</c>. A gateway without one has no Watch link.
    /// </summary>
    public IReadOnlyDictionary<string, string> GatewayViewerUrls { get; init; } = new Dictionary<string, string>(StringComparer.Ordinal);

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
        if (PasswordIterations < PasswordHasher.MinimumIterations)
        {
            errors.Add($"Sharing:PasswordIterations must be at least {PasswordHasher.MinimumIterations} (PBKDF2-SHA256)");
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
}
