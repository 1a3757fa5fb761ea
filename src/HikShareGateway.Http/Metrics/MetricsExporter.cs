using System.Text;
using HikShareGateway.Core.Access;
using HikShareGateway.Core.Devices;
using HikShareGateway.Core.Diagnostics;

namespace HikShareGateway.Http.Metrics;

/// <summary>
/// <c>/metrics</c> in the Prometheus text format 0.0.4: the host's <see cref="GatewayMetrics"/> meter (read by a
/// <see cref="MeterCollector"/>: counters as <c>counter</c> with <c>_total</c>, up-down counters as <c>gauge</c>,
/// histograms as <c>histogram</c>) plus gauges computed at scrape time from the grants, the device catalog and the
/// session registry.
/// <para>
/// An instrument nothing has recorded into yet is exported as one unlabelled zero (a histogram: empty buckets),
/// so that a fresh daemon already shows every series and a dashboard sees 0, not "no data". Once a labelled
/// series exists, only the labelled series are exported.
/// </para>
/// </summary>
public sealed class MetricsExporter : IDisposable
{
    public const string ContentType = PrometheusTextWriter.ContentType;

    private readonly GatewayMetrics _metrics;
    private readonly MeterCollector _collector;
    private readonly IGrantsStatus _grants;
    private readonly IDeviceCatalog _catalog;
    private readonly ISessionRegistry _sessions;
    private readonly TimeProvider _time;
    private readonly bool _perAccount;

    public MetricsExporter(GatewayMetrics metrics, IGrantsStatus grants, IDeviceCatalog catalog, ISessionRegistry sessions, TimeProvider time, MetricsOptions options)
    {
        _metrics = metrics;
        _collector = new MeterCollector(metrics.Meter);
        _grants = grants;
        _catalog = catalog;
        _sessions = sessions;
        _time = time;
        _perAccount = options.MetricsPerAccount;
    }

    /// <summary>The meter read (the host's; a test checks two hosts do not share it).</summary>
    public GatewayMetrics Metrics => _metrics;

    public async Task WriteAsync(Stream destination, CancellationToken cancellationToken)
    {
        var text = Collect();
        await destination.WriteAsync(Encoding.UTF8.GetBytes(text), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The whole exposition, as a scrape gets it.</summary>
    public string Collect()
    {
        var b = new StringBuilder(8192);
        var w = new PrometheusTextWriter(b);
        _collector.Observe();
        foreach (var instrument in _collector.Instruments)
        {
            WriteInstrument(w, instrument);
        }
        WriteScrapeGauges(w);
        return b.ToString();
    }

    private static void WriteInstrument(PrometheusTextWriter w, InstrumentState state)
    {
        var name = PrometheusTextWriter.SanitizeName(state.Instrument.Name);
        var series = state.Series;
        switch (state.Kind)
        {
            case MetricKind.Counter:
                name = name.EndsWith("_total", StringComparison.Ordinal) ? name : name + "_total";
                w.Family(name, "counter", state.Instrument.Description);
                WriteSums(w, name, series);
                break;
            case MetricKind.Gauge:
                w.Family(name, "gauge", state.Instrument.Description);
                WriteSums(w, name, series);
                break;
            case MetricKind.Histogram:
                w.Family(name, "histogram", state.Instrument.Description);
                if (series.Count == 0)
                {
                    WriteHistogram(w, name, [], state.Buckets, new long[state.Buckets.Length + 1], 0, 0);
                }
                foreach (var s in series)
                {
                    var (counts, sum, count) = s.Histogram();
                    WriteHistogram(w, name, s.Labels, state.Buckets, counts, sum, count);
                }
                break;
        }
    }

    private static void WriteSums(PrometheusTextWriter w, string name, IReadOnlyList<Series> series)
    {
        if (series.Count == 0)
        {
            w.Sample(name, 0);
        }
        foreach (var s in series)
        {
            w.Sample(name, s.Labels, s.Value);
        }
    }

    private static void WriteHistogram(PrometheusTextWriter w, string name, IReadOnlyList<KeyValuePair<string, string>> labels, double[] bounds, long[] counts, double sum, long count)
    {
        var bucket = name + "_bucket";
        long cumulative = 0;
        for (var i = 0; i < bounds.Length; i++)
        {
            cumulative += counts[i];
            w.Sample(bucket, labels, cumulative, new("le", PrometheusTextWriter.FormatValue(bounds[i])));
        }
        w.Sample(bucket, labels, count, new("le", "+Inf"));
        w.Sample(name + "_sum", labels, sum);
        w.Sample(name + "_count", labels, count);
    }

    private void WriteScrapeGauges(PrometheusTextWriter w)
    {
        w.Family("hikshare_grants_version", "gauge", "Version of the grants in force (0 = none ever received).");
        w.Sample("hikshare_grants_version", _grants.Version);
        w.Family("hikshare_grants_age_seconds", "gauge", "Seconds since the grants in force were applied (-1 = never).");
        w.Sample("hikshare_grants_age_seconds", _grants.AppliedAt is { } at ? Math.Max(0, (_time.GetUtcNow() - at).TotalSeconds) : -1);
        w.Family("hikshare_broker_connected", "gauge", "1 while connected to the MQTT broker.");
        w.Sample("hikshare_broker_connected", _grants.BrokerConnected ? 1 : 0);

        var devices = _catalog.Devices;
        var online = 0;
        foreach (var d in devices)
        {
            online += d.Online ? 1 : 0;
        }
        w.Family("hikshare_devices_online", "gauge", "Devices known to the gateway that are online now.");
        w.Sample("hikshare_devices_online", online);
        w.Family("hikshare_devices_known", "gauge", "Devices known to the gateway.");
        w.Sample("hikshare_devices_known", devices.Count);
        w.Family("hikshare_device_online", "gauge", "1 when the device is online, 0 when not.");
        foreach (var d in devices)
        {
            w.Sample("hikshare_device_online", [new("device_id", d.DeviceId)], d.Online ? 1 : 0);
        }

        // Sessions by action (and by account only when HttpApi:MetricsPerAccount allows it).
        var counts = new Dictionary<(string Action, string? Account), int>();
        foreach (var s in _sessions.ActiveSessions)
        {
            var key = (s.Action.ToContractName(), _perAccount ? s.Account : null);
            counts[key] = counts.GetValueOrDefault(key) + 1;
        }
        w.Family("hikshare_sessions", "gauge", _perAccount
            ? "Sessions running now (live, playback, talk, PTZ moves) by action and account."
            : "Sessions running now (live, playback, talk, PTZ moves) by action.");
        foreach (var ((action, account), n) in counts.OrderBy(c => c.Key.Action, StringComparer.Ordinal).ThenBy(c => c.Key.Account, StringComparer.Ordinal))
        {
            w.Sample("hikshare_sessions", account is null ? [new("action", action)] : [new("action", action), new("account", account)], n);
        }
    }

    public void Dispose() => _collector.Dispose();
}
