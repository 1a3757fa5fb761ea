using HikShareGateway.Core.Configuration;

namespace HikShareGateway.Core.Devices;

/// <summary>
/// The devices given with explicit <c>Channels</c> in configuration (no ONVIF needed). The ONVIF layer
/// builds on this and adds discovered devices and those given by <c>OnvifUrl</c>.
/// </summary>
public sealed class StaticDeviceCatalog : IDeviceCatalog
{
    private readonly Lock _gate = new();
    private Dictionary<string, DeviceInfo> _devices = new(StringComparer.Ordinal);

    public StaticDeviceCatalog(IEnumerable<DeviceInfo> devices)
    {
        foreach (var d in devices)
        {
            _devices[d.DeviceId] = d;
        }
    }

    public IReadOnlyList<DeviceInfo> Devices { get { lock (_gate) { return [.. _devices.Values]; } } }

    public event Action? Changed;

    public bool TryGetDevice(string deviceId, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out DeviceInfo? device)
    {
        lock (_gate) { return _devices.TryGetValue(deviceId, out device); }
    }

    public void AddOrUpdate(DeviceInfo device)
    {
        lock (_gate)
        {
            var copy = new Dictionary<string, DeviceInfo>(_devices, StringComparer.Ordinal) { [device.DeviceId] = device };
            _devices = copy;
        }
        Changed?.Invoke();
    }

    /// <summary>The devices of <c>Devices[]</c> that have explicit channels.</summary>
    public static IEnumerable<DeviceInfo> FromOptions(IEnumerable<DeviceOptions> options)
    {
        foreach (var o in options)
        {
            if (o.Channels.Count == 0 || string.IsNullOrWhiteSpace(o.DeviceId))
            {
                continue;
            }
            yield return new DeviceInfo
            {
                DeviceId = o.DeviceId,
                Name = string.IsNullOrWhiteSpace(o.Name) ? null : o.Name.Trim(),
                Credentials = new DeviceCredentials(o.Username, o.Password),
                Source = DeviceSource.Configuration,
                IsapiBase = o.IsapiUrl is null ? null : new Uri(o.IsapiUrl),
                Channels = [.. o.Channels.Select(c => new ChannelInfo
                {
                    Channel = c.Channel,
                    Name = c.Name,
                    MainUri = c.Main is null ? null : new Uri(c.Main),
                    SubUri = c.Sub is null ? null : new Uri(c.Sub),
                    PlaybackTemplate = c.Playback,
                    Playback = c.Playback is not null,
                    Ptz = c.Ptz,
                })],
            };
        }
    }
}
