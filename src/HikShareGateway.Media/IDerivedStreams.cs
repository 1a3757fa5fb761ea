using HikShareGateway.Core.Devices;

namespace HikShareGateway.Media;

/// <summary>What a derived stream turns its live stream into.</summary>
public enum DerivedFormat
{
    /// <summary>Video transcoded to H.264 (for browsers without H.265), audio tracks as the source sends them.</summary>
    H264,

    /// <summary>AAC audio transcoded to Opus (48 kHz, RFC 7587, payload type 111) for WebRTC; other tracks as the source sends them.</summary>
    OpusAudio,
}

/// <summary>
/// Live streams derived from the relay's streams by a transcoder (implemented by the media-processing project):
/// one transcoder per (stream, format), shared by every output that asks for it, stopped when the last lease goes.
/// A derived stream is a <see cref="LiveStream"/> like any other: <see cref="LiveStream.WaitReadyAsync"/> for its
/// description, <see cref="LiveStream.Subscribe"/> for its packets (RTP, the cached GOP first), and a failure of its
/// transcoder reaches only its own subscribers. Streams without transcoding are not touched.
/// </summary>
public interface IDerivedStreams
{
    /// <summary>
    /// A lease on the stream in <paramref name="format"/>; false with a reason for the viewer when refused (transcoding
    /// off, FFmpeg missing, or all <c>Media:MaxTranscoders</c> in use: answer 503).
    /// </summary>
    bool TryAcquire(string deviceId, int channel, StreamKind kind, DerivedFormat format, out LiveStreamLease? lease, out string? reason);
}
