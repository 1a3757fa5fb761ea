using HikShareGateway.Core.Devices;

namespace HikShareGateway.Core.Streaming;

/// <summary>How opening an fMP4 stream went; the HTTP layer maps each to its status (contract §5, §5.2).</summary>
public enum Mp4OpenStatus
{
    /// <summary>Streaming: <see cref="Mp4Open.Stream"/> is set.</summary>
    Ok,
    /// <summary>403: no grant (also for a device that does not exist, contract §4).</summary>
    Forbidden,
    /// <summary>404: an authorized device without that channel or stream.</summary>
    NotFound,
    /// <summary>503: the device is offline, or the stream cannot be served at all.</summary>
    Unavailable,
    /// <summary>504: the device did not start the stream in time.</summary>
    Timeout,
    /// <summary>502: the device failed.</summary>
    DeviceError,
    /// <summary>415: the device's codec cannot go into MP4 (neither H.264 nor H.265).</summary>
    UnsupportedCodec,
}

/// <summary>A live fMP4 request of an authenticated viewer.</summary>
/// <param name="Remote">"ip:port" of the viewer, for audit.</param>
/// <param name="RequireH264">The viewer plays only H.264 (<c>?codec=h264</c>): an H.265 stream is served through the
/// shared H.264 transcoder (503 when none can run); an H.264 stream is served as it is.</param>
public sealed record Mp4LiveRequest(string Account, string DeviceId, int Channel, StreamKind Kind, string Remote, bool RequireH264 = false);

/// <summary>A recorded span as fMP4 (<paramref name="End"/> null: until the recording ends or the viewer leaves).</summary>
public sealed record Mp4PlaybackRequest(string Account, string DeviceId, int Channel, DateTimeOffset Start, DateTimeOffset? End, string Remote);

/// <param name="Detail">A short reason for the viewer; never an address or credential.</param>
public readonly record struct Mp4Open(Mp4OpenStatus Status, string Detail, IMp4Stream? Stream)
{
    public static Mp4Open Failed(Mp4OpenStatus status, string detail) => new(status, detail, null);
}

/// <summary>Why a stream stopped writing.</summary>
/// <param name="Cut">True when the viewer must be disconnected at once (revoked, too slow, the stream changed) rather than see a clean end.</param>
public readonly record struct Mp4StreamEnd(bool Cut, string Reason);

/// <summary>
/// One viewer's fragmented MP4 (ftyp+moov, then moof+mdat, one fragment per frame), authorized, registered for
/// revocation and audited by whoever opened it. Dispose ends it (and audits the end).
/// </summary>
public interface IMp4Stream : IAsyncDisposable
{
    /// <summary>
    /// Writes the stream to <paramref name="output"/> until it ends, the viewer leaves (<paramref name="ct"/>) or it is cut.
    /// <paramref name="onStart"/> gets the MSE type with its codecs (<c>video/mp4; codecs="avc1.64001F,flac"</c>) just
    /// before the first bytes, while the response's headers can still be set; never called when no picture came.
    /// </summary>
    Task<Mp4StreamEnd> CopyToAsync(Stream output, Action<string> onStart, CancellationToken ct);
}

/// <summary>fMP4 streams for viewers (contract §5.2). The caller authenticated the account; this authorizes it.</summary>
public interface IMp4Streams
{
    Task<Mp4Open> OpenLiveAsync(Mp4LiveRequest request, CancellationToken ct);

    Task<Mp4Open> OpenPlaybackAsync(Mp4PlaybackRequest request, CancellationToken ct);
}
