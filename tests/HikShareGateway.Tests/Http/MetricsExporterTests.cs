using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using HikShareGateway.Access.Sessions;
using HikShareGateway.Core.Access;
using HikShareGateway.Core.Devices;
using HikShareGateway.Core.Diagnostics;
using HikShareGateway.Http.Metrics;
using HikShareGateway.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace HikShareGateway.Tests.Http;

/// <summary>
/// <c>/metrics</c>: our MeterListener exporter against the text exposition format 0.0.4 — counters end in
/// <c>_total</c> with TYPE counter, histograms have cumulative buckets, each host reads its own meter.
/// </summary>
[Trait("Category", "Unit")]
public class MetricsExporterTests
{
    private static readonly Action<Microsoft.Extensions.DependencyInjection.IServiceCollection> PerAccount =
        s => Microsoft.Extensions.DependencyInjection.ServiceCollectionServiceExtensions.AddSingleton(s, new MetricsOptions { MetricsPerAccount = true });

    private static async Task<string> Scrape(ApiTestHost host)
    {
        var r = await host.SendAsync(HttpMethod.Get, "/metrics", null);
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.Equal("text/plain; version=0.0.4; charset=utf-8", r.Content.Headers.ContentType?.ToString());
        return await r.Content.ReadAsStringAsync();
    }

    private static MetricsExporter NewExporter(GatewayMetrics metrics, ISessionRegistry? sessions = null, IReadOnlyList<DeviceInfo>? devices = null) =>
        new(metrics, new FakeGrantsStatus(), new StaticDeviceCatalog(devices ?? []), sessions ?? new SessionRegistry(new FakePolicy(), new RecordingAudit(), TimeProvider.System, NullLogger<SessionRegistry>.Instance),
            TimeProvider.System, new MetricsOptions());

    /// <summary>Every sample line: name, labels, value (the grammar of the format, strictly).</summary>
    private static readonly Regex SampleLine = new("""^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?<labels>([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\\\|\\"|\\n)*")(,[a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\\\|\\"|\\n)*")*)\})? (?<value>[-+]?([0-9.]+([eE][-+]?[0-9]+)?|Inf)|NaN)$""");

    /// <summary>Checks the whole text against the 0.0.4 grammar; returns family → TYPE.</summary>
    private static Dictionary<string, string> AssertWellFormed(string text)
    {
        Assert.EndsWith("\n", text);
        var types = new Dictionary<string, string>(StringComparer.Ordinal);
        string? family = null;
        foreach (var line in text.TrimEnd('\n').Split('\n'))
        {
            if (line.StartsWith("# HELP ", StringComparison.Ordinal))
            {
                continue;
            }
            if (line.StartsWith("# TYPE ", StringComparison.Ordinal))
            {
                var parts = line.Split(' ');
                Assert.Equal(4, parts.Length);
                Assert.Contains(parts[3], new[] { "counter", "gauge", "histogram" });
                Assert.True(types.TryAdd(parts[2], parts[3]), $"TYPE twice for {parts[2]}");
                family = parts[2];
                continue;
            }
            var m = SampleLine.Match(line);
            Assert.True(m.Success, $"not a sample line: {line}");
            var name = m.Groups["name"].Value;
            Assert.NotNull(family);
            Assert.True(name == family || (types[family!] == "histogram" && (name == family + "_bucket" || name == family + "_sum" || name == family + "_count")),
                $"{name} is not in family {family}");
        }
        return types;
    }

    [Fact]
    public async Task Metrics_FreshHost_IsValidExposition_CountersTotalAndTypedCounter_HistogramsTyped()
    {
        await using var host = await ApiTestHost.StartAsync();
        var types = AssertWellFormed(await Scrape(host));
        foreach (var counter in new[]
                 {
                     "hikshare_relayed_bytes_total", "hikshare_relayed_packets_total", "hikshare_dropped_packets_total", "hikshare_slow_viewer_disconnects_total",
                     "hikshare_upstream_reconnects_total", "hikshare_authentication_failures_total", "hikshare_access_decisions_total", "hikshare_revocations_total",
                     "hikshare_grant_messages_rejected_total", "hikshare_alarms_total",
                 })
        {
            Assert.Equal("counter", types[counter]);
        }
        foreach (var (name, type) in types)
        {
            Assert.Equal(name.EndsWith("_total", StringComparison.Ordinal), type == "counter");
            Assert.StartsWith("hikshare_", name);
            Assert.DoesNotContain("hiksharegateway", name);
        }
        Assert.Equal("gauge", types["hikshare_viewer_sessions"]);
        Assert.Equal("gauge", types["hikshare_upstream_sessions"]);
        Assert.Equal("histogram", types["hikshare_http_request_duration_seconds"]);
        Assert.Equal("histogram", types["hikshare_session_duration_seconds"]);
    }

