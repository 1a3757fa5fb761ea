using System.Xml.Linq;
using HikShareGateway.Core.Devices;
using HikShareGateway.Core.Ptz;
using HikShareGateway.Onvif.Client;
using HikShareGateway.Onvif.Parsers;
using HikShareGateway.Onvif.Soap;
using Microsoft.Extensions.Logging;

namespace HikShareGateway.Onvif.Ptz;

/// <summary>
/// PTZ over ONVIF (ver20/ptz/wsdl) on the channel's main profile. Privileges are checked before, in the API layer.
/// NotSupported (→ HTTP 409) when the channel has no PTZ; device failures map to Failed/Timeout (→ 502/504).
/// </summary>
public sealed partial class OnvifPtzService(IDeviceCatalog catalog, OnvifClientPool clients, ILogger<OnvifPtzService> logger) : IPtzService
{
    public async Task MoveAsync(string deviceId, int channel, PtzMove move, CancellationToken cancellationToken)
    {
        var (client, ptz, profile) = Resolve(deviceId, channel);
        var hasPanTilt = move.Pan is not null || move.Tilt is not null;
        var hasZoom = move.Zoom is not null && (move.Mode != PtzMoveMode.Continuous || move.Zoom != 0 || !hasPanTilt);
        XElement Build(bool panTilt, bool zoom) => move.Mode switch
        {
            PtzMoveMode.Continuous => OnvifRequests.ContinuousMove(profile, panTilt ? Clamp(move.Pan ?? 0) : null, panTilt ? Clamp(move.Tilt ?? 0) : null, zoom ? Clamp(move.Zoom!.Value) : null, move.Timeout),
            PtzMoveMode.Absolute => OnvifRequests.AbsoluteMove(profile, panTilt ? move.Pan ?? 0 : null, panTilt ? move.Tilt ?? 0 : null, zoom ? move.Zoom : null, move.Speed),
            _ => OnvifRequests.RelativeMove(profile, panTilt ? move.Pan ?? 0 : null, panTilt ? move.Tilt ?? 0 : null, zoom ? move.Zoom : null, move.Speed),
        };
        var operation = move.Mode switch { PtzMoveMode.Continuous => "ContinuousMove", PtzMoveMode.Absolute => "AbsoluteMove", _ => "RelativeMove" };
        if (!hasPanTilt && !hasZoom)
        {
            throw new DeviceException(DeviceErrorKind.Failed, $"{operation}: nothing to move (give pan/tilt or zoom).");
        }
        try
        {
            PtzParsers.ParseEmpty(await client.CallAsync(ptz, Build(hasPanTilt, hasZoom), operation, cancellationToken).ConfigureAwait(false), operation);
        }
        catch (DeviceException e) when (hasPanTilt && hasZoom && e.Fault() is { } f && (f.Is("InvalidArgVal") || f.Is("InvalidArgs") || f.Is("InvalidVelocity") || f.Is("InvalidTranslation") || f.Is("InvalidPosition")))
        {
            // Some cameras reject PanTilt and Zoom in one request: send them separately.
            Log.SplitMove(logger, deviceId, operation);
            PtzParsers.ParseEmpty(await client.CallAsync(ptz, Build(true, false), operation, cancellationToken).ConfigureAwait(false), operation);
            PtzParsers.ParseEmpty(await client.CallAsync(ptz, Build(false, true), operation, cancellationToken).ConfigureAwait(false), operation);
        }
    }

    public async Task StopAsync(string deviceId, int channel, CancellationToken cancellationToken)
    {
        var (client, ptz, profile) = Resolve(deviceId, channel);
        PtzParsers.ParseEmpty(await client.CallAsync(ptz, OnvifRequests.Stop(profile), "Stop", cancellationToken).ConfigureAwait(false), "Stop");
    }

    public async Task<IReadOnlyList<PtzPreset>> GetPresetsAsync(string deviceId, int channel, CancellationToken cancellationToken)
    {
        var (client, ptz, profile) = Resolve(deviceId, channel);
        var presets = PtzParsers.ParsePresets(await client.CallAsync(ptz, OnvifRequests.GetPresets(profile), "GetPresets", cancellationToken).ConfigureAwait(false));
        return [.. presets.Select(p => new PtzPreset(p.Token, p.Name))];
    }

    public async Task GotoPresetAsync(string deviceId, int channel, string presetToken, CancellationToken cancellationToken)
    {
        var (client, ptz, profile) = Resolve(deviceId, channel);
        PtzParsers.ParseEmpty(await client.CallAsync(ptz, OnvifRequests.GotoPreset(profile, presetToken), "GotoPreset", cancellationToken).ConfigureAwait(false), "GotoPreset");
    }

    private (OnvifSoapClient Client, Uri Ptz, string Profile) Resolve(string deviceId, int channel)
    {
        if (!catalog.TryGetDevice(deviceId, out var device))
        {
            throw new DeviceException(DeviceErrorKind.NotSupported, $"device {deviceId} is not known.");
        }
        var ch = device.FindChannel(channel);
        if (ch is null || !ch.Ptz || ch.MainProfileToken is null || device.Onvif?.Ptz is null)
        {
            throw new DeviceException(DeviceErrorKind.NotSupported, $"channel {channel} of {deviceId} has no PTZ.");
        }
        if (!device.Online)
        {
            throw new DeviceException(DeviceErrorKind.Failed, $"device {deviceId} is offline.");
        }
        return (clients.For(device), device.Onvif.Ptz, ch.MainProfileToken);
    }

    /// <summary>ONVIF generic velocity space is [-1, 1].</summary>
    private static double Clamp(double v) => Math.Clamp(v, -1, 1);

    private static partial class Log
    {
        [LoggerMessage(EventId = 4701, Level = LogLevel.Information, Message = "Device {DeviceId} rejected a combined pan/tilt/zoom {Operation}; sent separately")]
        public static partial void SplitMove(ILogger logger, string deviceId, string operation);
    }
}
