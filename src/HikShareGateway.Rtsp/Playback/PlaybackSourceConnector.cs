using HikShareGateway.Core.Devices;
using HikShareGateway.Media;
using HikShareGateway.Rtsp.Protocol;
using HikShareGateway.Rtsp.Server;
using HikShareGateway.Rtsp.Upstream;
using Microsoft.Extensions.Logging;

namespace HikShareGateway.Rtsp.Playback;

/// <summary>
/// The playback upstream as a plain media source (for the fMP4 download, contract §5.2): the same source choice as RTSP
/// playback (<see cref="PlaybackService.ResolveSourceAsync"/>: URL template, ONVIF replay, Hikvision tracks), set up and
/// PLAYed from the span's start at once, at the speed asked for (no viewer PLAY/PAUSE/seek to translate). Refusals become <see cref="DeviceException"/>s.
/// </summary>
public sealed class PlaybackSourceConnector(IDeviceCatalog catalog, PlaybackService playback, UpstreamOptions options, TimeProvider time, ILoggerFactory loggers)
    : IPlaybackSourceConnector
{
    public Task<IMediaSource> ConnectAsync(string deviceId, int channel, DateTimeOffset start, DateTimeOffset? end, CancellationToken ct)
        => ConnectAsync(deviceId, channel, start, end, 1, ct);

    /// <summary>At a speed: the <c>Scale</c> goes on the first PLAY, as RTSP playback passes a viewer's (WebRTC playback).</summary>
    public async Task<IMediaSource> ConnectAsync(string deviceId, int channel, DateTimeOffset start, DateTimeOffset? end, double scale, CancellationToken ct)
    {
        if (!catalog.TryGetDevice(deviceId, out var device) || device.FindChannel(channel) is not { } info)
        {
            throw new DeviceException(DeviceErrorKind.NotSupported, "the device is not known to this gateway");
        }
        PlaybackSource source;
        try
        {
            source = await playback.ResolveSourceAsync(device, info, start, end, ct);
        }
        catch (RtspRefusal r)
        {
            throw new DeviceException(r.Status == 404 ? DeviceErrorKind.NotSupported : r.Status == 504 ? DeviceErrorKind.Timeout : DeviceErrorKind.Failed, r.Message);
        }
        var client = new RtspUpstreamClient(source.Uri, device.Credentials, options, time, loggers.CreateLogger<RtspUpstreamClient>());
        try
        {
            await client.ConnectAsync(play: true, source.Timeline.SourceUsesClock ? [("Require", RequireOptions.Replay)] : [], ct,
                source.Timeline.InitialUpstreamRange(), scale);
            return client;
        }
        catch
        {
            await client.DisposeAsync();
            throw;
        }
    }
}