    [Fact]
    public async Task Metrics_NeverRecorded_IsOneUnlabelledZero_HistogramEmptyBuckets()
    {
        var metrics = TestMeterFactory.NewMetrics();
        using var exporter = NewExporter(metrics);
        var text = exporter.Collect();
        Assert.Contains("\nhikshare_dropped_packets_total 0\n", text);
        Assert.Contains("\nhikshare_viewer_sessions 0\n", text);
        Assert.Contains("\nhikshare_session_duration_seconds_bucket{le=\"+Inf\"} 0\n", text);
        Assert.Contains("\nhikshare_session_duration_seconds_count 0\n", text);

        // Once a labelled series exists the unlabelled zero goes.
        metrics.Alarms.Add(1, new KeyValuePair<string, object?>("kind", "motion"));
        text = exporter.Collect();
        Assert.Contains("\nhikshare_alarms_total{kind=\"motion\"} 1\n", text);
        Assert.DoesNotContain("\nhikshare_alarms_total 0\n", text);
    }

    [Fact]
    public void Histogram_Observations_CumulativeBuckets_InfEqualsCount_Sum()
    {
        var metrics = TestMeterFactory.NewMetrics();
        using var exporter = NewExporter(metrics);
        var live = new KeyValuePair<string, object?>("action", "liveView");
        foreach (var seconds in new[] { 0.5, 5, 45, 45, 100_000 })
        {
            metrics.SessionDuration.Record(seconds, live);
        }
        var text = exporter.Collect();
        AssertWellFormed(text);
        var buckets = Regex.Matches(text, "hikshare_session_duration_seconds_bucket\\{action=\"liveView\",le=\"([^\"]+)\"\\} ([0-9]+)")
            .ToDictionary(m => m.Groups[1].Value, m => long.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture));
        Assert.Equal(1, buckets["1"]);
        Assert.Equal(2, buckets["10"]);
        Assert.Equal(2, buckets["30"]);
        Assert.Equal(4, buckets["60"]);
        Assert.Equal(4, buckets["86400"]);
        Assert.Equal(5, buckets["+Inf"]);
        long previous = 0;
        foreach (var count in buckets.Values)
        {
            Assert.True(count >= previous, "buckets must be cumulative");
            previous = count;
        }
        Assert.Contains("\nhikshare_session_duration_seconds_count{action=\"liveView\"} 5\n", text);
        Assert.Contains("\nhikshare_session_duration_seconds_sum{action=\"liveView\"} 100095.5\n", text);
    }

    [Fact]
    public async Task Metrics_TwoHosts_DoNotShareCounterValues()
    {
        await using var a = await ApiTestHost.StartAsync();
        await using var b = await ApiTestHost.StartAsync();
        Assert.NotSame(a.Metrics.Meter, b.Metrics.Meter);
        a.Metrics.RelayedBytes.Add(1000);
        a.Metrics.RelayedBytes.Add(234);
        b.Metrics.RelayedBytes.Add(7);

        Assert.Contains("\nhikshare_relayed_bytes_total 1234\n", await Scrape(a));
        Assert.Contains("\nhikshare_relayed_bytes_total 7\n", await Scrape(b));
        // A component built without a host records into a meter nobody exports.
        GatewayMetrics.Unexported.RelayedBytes.Add(99);
        Assert.Contains("\nhikshare_relayed_bytes_total 1234\n", await Scrape(a));
    }

    [Fact]
    public async Task ObservableInstruments_AreAskedAtEachScrape_TheirValueReplacesTheLastOne()
    {
        await using var host = await ApiTestHost.StartAsync();
        long failures = 3;
        var reasons = new Dictionary<string, long> { ["stun-bad-integrity"] = 2 };
        host.Metrics.Meter.CreateObservableCounter("hikshare_test_auth_failures", () => failures, description: "test");
        host.Metrics.Meter.CreateObservableCounter("hikshare_test_dropped", () => reasons.Select(r => new System.Diagnostics.Metrics.Measurement<long>(r.Value, new KeyValuePair<string, object?>("reason", r.Key))));
        host.Metrics.Meter.CreateObservableGauge("hikshare_test_queue_bytes", () => 1.5);

        var first = await Scrape(host);
        AssertWellFormed(first);
        Assert.Contains("# TYPE hikshare_test_auth_failures_total counter\n", first);
        Assert.Contains("\nhikshare_test_auth_failures_total 3\n", first);
        Assert.Contains("\nhikshare_test_dropped_total{reason=\"stun-bad-integrity\"} 2\n", first);
        Assert.Contains("# TYPE hikshare_test_queue_bytes gauge\n", first);
        Assert.Contains("\nhikshare_test_queue_bytes 1.5\n", first);

        // The next scrape reports what the instrument says now, not the sum of both observations.
        failures = 5;
        reasons["stun-bad-integrity"] = 4;
        var second = await Scrape(host);
        Assert.Contains("\nhikshare_test_auth_failures_total 5\n", second);
        Assert.Contains("\nhikshare_test_dropped_total{reason=\"stun-bad-integrity\"} 4\n", second);
        Assert.Contains("\nhikshare_test_queue_bytes 1.5\n", second);
    }

    [Fact]
    public async Task Metrics_Sessions_NoAccountLabelByDefault()
    {
        await using var host = await ApiTestHost.StartAsync();
        using var live = host.Sessions.Register(new ViewerSession { SessionId = "s1", Account = "bob@example.com", DeviceId = "cam-1", Channel = 1, Action = Privilege.LiveView, Remote = "127.0.0.1:5000", Revoke = _ => { } });
        using var live2 = host.Sessions.Register(new ViewerSession { SessionId = "s2", Account = "carol@example.com", DeviceId = "cam-1", Channel = 1, Action = Privilege.LiveView, Remote = "127.0.0.1:5001", Revoke = _ => { } });
        var text = await Scrape(host);
        Assert.Contains("\nhikshare_sessions{action=\"liveView\"} 2\n", text);
        Assert.DoesNotContain("account=", text);
        Assert.DoesNotContain("example.com", text);
    }

    [Fact]
    public async Task Metrics_MetricsPerAccount_LabelsSessionsByAccount()
    {
        await using var host = await ApiTestHost.StartAsync(PerAccount);
        using var live = host.Sessions.Register(new ViewerSession { SessionId = "s1", Account = "bob@example.com", DeviceId = "cam-1", Channel = 1, Action = Privilege.LiveView, Remote = "127.0.0.1:5000", Revoke = _ => { } });
        Assert.Contains("\nhikshare_sessions{action=\"liveView\",account=\"bob@example.com\"} 1\n", await Scrape(host));
    }

    [Fact]
    public async Task HttpRequestDuration_LabelsRouteTemplateMethodStatus_NeverTheRawPath()
    {
        await using var host = await ApiTestHost.StartAsync();
        host.Policy.Grant("bob@example.com", ApiTestHost.Device, 1, Privilege.Ptz);
        Assert.Equal(HttpStatusCode.OK, (await host.SendAsync(HttpMethod.Get, "/healthz", null)).StatusCode);
        await host.SendAsync(HttpMethod.Get, $"/api/v1/devices/{ApiTestHost.Device}/channels/1/ptz/presets", "tok-bob");
        await host.SendAsync(HttpMethod.Get, "/api/v1/devices/secret-device-9/channels/3/ptz/presets", null);
        await host.SendAsync(HttpMethod.Get, "/no/such/path-xyz", null);

        var text = await Scrape(host);
        AssertWellFormed(text);
        Assert.Contains("hikshare_http_request_duration_seconds_count{method=\"GET\",route=\"/healthz\",status=\"200\"} 1\n", text);
        Assert.Contains("hikshare_http_request_duration_seconds_count{method=\"GET\",route=\"/api/v1/devices/{deviceId}/channels/{channel}/ptz/presets\",status=\"401\"} 1\n", text);
        Assert.Matches("hikshare_http_request_duration_seconds_count\\{method=\"GET\",route=\"/api/v1/devices/\\{deviceId\\}/channels/\\{channel\\}/ptz/presets\",status=\"[0-9]+\"\\} 1\n", text);
        Assert.Contains("hikshare_http_request_duration_seconds_count{method=\"GET\",route=\"unmatched\",status=\"404\"} 1\n", text);
        Assert.DoesNotContain("secret-device-9", text);
        Assert.DoesNotContain("path-xyz", text);
        Assert.DoesNotContain(ApiTestHost.Device + "/", text);
    }

    [Fact]
    public void SessionDuration_EndedAndRevokedSessions_RecordedOnceEachByAction()
    {
        var metrics = TestMeterFactory.NewMetrics();
        var time = new FakeTimeProvider(DateTimeOffset.Parse("2026-11-25T10:00:00Z", CultureInfo.InvariantCulture));
        var policy = new FakePolicy();
        policy.Grant("bob@example.com", "cam-1", 1, Privilege.LiveView | Privilege.Playback);
        using var registry = new SessionRegistry(policy, new RecordingAudit(), time, NullLogger<SessionRegistry>.Instance, metrics);
        using var exporter = NewExporter(metrics, registry);
        ViewerSession Session(string id, Privilege action) => new() { SessionId = id, Account = "bob@example.com", DeviceId = "cam-1", Channel = 1, Action = action, Remote = "127.0.0.1:1", Revoke = _ => { } };

        var live = registry.Register(Session("s-live", Privilege.LiveView));
        var playback = registry.Register(Session("s-pb", Privilege.Playback));
        time.Advance(TimeSpan.FromSeconds(90));
        live.Dispose();
        live.Dispose(); // idempotent: still one observation
        time.Advance(TimeSpan.FromSeconds(3600));
        policy.RevokeAll("bob@example.com"); // cut by the registry
        playback.Dispose();

        var text = exporter.Collect();
        Assert.Contains("\nhikshare_session_duration_seconds_count{action=\"liveView\"} 1\n", text);
        Assert.Contains("\nhikshare_session_duration_seconds_sum{action=\"liveView\"} 90\n", text);
        Assert.Contains("\nhikshare_session_duration_seconds_bucket{action=\"liveView\",le=\"60\"} 0\n", text);
        Assert.Contains("\nhikshare_session_duration_seconds_bucket{action=\"liveView\",le=\"300\"} 1\n", text);
        Assert.Contains("\nhikshare_session_duration_seconds_count{action=\"playback\"} 1\n", text);
        Assert.Contains("\nhikshare_session_duration_seconds_sum{action=\"playback\"} 3690\n", text);
        Assert.Contains("\nhikshare_revocations_total{action=\"playback\"} 1\n", text);
    }

    [Fact]
    public void Writer_LabelValuesFromTheNetwork_AreEscaped()
    {
        var b = new StringBuilder();
        var w = new PrometheusTextWriter(b);
        w.Family("hikshare_device_online", "gauge", "line\none \\ two");
        w.Sample("hikshare_device_online", [new("device_id", "cam\"1\\\nx")], 1);
        Assert.Equal("# HELP hikshare_device_online line\\none \\\\ two\n# TYPE hikshare_device_online gauge\nhikshare_device_online{device_id=\"cam\\\"1\\\\\\nx\"} 1\n", b.ToString());
        AssertWellFormed(b.ToString());
    }

    [Theory]
    [InlineData(0.0, "0")]
    [InlineData(1234.0, "1234")]
    [InlineData(0.005, "0.005")]
    [InlineData(double.PositiveInfinity, "+Inf")]
    [InlineData(double.NegativeInfinity, "-Inf")]
    [InlineData(double.NaN, "NaN")]
    public void Writer_Values_AreGoFloats(double value, string text) => Assert.Equal(text, PrometheusTextWriter.FormatValue(value));

    [Fact]
    public void Exporter_DeviceIdFromTheNetwork_CannotBreakTheFormat()
    {
        var metrics = TestMeterFactory.NewMetrics();
        using var exporter = NewExporter(metrics, devices: [new DeviceInfo { DeviceId = "evil\"}\n# TYPE x counter\nx 1", Channels = [], Online = true }]);
        var text = exporter.Collect();
        AssertWellFormed(text);
        Assert.DoesNotContain("\n# TYPE x counter", text);
    }

    [Fact]
    public void Recording_KnownTagSet_AllocatesNothing()
    {
        var metrics = TestMeterFactory.NewMetrics();
        using var exporter = NewExporter(metrics);
        var live = new KeyValuePair<string, object?>("action", "liveView");
        // First measurements create the series (once per tag set).
        metrics.RelayedBytes.Add(1);
        metrics.RelayedPackets.Add(1);
        metrics.ViewerSessions.Add(1, live);
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 10_000; i++)
        {
            metrics.RelayedBytes.Add(1400);
            metrics.RelayedPackets.Add(1);
            metrics.ViewerSessions.Add(0, live);
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Contains("\nhikshare_relayed_bytes_total 14000001\n", exporter.Collect());
        Assert.Contains("\nhikshare_relayed_packets_total 10001\n", exporter.Collect());
    }

    [Fact]
    public void Collector_TwoMetersOfTheSameName_ReadsOnlyItsOwn()
    {
        var mine = TestMeterFactory.NewMetrics();
        var other = TestMeterFactory.NewMetrics();
        Assert.Equal(mine.Meter.Name, other.Meter.Name);
        using var exporter = NewExporter(mine);
        other.Alarms.Add(5, new KeyValuePair<string, object?>("kind", "motion"));
        mine.Alarms.Add(1, new KeyValuePair<string, object?>("kind", "motion"));
        Assert.Contains("\nhikshare_alarms_total{kind=\"motion\"} 1\n", exporter.Collect());
    }

    [Fact]
    public async Task Metrics_ProcessHeap_AllocatedBytesCountUpBetweenScrapes_CollectionsByGeneration()
    {
        await using var host = await ApiTestHost.StartAsync();
        var first = await Scrape(host);
        var allocatedBefore = Series(first, "hikshare_process_allocated_bytes_total");
        Assert.True(allocatedBefore > 0, first);
        var garbage = new byte[256 * 1024]; // 256 KiB more on the heap before the next scrape
        GC.KeepAlive(garbage);

        var second = await Scrape(host);
        Assert.True(Series(second, "hikshare_process_allocated_bytes_total") >= allocatedBefore + garbage.Length, second);
        foreach (var generation in new[] { "0", "1", "2" })
        {
            Assert.True(Series(second, $"hikshare_process_gc_collections_total{{generation=\"{generation}\"}}") >= 0, second);
        }
        Assert.True(Series(second, "hikshare_process_gc_heap_bytes") >= 0, second);
    }

    /// <summary>The value of the series named exactly <paramref name="series"/> (name and labels), or fails.</summary>
    private static double Series(string text, string series)
    {
        foreach (var line in text.Split('\n'))
        {
            if (line.StartsWith(series + " ", StringComparison.Ordinal))
            {
                return double.Parse(line[(series.Length + 1)..], System.Globalization.CultureInfo.InvariantCulture);
            }
        }
        Assert.Fail($"/metrics lacks {series}:\n{text}");
        return 0;
    }
}

