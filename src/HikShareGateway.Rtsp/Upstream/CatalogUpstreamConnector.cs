using HikShareGateway.Core.Devices;
using HikShareGateway.Media;
using Microsoft.Extensions.Logging;

namespace HikShareGateway.Rtsp.Upstream;

/// <summary>The RTSP source of the media core: takes stream URIs and credentials from the device catalog (configuration or ONVIF) at each (re)connect.</summary>
public sealed class CatalogUpstreamConnector(IDeviceCatalog catalog, UpstreamOptions options, TimeProvider time, ILoggerFactory loggers) : IMediaSourceConnector
{
    public async Task<IMediaSource> ConnectAsync(string deviceId, int channel, StreamKind kind, CancellationToken ct)
    {
        if (!catalog.TryGetDevice(deviceId, out var device))
        {
            throw new DeviceException(DeviceErrorKind.NotSupported, "the device is not known to this gateway");
        }
        var uri = device.FindChannel(channel)?.StreamUri(kind)
                  ?? throw new DeviceException(DeviceErrorKind.NotSupported, $"the device has no {(kind == StreamKind.Sub ? "sub" : "main")} stream on channel {channel}");
        var client = new RtspUpstreamClient(uri, device.Credentials, options, time, loggers.CreateLogger<RtspUpstreamClient>());
        try
        {
            await client.ConnectAsync(ct);
            return client;
        }
        catch
        {
            await client.DisposeAsync();
            throw;
        }
    }
}
