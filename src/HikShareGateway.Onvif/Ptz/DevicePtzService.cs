using HikShareGateway.Core.Devices;
using HikShareGateway.Core.Ptz;
using HikShareGateway.Onvif.Isapi;

namespace HikShareGateway.Onvif.Ptz;

/// <summary>
/// The gateway's <see cref="IPtzService"/>: ONVIF PTZ where the channel has it, else Hikvision ISAPI where the device has
/// an ISAPI address (<c>Devices[].IsapiUrl</c>), else ONVIF's NotSupported (→ 409). Chosen per command from the catalog,
/// so a device whose ONVIF services appear later switches over by itself.
/// </summary>
public sealed class DevicePtzService(IDeviceCatalog catalog, OnvifPtzService onvif, IsapiPtzService isapi) : IPtzService
{
    public Task MoveAsync(string deviceId, int channel, PtzMove move, CancellationToken cancellationToken) => For(deviceId, channel).MoveAsync(deviceId, channel, move, cancellationToken);
    public Task StopAsync(string deviceId, int channel, CancellationToken cancellationToken) => For(deviceId, channel).StopAsync(deviceId, channel, cancellationToken);
    public Task<IReadOnlyList<PtzPreset>> GetPresetsAsync(string deviceId, int channel, CancellationToken cancellationToken) => For(deviceId, channel).GetPresetsAsync(deviceId, channel, cancellationToken);
    public Task GotoPresetAsync(string deviceId, int channel, string presetToken, CancellationToken cancellationToken) => For(deviceId, channel).GotoPresetAsync(deviceId, channel, presetToken, cancellationToken);

    internal IPtzService For(string deviceId, int channel)
    {
        if (!catalog.TryGetDevice(deviceId, out var device) || device.IsapiBase is null)
        {
            return onvif;
        }
        var ch = device.FindChannel(channel);
        var hasOnvifPtz = device.Onvif?.Ptz is not null && ch is { Ptz: true, MainProfileToken: not null };
        return hasOnvifPtz ? onvif : isapi;
    }
}
