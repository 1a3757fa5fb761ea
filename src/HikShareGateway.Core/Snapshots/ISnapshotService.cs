using HikShareGateway.Core.Devices;

namespace HikShareGateway.Core.Snapshots;

/// <summary>A JPEG of a channel's picture (contract §5.3).</summary>
/// <param name="Jpeg">The JPEG bytes (shared by every caller of the same picture and width: never write to it).</param>
/// <param name="Width">JPEG width.</param>
/// <param name="Height">JPEG height (the source's aspect ratio).</param>
/// <param name="TakenAt">When the picture's decode started (the picture is the latest keyframe at that time).</param>
public sealed record SnapshotImage(ReadOnlyMemory<byte> Jpeg, int Width, int Height, DateTimeOffset TakenAt)
{
    /// <summary>Where the picture came from: <c>stream</c> (a decoded keyframe) or <c>device</c> (the device's own JPEG).</summary>
    public string Origin { get; init; } = "stream";
}

/// <summary>Why a snapshot could not be made (the HTTP layer maps each to its status).</summary>
public enum SnapshotFailure
{
    /// <summary>Snapshots are off on this gateway (FFmpeg libraries missing): 503.</summary>
    Unavailable,
    /// <summary>Too many snapshots being made at once: 503 with a retry.</summary>
    Busy,
    /// <summary>No keyframe came from the device in time: 504.</summary>
    Timeout,
    /// <summary>The stream has no video, or its codec is one the decoder does not take: 409.</summary>
    NoVideo,
    /// <summary>The device's picture could not be decoded: 502.</summary>
    Undecodable,
}

/// <summary>A snapshot that could not be made; the message is for the viewer (no device address or credential in it).</summary>
public sealed class SnapshotException(SnapshotFailure failure, string message, Exception? inner = null) : Exception(message, inner)
{
    public SnapshotFailure Failure { get; } = failure;
}

/// <summary>
/// Pictures of a channel's live stream, for <c>GET …/snapshot.jpg</c> and alarm pictures. Authorization is the
/// caller's (it checks <c>liveView</c> first). Thread-safe.
/// </summary>
public interface ISnapshotService
{
    /// <summary>Null when snapshots can be made; else why not (shown to viewers in the 503).</summary>
    string? UnavailableReason { get; }

    /// <summary>
    /// The latest keyframe of the channel's stream as JPEG, <paramref name="width"/> pixels wide (0: the source's
    /// width). Concurrent callers for one stream share one decode; pictures are reused for a short window.
    /// </summary>
    /// <exception cref="SnapshotException">Off, busy, no keyframe in time, no video or undecodable.</exception>
    /// <exception cref="DeviceException">The device failed (502) or did not answer (504).</exception>
    Task<SnapshotImage> TakeAsync(string deviceId, int channel, StreamKind kind, int width, CancellationToken cancellationToken);
}

/// <summary>The fallback when no media-processing feature is registered: every snapshot is refused as unavailable.</summary>
public sealed class UnavailableSnapshotService(string reason = "snapshots are not available on this gateway") : ISnapshotService
{
    public string? UnavailableReason => reason;

    public Task<SnapshotImage> TakeAsync(string deviceId, int channel, StreamKind kind, int width, CancellationToken cancellationToken) =>
        Task.FromException<SnapshotImage>(new SnapshotException(SnapshotFailure.Unavailable, reason));
}
