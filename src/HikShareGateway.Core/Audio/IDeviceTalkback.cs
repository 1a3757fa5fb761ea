using HikShareGateway.Core.Devices;

namespace HikShareGateway.Core.Audio;

/// <summary>G.711 as devices take it for their speaker (RTP static payload types 0 and 8, 8 kHz mono).</summary>
public enum TalkCodec
{
    /// <summary>G.711 µ-law, RTP payload type 0 (PCMU).</summary>
    Pcmu,
    /// <summary>G.711 A-law, RTP payload type 8 (PCMA).</summary>
    Pcma,
}

/// <summary>
/// Two-way audio through a device's own API (Hikvision ISAPI), for devices without an ONVIF audio backchannel.
/// Owned by the device layer; the RTSP server offers it to a viewer as a <c>sendonly</c> audio track. The privilege
/// check (<c>twoWayAudio</c>) and the one-talker-per-channel rule happen before, in the RTSP layer.
/// </summary>
public interface IDeviceTalkback
{
    /// <summary>True when the device may have it (e.g. it has an ISAPI base URL). No I/O.</summary>
    bool CanTry(DeviceInfo device);

    /// <summary>
    /// Opens the device's speaker for <paramref name="channel"/>. Throws <see cref="DeviceException"/>:
    /// <see cref="DeviceErrorKind.NotSupported"/> when the device has no two-way audio (RTSP 551), others for failures.
    /// </summary>
    Task<ITalkbackSession> OpenAsync(DeviceInfo device, int channel, CancellationToken ct);
}

/// <summary>One open speaker. Disposing closes it on the device.</summary>
public interface ITalkbackSession : IAsyncDisposable
{
    TalkCodec Codec { get; }

    /// <summary>Queues raw G.711 bytes (an RTP payload). Never blocks; drops the oldest audio when the device does not keep up.</summary>
    void Write(ReadOnlySpan<byte> samples);

    /// <summary>Completes when the device ended the session or failed (the talker is then disconnected).</summary>
    Task Completion { get; }
}
