using System.Diagnostics.Metrics;

namespace HikShareGateway.Core.Diagnostics;

/// <summary>
/// Every instrument of the gateway, on one <see cref="Meter"/> named <c>HikShareGateway</c> made by the host's
/// <see cref="IMeterFactory"/> (one per service provider, so two hosts in one process never share a value).
/// Registered as a singleton; features get it injected and record into it; the HTTP layer exports exactly this
/// meter at <c>/metrics</c>. Instrument names are the Prometheus names (the exporter appends <c>_total</c> to
/// counters); units are in the names (<c>_bytes</c>, <c>_seconds</c>). Recording is allocation-free.
/// </summary>
public sealed class GatewayMetrics
{
    public const string MeterName = "HikShareGateway";

    public GatewayMetrics(IMeterFactory meterFactory)
        : this(meterFactory.Create(new MeterOptions(MeterName) { Version = "1.0" }))
    {
    }

    private GatewayMetrics(Meter meter)
    {
        Meter = meter;
        ViewerSessions = meter.CreateUpDownCounter<long>("hikshare_viewer_sessions", description: "Viewer sessions running now, by action.");
        RelayedBytes = meter.CreateCounter<long>("hikshare_relayed_bytes", "By", "Bytes of RTP/RTCP written to viewers.");
        RelayedPackets = meter.CreateCounter<long>("hikshare_relayed_packets", description: "RTP/RTCP packets written to viewers.");
        DroppedPackets = meter.CreateCounter<long>("hikshare_dropped_packets", description: "Packets dropped for slow viewers (skipped to the next keyframe).");
        SlowViewerDisconnects = meter.CreateCounter<long>("hikshare_slow_viewer_disconnects", description: "Viewers disconnected for staying too slow.");
        UpstreamSessions = meter.CreateUpDownCounter<long>("hikshare_upstream_sessions", description: "Upstream RTSP sessions to devices open now.");
        UpstreamReconnects = meter.CreateCounter<long>("hikshare_upstream_reconnects", description: "Upstream RTSP reconnect attempts.");
        AuthenticationFailures = meter.CreateCounter<long>("hikshare_authentication_failures", description: "Viewer authentications that failed, by reason.");
        Decisions = meter.CreateCounter<long>("hikshare_access_decisions", description: "Viewer decisions by action and decision (allow, deny, revoked, end).");
        Revocations = meter.CreateCounter<long>("hikshare_revocations", description: "Running sessions cut because their grant went away, by action.");
        GrantMessagesRejected = meter.CreateCounter<long>("hikshare_grant_messages_rejected", description: "Grant messages rejected, by reason.");
        Alarms = meter.CreateCounter<long>("hikshare_alarms", description: "Alarms routed, by kind.");
        SessionsRefused = meter.CreateCounter<long>("hikshare_sessions_refused", description: "Viewing sessions refused at a limit, by reason (account-cap) and protocol (rtsp, fmp4).");
        HttpRequestDuration = meter.CreateHistogram("hikshare_http_request_duration_seconds", "s",
            "HTTP API requests by method, route template and status code.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] });
        SessionDuration = meter.CreateHistogram("hikshare_session_duration_seconds", "s",
            "Sessions (live, playback, two-way audio, PTZ) that ended, by action: how long they ran.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [1, 10, 30, 60, 300, 900, 1800, 3600, 7200, 14400, 43200, 86400] });
        // The process's managed heap, read at each scrape (works in the NativeAOT binary too, where no EventPipe or
        // startup hook is available): the allocation rate of the packet path is the rate of the first over
        // hikshare_relayed_packets_total's (bench/README.md).
        meter.CreateObservableCounter("hikshare_process_allocated_bytes", static () => GC.GetTotalAllocatedBytes(), "By",
            "Bytes allocated on the managed heap since the process started (GC.GetTotalAllocatedBytes).");
        meter.CreateObservableCounter("hikshare_process_gc_collections", static () => Collections(), description: "Garbage collections since start, by generation.");
        meter.CreateObservableGauge("hikshare_process_gc_heap_bytes", static () => GC.GetGCMemoryInfo().HeapSizeBytes, "By",
            "Size of the managed heap after the last collection, fragmentation included.");
    }

    private static Measurement<long>[] Collections() =>
    [
        new(GC.CollectionCount(0), new KeyValuePair<string, object?>("generation", "0")),
        new(GC.CollectionCount(1), new KeyValuePair<string, object?>("generation", "1")),
        new(GC.CollectionCount(2), new KeyValuePair<string, object?>("generation", "2")),
    ];

    /// <summary>
    /// For components built without a service provider (tests, benchmarks): instruments on a meter of their own
    /// that no exporter reads. A test that wants to observe values creates its own with a meter factory.
    /// </summary>
    public static GatewayMetrics Unexported { get; } = new(new Meter(MeterName + ".Unexported", "1.0"));

    /// <summary>The meter the exporter reads (by reference: another meter with the same name is not this one).</summary>
    public Meter Meter { get; }

    // Relay (tags: action=liveView|playback|twoWayAudio).
    public UpDownCounter<long> ViewerSessions { get; }
    public Counter<long> RelayedBytes { get; }
    public Counter<long> RelayedPackets { get; }
    public Counter<long> DroppedPackets { get; }
    public Counter<long> SlowViewerDisconnects { get; }
    public UpDownCounter<long> UpstreamSessions { get; }
    public Counter<long> UpstreamReconnects { get; }

    // Access control.
    public Counter<long> AuthenticationFailures { get; }
    public Counter<long> Decisions { get; }
    public Counter<long> Revocations { get; }
    public Counter<long> GrantMessagesRejected { get; }

    // Devices and alarms.
    public Counter<long> Alarms { get; }

    /// <summary>Viewing sessions refused at a limit (reason <c>account-cap</c>: <c>Limits:SessionsPerAccount</c>), by protocol.</summary>
    public Counter<long> SessionsRefused { get; }

    // Durations (seconds). Tags: method, route (the route template, never the raw path), status.
    public Histogram<double> HttpRequestDuration { get; }
    // Tag: action.
    public Histogram<double> SessionDuration { get; }
}

/// <summary>What the grants in force are, for <c>/readyz</c>, <c>/metrics</c> and <c>status</c>.</summary>
public interface IGrantsStatus
{
    /// <summary>Version held (0 = none ever received).</summary>
    long Version { get; }
    /// <summary>When the grants in force were applied (or loaded from the state directory).</summary>
    DateTimeOffset? AppliedAt { get; }
    /// <summary><c>none</c>, <c>state-file</c> (loaded at start) or <c>mqtt</c>.</summary>
    string Source { get; }
    /// <summary>True while the MQTT client is connected to the broker.</summary>
    bool BrokerConnected { get; }
}
