namespace HikShareGateway.Core.Playback;

/// <summary>A stretch of recorded video on one channel, in UTC.</summary>
public sealed record RecordingSpan(DateTimeOffset Start, DateTimeOffset End, string RecordingToken);

/// <summary>
/// Recordings of a device's channel, found with ONVIF Profile G (Search and Replay services). Implementations throw
/// <see cref="Devices.DeviceException"/>: NotSupported when the device has no recording search (→ HTTP 409; playback may
/// still work from a configured URL template), Timeout (→ 504), Failed or Unauthorized (→ 502). Privileges are checked
/// before, by the caller.
/// </summary>
public interface IRecordingService
{
    /// <summary>
    /// The spans recorded on the channel that overlap [<paramref name="from"/>, <paramref name="to"/>], clipped to it,
    /// in start order.
    /// </summary>
    Task<IReadOnlyList<RecordingSpan>> FindAsync(string deviceId, int channel, DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken);

    /// <summary>
    /// The RTSP URI to replay the channel's recording that holds <paramref name="at"/> (or the channel's only one),
    /// used with <c>Require: onvif-replay</c> and <c>Range: clock=</c>; already rewritten to the address the gateway
    /// reaches the device at, without credentials.
    /// </summary>
    Task<Uri> GetReplayUriAsync(string deviceId, int channel, DateTimeOffset at, CancellationToken cancellationToken);
}

/// <summary>The fallback when no feature provides recordings: every device answers NotSupported.</summary>
public sealed class UnavailableRecordingService : IRecordingService
{
    public Task<IReadOnlyList<RecordingSpan>> FindAsync(string deviceId, int channel, DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken) =>
        throw new Devices.DeviceException(Devices.DeviceErrorKind.NotSupported, "recording search is not available on this gateway");

    public Task<Uri> GetReplayUriAsync(string deviceId, int channel, DateTimeOffset at, CancellationToken cancellationToken) =>
        throw new Devices.DeviceException(Devices.DeviceErrorKind.NotSupported, "recording replay is not available on this gateway");
}
