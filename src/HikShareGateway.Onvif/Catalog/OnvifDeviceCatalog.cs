using System.Diagnostics.CodeAnalysis;
using System.Text;
using HikShareGateway.Core.Devices;
using HikShareGateway.Onvif.Client;

namespace HikShareGateway.Onvif.Catalog;

/// <summary>
/// The devices the gateway knows: static ones from <c>Devices[]</c> with explicit <c>Channels</c>, and ONVIF ones (from
/// <c>OnvifUrl</c> entries and WS-Discovery) keyed by serial number. Readers get immutable snapshots (copy-on-write);
/// <see cref="Changed"/> is raised only when something visible changed (channels, URIs, capabilities, online).
/// </summary>
public sealed class OnvifDeviceCatalog : IDeviceCatalog
{
    private readonly Lock _gate = new();
    private Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);

    private sealed record Entry(DeviceInfo Device, IReadOnlyDictionary<string, int> ChannelByToken);

    public OnvifDeviceCatalog(IEnumerable<DeviceInfo> staticDevices)
    {
        foreach (var d in staticDevices)
        {
            _entries[d.DeviceId] = new Entry(d, new Dictionary<string, int>());
        }
    }

    public IReadOnlyList<DeviceInfo> Devices
    {
        get
        {
            var snapshot = Volatile.Read(ref _entries);
            return [.. snapshot.Values.Select(e => e.Device).OrderBy(d => d.DeviceId, StringComparer.Ordinal)];
        }
    }

    public event Action? Changed;

    public bool TryGetDevice(string deviceId, [NotNullWhen(true)] out DeviceInfo? device)
    {
        if (Volatile.Read(ref _entries).TryGetValue(deviceId, out var e))
        {
            device = e.Device;
            return true;
        }
        device = null;
        return false;
    }

    /// <summary>Maps an event source token (VideoSourceToken, VideoSourceConfigurationToken) to the channel.</summary>
    public bool TryGetChannel(string deviceId, string token, out int channel)
    {
        channel = 0;
        if (!Volatile.Read(ref _entries).TryGetValue(deviceId, out var e))
        {
            return false;
        }
        if (e.ChannelByToken.TryGetValue(token, out channel))
        {
            return true;
        }
        foreach (var c in e.Device.Channels)
        {
            if (c.VideoSourceToken == token)
            {
                channel = c.Channel;
                return true;
            }
        }
        return false;
    }

    /// <summary>Adds or refreshes an ONVIF device after a successful read; it is online.</summary>
    public void Upsert(OnvifDeviceSnapshot snapshot, DeviceCredentials credentials, DeviceSource source)
    {
        var device = snapshot.Device with { Credentials = credentials, Source = source, Online = true };
        Set(device.DeviceId, new Entry(device, snapshot.ChannelByToken));
    }

    /// <summary>A device that answered discovery but cannot be queried (no credentials configured): listed, not usable.</summary>
    public void AddUnusable(DeviceInfo device)
    {
        if (TryGetDevice(device.DeviceId, out var existing) && existing.Channels.Count > 0)
        {
            return;
        }
        Set(device.DeviceId, new Entry(device with { Channels = [] }, new Dictionary<string, int>()));
    }

    public void SetOnline(string deviceId, bool online)
    {
        lock (_gate)
        {
            if (!_entries.TryGetValue(deviceId, out var e) || e.Device.Online == online)
            {
                return;
            }
            _entries = new Dictionary<string, Entry>(_entries, StringComparer.Ordinal) { [deviceId] = e with { Device = e.Device with { Online = online } } };
        }
        Changed?.Invoke();
    }

    private void Set(string deviceId, Entry entry)
    {
        lock (_gate)
        {
            if (_entries.TryGetValue(deviceId, out var old) && Signature(old.Device) == Signature(entry.Device) && old.Device.Credentials == entry.Device.Credentials)
            {
                // Same visible content: keep quiet (a periodic refresh that found nothing new).
                _entries = new Dictionary<string, Entry>(_entries, StringComparer.Ordinal) { [deviceId] = entry };
                return;
            }
            _entries = new Dictionary<string, Entry>(_entries, StringComparer.Ordinal) { [deviceId] = entry };
        }
        Changed?.Invoke();
    }

    /// <summary>Everything observable about a device, to tell a real change from a refresh that found the same.</summary>
    internal static string Signature(DeviceInfo d)
    {
        var sb = new StringBuilder();
        sb.Append(d.DeviceId).Append('|').Append(d.Manufacturer).Append('|').Append(d.Model).Append('|').Append(d.Firmware).Append('|').Append(d.Online).Append('|').Append(d.Source);
        sb.Append('|').Append(d.Onvif?.Events).Append('|').Append(d.Onvif?.Ptz).Append('|').Append(d.Onvif?.Media);
        foreach (var c in d.Channels)
        {
            sb.Append('#').Append(c.Channel).Append(',').Append(c.Name).Append(',').Append(c.MainUri).Append(',').Append(c.SubUri).Append(',')
              .Append(c.MainProfileToken).Append(',').Append(c.SubProfileToken).Append(',').Append(c.Ptz).Append(',').Append(c.Backchannel).Append(',').Append(c.Playback);
        }
        return sb.ToString();
    }
}
