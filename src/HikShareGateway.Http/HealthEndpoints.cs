using HikShareGateway.Core.Configuration;
using HikShareGateway.Core.Devices;
using HikShareGateway.Core.Diagnostics;

namespace HikShareGateway.Http;

public sealed record ReadinessCheck(bool Ok, string Detail);

public sealed record Readiness(string Status, IReadOnlyDictionary<string, ReadinessCheck> Checks)
{
    public bool Ready => Status == "ready";
}

/// <summary>
/// <c>/healthz</c> (liveness: the process answers; no auth, no I/O) and <c>/readyz</c> (readiness: grants are
/// usable — the broker is connected or grants were received before — and the configured devices are online).
/// Neither says which devices exist: only counts leave the gateway unauthenticated.
/// </summary>
public static class HealthEndpoints
{
    public static Readiness Evaluate(IGrantsStatus grants, IDeviceCatalog catalog, IReadOnlyList<DeviceOptions> configured)
    {
        var checks = new Dictionary<string, ReadinessCheck>(StringComparer.Ordinal);

        checks["grants"] = grants.BrokerConnected
            ? new ReadinessCheck(true, $"broker connected, grants version {grants.Version}")
            : grants.Version > 0
                ? new ReadinessCheck(true, $"broker not connected; enforcing cached grants version {grants.Version} ({grants.Source})")
                : new ReadinessCheck(false, "broker not connected and no grants ever received: every viewer is denied (check Cloud:Broker)");

        // Configured devices: those with an explicit DeviceId must be in the catalog and online; the ones
        // known by their OnvifUrl only get their id from ONVIF, so every configured catalog entry counts.
        var offline = 0;
        var missing = 0;
        var total = 0;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var o in configured)
        {
            if (string.IsNullOrWhiteSpace(o.DeviceId))
            {
                continue;
            }
            total++;
            seen.Add(o.DeviceId);
            if (!catalog.TryGetDevice(o.DeviceId, out var d))
            {
                missing++;
            }
            else if (!d.Online)
            {
                offline++;
            }
        }
        var byUrl = configured.Count(o => string.IsNullOrWhiteSpace(o.DeviceId));
        var urlKnown = 0;
        foreach (var d in catalog.Devices)
        {
            if (d.Source == DeviceSource.Configuration && !seen.Contains(d.DeviceId))
            {
                urlKnown++;
                if (!d.Online)
                {
                    offline++;
                }
            }
        }
        missing += Math.Max(0, byUrl - urlKnown);
        total += byUrl;
        checks["devices"] = offline + missing == 0
            ? new ReadinessCheck(true, total == 0 ? "no devices configured" : $"{total} configured device(s) online")
            : new ReadinessCheck(false, $"{offline + missing} of {total} configured device(s) not reachable ({offline} offline, {missing} not found yet)");

        return new Readiness(checks.Values.All(c => c.Ok) ? "ready" : "not ready", checks);
    }
}
