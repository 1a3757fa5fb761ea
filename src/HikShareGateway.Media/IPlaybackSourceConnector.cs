namespace HikShareGateway.Media;

/// <summary>
/// Opens a source session on a recorded span (one per viewer: nothing is shared), playing from
/// <paramref name="start"/>: the seam for outputs other than the RTSP server (fMP4 download) to reuse the playback upstream.
/// </summary>
public interface IPlaybackSourceConnector
{
    /// <summary>Resolves the recording and connects, up to the point where packets flow. Throws <see cref="Core.Devices.DeviceException"/>.</summary>
    Task<IMediaSource> ConnectAsync(string deviceId, int channel, DateTimeOffset start, DateTimeOffset? end, CancellationToken ct);
}
