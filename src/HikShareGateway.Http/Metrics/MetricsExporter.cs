using HikShareGateway.Core.Access;
using HikShareGateway.Core.Devices;
using HikShareGateway.Core.Diagnostics;
using Prometheus;

namespace HikShareGateway.Http.Metrics;

/// <summary>
/// <c>/metrics</c> in the Prometheus text format (exposition format 0.0.4) through prometheus-net: the .NET
/// meter <c>HikShareGateway</c> (<see cref="GatewayMetrics"/>, exported by prometheus-net's MeterAdapter, which
/// prefixes the meter name: <c>hikshare_relayed_bytes</c> appears as <c>hiksharegateway_hikshare_relayed_bytes</c>,
/// as a gauge — the adapter exports every .NET counter as a gauge) plus
/// gauges computed at scrape time from the grants, the device catalog and the session registry.
/// </summary>
public sealed class MetricsExporter : IDisposable
{
    private readonly CollectorRegistry _registry = Prometheus.Metrics.NewCustomRegistry();
    private readonly IDisposable _meterAdapter;
    private readonly Lock _gate = new();
    private readonly HashSet<(string, string)> _sessionLabels = [];
    private readonly HashSet<string> _deviceLabels = new(StringComparer.Ordinal);

    public MetricsExporter(IGrantsStatus grants, IDeviceCatalog catalog, ISessionRegistry sessions, TimeProvider time)
    {
        // prometheus-net's default registry would also adapt every meter of the process (Kestrel, sockets…),
        // which nobody scrapes: switch it off. Idempotent.
        Prometheus.Metrics.SuppressDefaultMetrics();
        _meterAdapter = MeterAdapter.StartListening(new MeterAdapterOptions
        {
            Registry = _registry,
            // Without a factory the adapter creates its series in the default registry, not in Registry.
            MetricFactory = Prometheus.Metrics.WithCustomRegistry(_registry),
            InstrumentFilterPredicate = i => i.Meter.Name == GatewayMetrics.MeterName,
        });

        var factory = Prometheus.Metrics.WithCustomRegistry(_registry);
        var grantsVersion = factory.CreateGauge("hikshare_grants_version", "Version of the grants in force (0 = none ever received).");
        var grantsAge = factory.CreateGauge("hikshare_grants_age_seconds", "Seconds since the grants in force were applied (-1 = never).");
        var brokerConnected = factory.CreateGauge("hikshare_broker_connected", "1 while connected to the MQTT broker.");
        var devicesOnline = factory.CreateGauge("hikshare_devices_online", "Devices known to the gateway that are online now.");
        var devicesKnown = factory.CreateGauge("hikshare_devices_known", "Devices known to the gateway.");
        var deviceOnline = factory.CreateGauge("hikshare_device_online", "1 when the device is online, 0 when not.", "device_id");
        var sessionsGauge = factory.CreateGauge("hikshare_sessions", "Sessions running now (live, playback, talk, PTZ moves) by action and account.", "action", "account");

        _registry.AddBeforeCollectCallback(() =>
        {
            grantsVersion.Set(grants.Version);
            grantsAge.Set(grants.AppliedAt is { } at ? Math.Max(0, (time.GetUtcNow() - at).TotalSeconds) : -1);
            brokerConnected.Set(grants.BrokerConnected ? 1 : 0);

            var devices = catalog.Devices;
            devicesKnown.Set(devices.Count);
            devicesOnline.Set(devices.Count(d => d.Online));

            var counts = new Dictionary<(string, string), int>();
            foreach (var s in sessions.ActiveSessions)
            {
                var key = (s.Action.ToContractName(), s.Account);
                counts[key] = counts.GetValueOrDefault(key) + 1;
            }
            lock (_gate)
            {
                var ids = new HashSet<string>(StringComparer.Ordinal);
                foreach (var d in devices)
                {
                    ids.Add(d.DeviceId);
                    deviceOnline.WithLabels(d.DeviceId).Set(d.Online ? 1 : 0);
                }
                foreach (var gone in _deviceLabels.Where(id => !ids.Contains(id)).ToList())
                {
                    deviceOnline.RemoveLabelled(gone);
                    _deviceLabels.Remove(gone);
                }
                _deviceLabels.UnionWith(ids);

                foreach (var (key, n) in counts)
                {
                    sessionsGauge.WithLabels(key.Item1, key.Item2).Set(n);
                }
                foreach (var gone in _sessionLabels.Where(k => !counts.ContainsKey(k)).ToList())
                {
                    sessionsGauge.RemoveLabelled(gone.Item1, gone.Item2);
                    _sessionLabels.Remove(gone);
                }
                _sessionLabels.UnionWith(counts.Keys);
            }
        });

        // Counters appear in the output from their first measurement: record a zero into each so that a
        // fresh daemon already shows every series (a dashboard then sees 0, not "no data").
        GatewayMetrics.ViewerSessions.Add(0);
        GatewayMetrics.RelayedBytes.Add(0);
        GatewayMetrics.RelayedPackets.Add(0);
        GatewayMetrics.DroppedPackets.Add(0);
        GatewayMetrics.SlowViewerDisconnects.Add(0);
        GatewayMetrics.UpstreamSessions.Add(0);
        GatewayMetrics.UpstreamReconnects.Add(0);
        GatewayMetrics.AuthenticationFailures.Add(0);
        GatewayMetrics.Decisions.Add(0);
        GatewayMetrics.Revocations.Add(0);
        GatewayMetrics.GrantMessagesRejected.Add(0);
        GatewayMetrics.Alarms.Add(0);
    }

    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    public Task WriteAsync(Stream destination, CancellationToken cancellationToken) =>
        _registry.CollectAndExportAsTextAsync(destination, cancellationToken);

    public void Dispose() => _meterAdapter.Dispose();
}
