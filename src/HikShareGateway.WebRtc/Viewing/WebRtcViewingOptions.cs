using HikShareGateway.Media;

namespace HikShareGateway.WebRtc.Viewing;

/// <summary>
/// The viewing side of the <c>WebRtc</c> section (contract §5.1): capacity and the slow-viewer queue. The protocol
/// side (port, MTU, timeouts) is <see cref="WebRtcOptions"/>. Validated at start with every error at once.
/// </summary>
// { get; set; }, not init: the configuration binding generator (NativeAOT) leaves init-only properties unbound.
public sealed record WebRtcViewingOptions
{
    /// <summary>WebRTC sessions at once on this gateway; the next offer gets 503.</summary>
    public int MaxSessions { get; set; } = 300;

    /// <summary>WebRTC sessions at once of one account; the next offer gets 503.</summary>
    public int MaxSessionsPerAccount { get; set; } = 16;

    /// <summary>How long an offer waits for the device's stream to start (504 after).</summary>
    public int UpstreamTimeoutSeconds { get; set; } = 15;

    /// <summary>Queued bytes per viewer above which it skips to the next keyframe (as <c>Rtsp</c>'s viewer queue).</summary>
    public int QueueMaxBytes { get; set; } = 4 * 1024 * 1024;

    /// <summary>Age of the oldest queued packet above which the viewer skips to the next keyframe.</summary>
    public int QueueMaxDelayMilliseconds { get; set; } = 2000;

    /// <summary>Overflows within <see cref="QueueOverflowWindowSeconds"/> after which a viewer is disconnected.</summary>
    public int QueueMaxOverflows { get; set; } = 3;

    public int QueueOverflowWindowSeconds { get; set; } = 30;

    public SubscriberQueueLimits QueueLimits => new(QueueMaxBytes, TimeSpan.FromMilliseconds(QueueMaxDelayMilliseconds),
        QueueMaxOverflows, TimeSpan.FromSeconds(QueueOverflowWindowSeconds), TimeSpan.FromSeconds(10));

    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (MaxSessions < 1) errors.Add($"WebRtc:MaxSessions must be at least 1, not {MaxSessions}.");
        if (MaxSessionsPerAccount < 1) errors.Add($"WebRtc:MaxSessionsPerAccount must be at least 1, not {MaxSessionsPerAccount}.");
        if (UpstreamTimeoutSeconds is < 1 or > 120) errors.Add($"WebRtc:UpstreamTimeoutSeconds must be 1..120, not {UpstreamTimeoutSeconds}.");
        if (QueueMaxBytes < 64 * 1024) errors.Add($"WebRtc:QueueMaxBytes must be at least 65536, not {QueueMaxBytes}.");
        if (QueueMaxDelayMilliseconds < 100) errors.Add($"WebRtc:QueueMaxDelayMilliseconds must be at least 100, not {QueueMaxDelayMilliseconds}.");
        if (QueueMaxOverflows < 1) errors.Add($"WebRtc:QueueMaxOverflows must be at least 1, not {QueueMaxOverflows}.");
        if (QueueOverflowWindowSeconds < 1) errors.Add($"WebRtc:QueueOverflowWindowSeconds must be at least 1, not {QueueOverflowWindowSeconds}.");
        return errors;
    }
}
