using HikShareGateway.Core.Devices;

namespace HikShareGateway.Media;

/// <summary>Receives what a source session produces. Called on the source's read loop(s) only.</summary>
public interface IMediaSink
{
    /// <summary>One packet; the sink takes over the caller's reference (it must <see cref="RtpBuffer.Release"/> it).</summary>
    void OnPacket(RtpBuffer buffer);

    /// <summary>The end of one read batch: a good moment to wake subscribers' writers.</summary>
    void OnBatchEnd();
}

/// <summary>
/// One session of a source that is set up and ready to deliver (today the RTSP upstream client; later others).
/// The stream that owns it calls <see cref="RunAsync"/> once, then disposes it.
/// </summary>
public interface IMediaSource : IAsyncDisposable
{
    /// <summary>The tracks this session delivers.</summary>
    MediaDescription Media { get; }

    /// <summary>Delivers packets to <paramref name="sink"/> until the source ends (throws <see cref="DeviceException"/>) or <paramref name="ct"/> fires.</summary>
    Task RunAsync(IMediaSink sink, CancellationToken ct);
}

/// <summary>Opens a source session for a live stream; the relay's seam for other sources and for tests.</summary>
public interface IMediaSourceConnector
{
    /// <summary>Resolves where the stream comes from and connects, up to the point where packets flow.</summary>
    Task<IMediaSource> ConnectAsync(string deviceId, int channel, StreamKind kind, CancellationToken ct);
}

/// <summary>
/// Thrown by <see cref="IMediaSource.RunAsync"/> when the source cannot go on and must not be retried (a transcoder
/// failing): the <see cref="LiveStream"/> raises <see cref="LiveStream.Invalidated"/> with the message (its viewers
/// leave) and stops. Any other failure after start is an upstream loss, retried while the viewers stay.
/// </summary>
public sealed class MediaSourceEndedException(string message, Exception? inner = null) : Exception(message, inner);
