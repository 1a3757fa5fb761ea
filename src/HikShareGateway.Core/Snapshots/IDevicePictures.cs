using HikShareGateway.Core.Devices;

namespace HikShareGateway.Core.Snapshots;

/// <summary>Where a snapshot comes from (<c>Media:SnapshotSource</c>, per device <c>Devices[].SnapshotSource</c>).</summary>
public enum SnapshotSource
{
    /// <summary>The device's own JPEG when no stream of the channel runs (a decode would open an upstream session),
    /// else the running stream's GOP cache; the stream when the device's picture fails.</summary>
    Auto,
    /// <summary>Always decode from the stream (GOP cache, or a short upstream session).</summary>
    Decode,
    /// <summary>The device's own JPEG first, running stream or not; the stream when the device's picture fails.</summary>
    Device,
}

public static class SnapshotSources
{
    /// <summary><c>auto</c>, <c>decode</c> or <c>device</c> (any case); null or empty is <paramref name="fallback"/>.</summary>
    public static bool TryParse(string? text, SnapshotSource fallback, out SnapshotSource source)
    {
        source = fallback;
        if (string.IsNullOrWhiteSpace(text))
        {
            return true;
        }
        switch (text.Trim().ToLowerInvariant())
        {
            case "auto": source = SnapshotSource.Auto; return true;
            case "decode": source = SnapshotSource.Decode; return true;
            case "device": source = SnapshotSource.Device; return true;
            default: return false;
        }
    }
}

/// <summary>A JPEG as the device sent it: the body had the JPEG magic, an image (or no) content type, and fitted the bound.</summary>
/// <param name="Jpeg">The bytes, exactly the body (owned by the caller from now on).</param>
/// <param name="Via">Which API gave it: <c>isapi</c> or <c>onvif</c> (for logs and figures).</param>
public sealed record DeviceJpeg(byte[] Jpeg, string Via);

/// <summary>
/// The device's own still picture of a channel: Hikvision ISAPI <c>/ISAPI/Streaming/channels/{ch}0{1|2}/picture</c>
/// or ONVIF Media <c>GetSnapshotUri</c>, fetched with the device's credentials (contract §5.3, "the device's own JPEG").
/// Implemented by the device layer; the snapshot service decides when to use it.
/// </summary>
public interface IDevicePictures
{
    /// <summary>Whether the device can be asked at all (an ISAPI address, or ONVIF media with the stream's profile). No I/O.</summary>
    bool Offers(DeviceInfo device, int channel, StreamKind kind);

    /// <summary>Fetches one JPEG, within <paramref name="timeout"/> and at most <paramref name="maxBytes"/> long.</summary>
    /// <exception cref="DeviceException">Timeout; Unauthorized; NotSupported; Failed (HTTP error, not a JPEG, too large, unreachable).
    /// The message names no address or credential.</exception>
    Task<DeviceJpeg> FetchAsync(DeviceInfo device, int channel, StreamKind kind, int maxBytes, TimeSpan timeout, CancellationToken cancellationToken);
}