/// <summary>The exposition read by the official Prometheus Python client's parser (Debian python3-prometheus-client).</summary>
[Trait("Category", "Integration")]
public class MetricsPrometheusParserTests
{
    private const string Python = "/usr/bin/python3";

    [Fact]
    public async Task Metrics_ParsedByPrometheusClient_CountersAndHistogramsAsTyped()
    {
        await using var host = await ApiTestHost.StartAsync();
        host.Metrics.RelayedBytes.Add(5000);
        host.Metrics.Decisions.Add(1, new("action", "liveView"), new("decision", "allow"));
        host.Metrics.SessionDuration.Record(42, new KeyValuePair<string, object?>("action", "liveView"));
        await host.SendAsync(HttpMethod.Get, "/healthz", null);
        var text = await (await host.SendAsync(HttpMethod.Get, "/metrics", null)).Content.ReadAsStringAsync();

        var script = Path.Combine(GstRtspCamera.FindRepoRoot(), "scripts", "prometheus-parse.py");
        Assert.True(File.Exists(Python), $"{Python} is missing (scripts/prereqs.sh installs python3-prometheus-client)");
        var input = Path.GetTempFileName();
        try
        {
            await File.WriteAllTextAsync(input, text);
            var run = await ToolRunner.RunAsync(Python, [script, input], TimeSpan.FromSeconds(60));
            Assert.True(run.ExitCode == 0, $"the Prometheus parser refused the exposition: {run.Stderr}\n{text}");
            var families = JsonDocument.Parse(run.Stdout).RootElement;
            string TypeOf(string name) => families.GetProperty(name).GetProperty("type").GetString()!;
            // The client names a counter family without _total; its samples keep it.
            Assert.Equal("counter", TypeOf("hikshare_relayed_bytes"));
            Assert.Contains(families.GetProperty("hikshare_relayed_bytes").GetProperty("samples").EnumerateArray(),
                s => s.GetProperty("name").GetString() == "hikshare_relayed_bytes_total" && s.GetProperty("value").GetDouble() == 5000);
            Assert.Equal("counter", TypeOf("hikshare_access_decisions"));
            Assert.Equal("histogram", TypeOf("hikshare_session_duration_seconds"));
            Assert.Equal("histogram", TypeOf("hikshare_http_request_duration_seconds"));
            Assert.Equal("gauge", TypeOf("hikshare_viewer_sessions"));
            Assert.Equal("gauge", TypeOf("hikshare_grants_version"));
            Assert.Contains(families.GetProperty("hikshare_session_duration_seconds").GetProperty("samples").EnumerateArray(),
                s => s.GetProperty("name").GetString() == "hikshare_session_duration_seconds_bucket" && double.Parse(s.GetProperty("labels").GetProperty("le").GetString()!, CultureInfo.InvariantCulture) == 60 && s.GetProperty("value").GetDouble() == 1);
        }
        finally
        {
            File.Delete(input);
        }
    }
}
