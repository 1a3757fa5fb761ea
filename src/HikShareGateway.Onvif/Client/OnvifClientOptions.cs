using HikShareGateway.Core.Configuration;

namespace HikShareGateway.Onvif.Client;

/// <summary>Section <c>Onvif</c>: how the gateway talks to ONVIF devices. Every value has a working default.</summary>
public sealed class OnvifOptions : IValidatableOptions
{
    public const string Section = "Onvif";

    /// <summary>Timeout of one SOAP call, seconds. Default 10.</summary>
    public int RequestTimeoutSeconds { get; set; } = 10;

    /// <summary>Largest SOAP response accepted, bytes. Default 4 MiB (a 32-channel NVR's GetProfiles is ~1 MiB).</summary>
    public int MaxResponseBytes { get; set; } = 4 * 1024 * 1024;

    /// <summary>Seconds between refreshes of a device's description (profiles, stream URIs). Default 300.</summary>
    public int RefreshIntervalSeconds { get; set; } = 300;

    /// <summary>Consecutive failed refreshes after which a device is marked offline. Default 3.</summary>
    public int OfflineAfterFailures { get; set; } = 3;

    /// <summary>PullPoint events on online devices (alarms). Default true.</summary>
    public bool Events { get; set; } = true;

    /// <summary>Seconds a repeat of the same alarm (device, channel, kind, state) is suppressed. Default 5.</summary>
    public int AlarmDebounceSeconds { get; set; } = 5;

    /// <summary>Address of the interface WS-Discovery probes go out on (e.g. <c>192.168.1.10</c>). Default: the system's choice.</summary>
    public string? DiscoveryInterface { get; set; }

    /// <summary>WS-Discovery UDP port. Default 3702 (WS-Discovery §2.4); tests use another.</summary>
    public int DiscoveryPort { get; set; } = 3702;

    /// <summary>Seconds to collect ProbeMatches after a probe. Default 3.</summary>
    public double DiscoveryWaitSeconds { get; set; } = 3;

    public TimeSpan RequestTimeout => TimeSpan.FromSeconds(RequestTimeoutSeconds);

    public void Validate(ICollection<string> errors)
    {
        if (RequestTimeoutSeconds is < 1 or > 120)
        {
            errors.Add($"Onvif:RequestTimeoutSeconds {RequestTimeoutSeconds} is out of range: use 1-120 (default 10).");
        }
        if (MaxResponseBytes < 64 * 1024)
        {
            errors.Add($"Onvif:MaxResponseBytes {MaxResponseBytes} is too small: use 65536 or more (default 4194304).");
        }
        if (RefreshIntervalSeconds < 10)
        {
            errors.Add($"Onvif:RefreshIntervalSeconds {RefreshIntervalSeconds} is too small: use 10 or more (default 300).");
        }
        if (OfflineAfterFailures < 1)
        {
            errors.Add($"Onvif:OfflineAfterFailures {OfflineAfterFailures} must be 1 or more (default 3).");
        }
        if (AlarmDebounceSeconds < 0)
        {
            errors.Add($"Onvif:AlarmDebounceSeconds {AlarmDebounceSeconds} must be 0 or more (default 5).");
        }
        if (DiscoveryInterface is not null && !System.Net.IPAddress.TryParse(DiscoveryInterface, out _))
        {
            errors.Add($"Onvif:DiscoveryInterface \"{DiscoveryInterface}\" is not an IP address of this machine (e.g. 192.168.1.10).");
        }
        if (DiscoveryPort is < 1 or > 65535)
        {
            errors.Add($"Onvif:DiscoveryPort {DiscoveryPort} is out of range (default 3702).");
        }
        if (DiscoveryWaitSeconds is <= 0 or > 60)
        {
            errors.Add($"Onvif:DiscoveryWaitSeconds {DiscoveryWaitSeconds} is out of range: use more than 0 and at most 60 (default 3).");
        }
    }
}
