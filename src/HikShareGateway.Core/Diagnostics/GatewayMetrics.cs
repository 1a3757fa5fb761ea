using System.Diagnostics.Metrics;

namespace HikShareGateway.Core.Diagnostics;

/// <summary>
/// Every instrument of the gateway, on one <see cref="Meter"/> named <c>HikShareGateway</c>. Features
/// record into these; the HTTP layer exports them at <c>/metrics</c> in Prometheus text format.
/// Instruments are process-wide statics (as Meter instruments are meant to be): cheap to call on hot paths.
/// </summary>
public static class GatewayMetrics
{
    public const string MeterName = "HikShareGateway";
    public static readonly Meter Meter = new(MeterName, "1.0");

    // Relay (tags: action=liveView|playback|twoWayAudio).
    public static readonly UpDownCounter<long> ViewerSessions = Meter.CreateUpDownCounter<long>("hikshare_viewer_sessions", description: "Viewer sessions running now, by action.");
    public static readonly Counter<long> RelayedBytes = Meter.CreateCounter<long>("hikshare_relayed_bytes", "By", "Bytes of RTP/RTCP written to viewers.");
    public static readonly Counter<long> RelayedPackets = Meter.CreateCounter<long>("hikshare_relayed_packets", description: "RTP/RTCP packets written to viewers.");
    public static readonly Counter<long> DroppedPackets = Meter.CreateCounter<long>("hikshare_dropped_packets", description: "Packets dropped for slow viewers (skipped to the next keyframe).");
    public static readonly Counter<long> SlowViewerDisconnects = Meter.CreateCounter<long>("hikshare_slow_viewer_disconnects", description: "Viewers disconnected for staying too slow.");
    public static readonly UpDownCounter<long> UpstreamSessions = Meter.CreateUpDownCounter<long>("hikshare_upstream_sessions", description: "Upstream RTSP sessions to devices open now.");
    public static readonly Counter<long> UpstreamReconnects = Meter.CreateCounter<long>("hikshare_upstream_reconnects", description: "Upstream RTSP reconnect attempts.");

    // Access control.
    public static readonly Counter<long> AuthenticationFailures = Meter.CreateCounter<long>("hikshare_authentication_failures", description: "Viewer authentications that failed (tag reason).");
    public static readonly Counter<long> Decisions = Meter.CreateCounter<long>("hikshare_access_decisions", description: "Viewer decisions by action and decision (allow, deny, revoked, end).");
    public static readonly Counter<long> Revocations = Meter.CreateCounter<long>("hikshare_revocations", description: "Running sessions cut because their grant went away.");
    public static readonly Counter<long> GrantMessagesRejected = Meter.CreateCounter<long>("hikshare_grant_messages_rejected", description: "Grant messages rejected (tag reason).");

    // Devices and alarms.
    public static readonly Counter<long> Alarms = Meter.CreateCounter<long>("hikshare_alarms", description: "Alarms routed (tag kind).");
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
