using System.Net;
using HikShareGateway.Core.Configuration;

namespace HikShareGateway.Http;

/// <summary>Section <c>Http:Ptz</c>: limits of the PTZ API (the port itself is <c>Http:Port</c>, Core's <see cref="HttpOptions"/>).</summary>
public sealed class PtzApiOptions : IValidatableOptions
{
    public const string Section = "Http:Ptz";

    /// <summary>Continuous-move timeout when the body gives no <c>timeoutMs</c>. Default 1000.</summary>
    public int DefaultTimeoutMs { get; set; } = 1000;

    /// <summary>Largest accepted <c>timeoutMs</c>: a continuous move never runs longer. Default 60000.</summary>
    public int MaxTimeoutMs { get; set; } = 60000;

    /// <summary>How long one PTZ command may take on the device before the API answers 504. Default 10000.</summary>
    public int CommandTimeoutMs { get; set; } = 10000;

    /// <summary>Sustained PTZ commands per second per account (token bucket refill). Default 5. Stop is never limited.</summary>
    public double RatePerSecond { get; set; } = 5;

    /// <summary>Burst of PTZ commands per account (token bucket size). Default 10.</summary>
    public int Burst { get; set; } = 10;

    public void Validate(ICollection<string> errors)
    {
        if (MaxTimeoutMs is < 1 or > 600_000)
        {
            errors.Add($"Http:Ptz:MaxTimeoutMs {MaxTimeoutMs} is out of range: use 1-600000 (default 60000).");
        }
        if (DefaultTimeoutMs < 1 || DefaultTimeoutMs > MaxTimeoutMs)
        {
            errors.Add($"Http:Ptz:DefaultTimeoutMs {DefaultTimeoutMs} must be between 1 and Http:Ptz:MaxTimeoutMs ({MaxTimeoutMs}) (default 1000).");
        }
        if (CommandTimeoutMs is < 100 or > 120_000)
        {
            errors.Add($"Http:Ptz:CommandTimeoutMs {CommandTimeoutMs} is out of range: use 100-120000 (default 10000).");
        }
        if (!(RatePerSecond > 0) || RatePerSecond > 1000)
        {
            errors.Add($"Http:Ptz:RatePerSecond {RatePerSecond} must be more than 0 and at most 1000 (default 5).");
        }
        if (Burst is < 1 or > 1000)
        {
            errors.Add($"Http:Ptz:Burst {Burst} is out of range: use 1-1000 (default 10).");
        }
    }
}

/// <summary>
/// Section <c>Admin</c>: the endpoint behind <c>hikshare-gateway status</c>. It listens on loopback only and
/// wants a bearer token: the configured <see cref="Token"/>, or a random one the daemon writes at start to
/// <see cref="TokenFile"/> (mode 0600).
/// </summary>
public sealed class AdminOptions : IValidatableOptions
{
    public const string Section = "Admin";

    /// <summary>Loopback port of the admin endpoint. Default 8081; 0 disables it (and <c>status</c>).</summary>
    public int Port { get; set; } = 8081;

    /// <summary>Loopback address to bind. Default <c>127.0.0.1</c>; only loopback addresses are accepted.</summary>
    public string BindAddress { get; set; } = "127.0.0.1";

    /// <summary>A fixed admin token (at least 16 characters). Default none: a random token is written to <see cref="TokenFile"/>.</summary>
    public string? Token { get; set; }

    /// <summary>Where the daemon writes its random admin token. Default <c>{Gateway:StateDirectory}/admin.token</c>.</summary>
    public string? TokenFile { get; set; }

    public const string DefaultTokenFileName = "admin.token";

    public string ResolveTokenFile(GatewayOptions gateway) =>
        string.IsNullOrWhiteSpace(TokenFile) ? Path.Combine(gateway.StateDirectory, DefaultTokenFileName) : TokenFile;

    public void Validate(ICollection<string> errors)
    {
        if (Port is < 0 or > 65535)
        {
            errors.Add($"Admin:Port {Port} is out of range: use 1-65535 (default 8081), or 0 to disable the admin endpoint.");
        }
        if (!IPAddress.TryParse(BindAddress, out var ip))
        {
            errors.Add($"Admin:BindAddress \"{BindAddress}\" is not an IP address: use 127.0.0.1 (default) or ::1.");
        }
        else if (!IPAddress.IsLoopback(ip))
        {
            errors.Add($"Admin:BindAddress \"{BindAddress}\" is not a loopback address: the admin endpoint only listens on 127.0.0.1 (default) or ::1.");
        }
        if (Token is not null && Token.Length < 16)
        {
            errors.Add("Admin:Token is too short: use at least 16 random characters, or remove it to let the daemon write a random token to Admin:TokenFile.");
        }
    }
}
