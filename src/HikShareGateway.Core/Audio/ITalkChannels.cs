using HikShareGateway.Core.Devices;

namespace HikShareGateway.Core.Audio;

/// <summary>Why a talk channel could not be opened; each maps to one status (WHEP: 409, 422, 504, 502).</summary>
public enum TalkRefusal
{
    None,
    /// <summary>Another talker holds the channel's floor (WHEP 409, RTSP 453).</summary>
    Busy,
    /// <summary>The device has neither an ONVIF backchannel nor two-way audio in its own API (WHEP 422, RTSP 551).</summary>
    NoBackchannel,
    /// <summary>The device did not open its speaker in time (504).</summary>
    Timeout,
    /// <summary>The device failed (502).</summary>
    DeviceFailed,
}

/// <summary>The outcome of <see cref="ITalkChannels.OpenAsync"/>: a channel, or a refusal with a short detail (no secret, no address).</summary>
public sealed record TalkOpenResult(ITalkChannel? Channel, TalkRefusal Refusal, string Detail)
{
    public static TalkOpenResult Refused(TalkRefusal refusal, string detail) => new(null, refusal, detail);
}

/// <summary>
/// Two-way audio for outputs other than RTSP (WebRTC): the same floor (one talker per device and channel, shared with
/// RTSP talkers) and the same device side (ONVIF backchannel first, then the device's own API) as the RTSP talk path.
/// The caller has checked <c>twoWayAudio</c> and registers the session for revocation; this opens the speaker.
/// </summary>
public interface ITalkChannels
{
    Task<TalkOpenResult> OpenAsync(DeviceInfo device, ChannelInfo channel, StreamKind kind, string remote, CancellationToken ct);
}

/// <summary>One open speaker with the floor held. Disposing closes the device side and frees the floor.</summary>
public interface ITalkChannel : IAsyncDisposable
{
    /// <summary>The G.711 laws the device takes, its preferred first.</summary>
    IReadOnlyList<TalkCodec> Codecs { get; }

    /// <summary>
    /// One G.711 frame (8 kHz samples, <paramref name="timestamp"/> in 8 kHz units) in one of <see cref="Codecs"/>; sent
    /// under the gateway's own RTP header. Never blocks: drops the oldest audio when the device does not keep up. One
    /// caller at a time (a session's receive path). Others codecs are dropped.
    /// </summary>
    void Write(TalkCodec codec, ReadOnlySpan<byte> samples, uint timestamp, bool marker);

    /// <summary>Frames written (diagnostics and tests).</summary>
    long FramesWritten { get; }

    /// <summary>Completes when the device side ended (closed, failed): the talker is then disconnected.</summary>
    Task Completion { get; }
}

/// <summary>Receives one encoded G.711 frame; the span is valid only during the call.</summary>
public delegate void TalkFrameHandler(ReadOnlySpan<byte> samples, long pts);

/// <summary>
/// Opus (RFC 7587, from browsers that will not send G.711) → G.711 at 8 kHz for a device's speaker, through the FFmpeg
/// feature. Absent (null service, or <see cref="Available"/> false) when the libraries are not installed.
/// </summary>
public interface ITalkTranscoders
{
    bool Available { get; }

    /// <summary>A decoder/encoder for one talker; throws <see cref="InvalidOperationException"/> when not available.</summary>
    ITalkTranscoder CreateOpusToG711(TalkCodec output);
}

/// <summary>One talker's Opus → G.711 transcoder. Not thread-safe: one owner feeds it.</summary>
public interface ITalkTranscoder : IDisposable
{
    /// <summary>Decodes one Opus RTP payload; every complete 20 ms G.711 frame goes to <paramref name="output"/> (pts in 8 kHz samples).</summary>
    void Push(ReadOnlySpan<byte> opusPayload, TalkFrameHandler output);
}
