using System.Globalization;
using HikShareGateway.Core.Devices;
using HikShareGateway.Core.Ptz;
using HikShareGateway.Onvif.Parsers;

namespace HikShareGateway.Onvif.Isapi;

/// <summary>
/// PTZ over Hikvision ISAPI, for devices with an ISAPI address but no ONVIF PTZ service (chosen by
/// <see cref="Ptz.DevicePtzService"/>). Continuous moves (<c>PUT /ISAPI/PTZCtrl/channels/{ch}/continuous</c>, speeds
/// -100…100; 0/0/0 stops) and presets (<c>GET …/presets</c>, <c>PUT …/presets/{n}/goto</c>). Absolute and relative
/// moves are not offered: ISAPI positions are in device degrees, not ONVIF's normalised spaces (NotSupported → 409).
/// The safety rules (timeout stop, stop on revoke, serialisation, rate limit) live above, in the HTTP layer.
/// </summary>
public sealed class IsapiPtzService(IDeviceCatalog catalog, IsapiClientPool clients) : IPtzService
{
    public async Task MoveAsync(string deviceId, int channel, PtzMove move, CancellationToken cancellationToken)
    {
        if (move.Mode != PtzMoveMode.Continuous)
        {
            throw new DeviceException(DeviceErrorKind.NotSupported, $"{move.Mode.ToString().ToLowerInvariant()} moves are not available over ISAPI; use continuous moves or presets.");
        }
        var client = Resolve(deviceId);
        await ContinuousAsync(client, channel, Speed(move.Pan), Speed(move.Tilt), Speed(move.Zoom), "PTZ continuous", cancellationToken).ConfigureAwait(false);
    }

    public async Task StopAsync(string deviceId, int channel, CancellationToken cancellationToken)
        => await ContinuousAsync(Resolve(deviceId), channel, 0, 0, 0, "PTZ stop", cancellationToken).ConfigureAwait(false);

    public async Task<IReadOnlyList<PtzPreset>> GetPresetsAsync(string deviceId, int channel, CancellationToken cancellationToken)
    {
        var doc = await Resolve(deviceId).SendAsync(HttpMethod.Get, $"/ISAPI/PTZCtrl/channels/{Ch(channel)}/presets", null, "PTZ presets", cancellationToken).ConfigureAwait(false);
        return ParsePresets(doc);
    }

    public async Task GotoPresetAsync(string deviceId, int channel, string presetToken, CancellationToken cancellationToken)
    {
        // ISAPI presets are numbered (1-based); the token we hand out is that number.
        if (!int.TryParse(presetToken, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n < 1)
        {
            throw new DeviceException(DeviceErrorKind.NotSupported, "this device's presets are numbered: use a token from the preset list.");
        }
        await Resolve(deviceId).SendAsync(HttpMethod.Put, $"/ISAPI/PTZCtrl/channels/{Ch(channel)}/presets/{n.ToString(CultureInfo.InvariantCulture)}/goto", null, "PTZ goto preset", cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// <c>PTZPresetList/PTZPreset</c> with <c>id</c>, <c>presetName</c> and (on newer firmware) <c>enabled</c>: only the
    /// set ones are listed (some firmware lists every slot).
    /// </summary>
    internal static IReadOnlyList<PtzPreset> ParsePresets(System.Xml.Linq.XElement? doc)
    {
        var result = new List<PtzPreset>();
        foreach (var p in doc.Children("PTZPreset"))
        {
            var id = p.Text("id");
            if (id is null || p.Text("enabled") is { } enabled && !Xml.Bool(enabled))
            {
                continue;
            }
            result.Add(new PtzPreset(id, p.Text("presetName")));
        }
        return result;
    }

    private static Task ContinuousAsync(IsapiClient client, int channel, int pan, int tilt, int zoom, string operation, CancellationToken ct)
    {
        var body = IsapiClient.Element("PTZData",
            IsapiClient.Child("pan", pan.ToString(CultureInfo.InvariantCulture)),
            IsapiClient.Child("tilt", tilt.ToString(CultureInfo.InvariantCulture)),
            IsapiClient.Child("zoom", zoom.ToString(CultureInfo.InvariantCulture)));
        return client.SendAsync(HttpMethod.Put, $"/ISAPI/PTZCtrl/channels/{Ch(channel)}/continuous", body, operation, ct);
    }

    /// <summary>ONVIF's generic velocity [-1, 1] to ISAPI's -100…100.</summary>
    internal static int Speed(double? v) => (int)Math.Round(Math.Clamp(v ?? 0, -1, 1) * 100, MidpointRounding.AwayFromZero);

    private static string Ch(int channel) => channel.ToString(CultureInfo.InvariantCulture);

    private IsapiClient Resolve(string deviceId)
    {
        if (!catalog.TryGetDevice(deviceId, out var device))
        {
            throw new DeviceException(DeviceErrorKind.NotSupported, $"device {deviceId} is not known.");
        }
        if (!device.Online)
        {
            throw new DeviceException(DeviceErrorKind.Failed, $"device {deviceId} is offline.");
        }
        return clients.For(device);
    }
}
