using HikShareGateway.Core.Devices;

namespace HikShareGateway.Media;

/// <summary>
/// Opens a source session on a recorded span (one per viewer: nothing is shared), playing from
/// <paramref name="start"/>: the seam for outputs other than the RTSP server (fMP4 download) to reuse the playback upstream.
/// </summary>
public interface IPlaybackSourceConnector
{
    /// <summary>Resolves the recording and connects, up to the point where packets flow. Throws <see cref="Core.Devices.DeviceException"/>.</summary>
    Task<IMediaSource> ConnectAsync(string deviceId, int channel, DateTimeOffset start, DateTimeOffset? end, CancellationToken ct);

    /// <summary>
    /// The same at a playback speed (RTSP <c>Scale</c>, RFC 2326 §12.34): <paramref name="scale"/> 2 plays twice as fast.
    /// The source says what the recorder made of it through <see cref="IPacedMediaSource"/>. A connector that cannot play
    /// at another speed fails (<see cref="DeviceErrorKind.Failed"/>, as a recorder refusing the <c>Scale</c> does).
    /// </summary>
    Task<IMediaSource> ConnectAsync(string deviceId, int channel, DateTimeOffset start, DateTimeOffset? end, double scale, CancellationToken ct)
        => scale == 1
            ? ConnectAsync(deviceId, channel, start, end, ct)
            : Task.FromException<IMediaSource>(new DeviceException(DeviceErrorKind.Failed, "this playback source plays at normal speed only"));
}

/// <summary>
/// How a playback session plays: the speed asked for, and how fast the recorder's RTP timestamps advance against the
/// wall clock. Recorders differ: one that answers <c>Scale: 2</c> stamps content time (timestamps run twice as fast as
/// the clock); gst-rtsp-server answers <c>Scale: 1</c>, <c>Speed: 2</c> and stamps delivery time (timestamps run at the
/// clock's rate, each tick covering two of the recording's).
/// </summary>
/// <param name="Requested">The speed asked for (1 = normal).</param>
/// <param name="TimestampRate">RTP time per wall-clock time of the packets sent (the recorder's answered <c>Scale</c>).</param>
public readonly record struct PlaybackPace(double Requested, double TimestampRate)
{
    public static PlaybackPace Normal => new(1, 1);

    /// <summary>Recording time per RTP time: what turns the timestamps played into a position in the recording.</summary>
    public double RecordingPerTimestamp => Requested / TimestampRate;
}

/// <summary>A source that knows its <see cref="PlaybackPace"/> (the RTSP upstream client, from its PLAY answer).</summary>
public interface IPacedMediaSource : IMediaSource
{
    PlaybackPace Pace { get; }
}
