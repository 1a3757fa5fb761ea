using HikShareGateway.Core.Access;
using HikShareGateway.Core.Devices;

namespace HikShareGateway.Http;

/// <summary>One channel as a viewer sees it: what it offers and what the caller may do on it.</summary>
public sealed record ChannelView(int Channel, string? Name, IReadOnlyList<string> Streams, bool Ptz, bool Backchannel, bool Playback, IReadOnlyList<string> Privileges);

/// <summary>One device as a viewer sees it. Never credentials, upstream URLs or addresses (contract §6).</summary>
public sealed record DeviceView(string DeviceId, bool Owner, string? Manufacturer, string? Model, bool Online, IReadOnlyList<ChannelView> Channels);

public sealed record DeviceList(IReadOnlyList<DeviceView> Devices);

/// <summary><c>GET /api/v1/devices</c>: the grants of the caller joined with the device catalog.</summary>
public static class DevicesEndpoint
{
    public static DeviceList Build(string account, IAccessPolicy policy, IDeviceCatalog catalog)
    {
        var result = new List<DeviceView>();
        foreach (var access in policy.GetVisibleDevices(account))
        {
            // A granted device the gateway does not know (yet) is left out: nothing to use there.
            if (!catalog.TryGetDevice(access.DeviceId, out var device))
            {
                continue;
            }
            var channels = new List<ChannelView>();
            foreach (var channel in device.Channels.OrderBy(c => c.Channel))
            {
                var privileges = access.IsOwner ? Privilege.All : PrivilegesOn(access, channel.Channel);
                if (privileges == Privilege.None)
                {
                    continue;
                }
                var streams = new List<string>(2);
                if (channel.MainUri is not null || channel.MainProfileToken is not null)
                {
                    streams.Add("main");
                }
                if (channel.SubUri is not null || channel.SubProfileToken is not null)
                {
                    streams.Add("sub");
                }
                channels.Add(new ChannelView(channel.Channel, channel.Name, streams, channel.Ptz, channel.Backchannel, channel.Playback,
                    [.. privileges.ToContractNames()]));
            }
            if (channels.Count > 0)
            {
                result.Add(new DeviceView(device.DeviceId, access.IsOwner, device.Manufacturer, device.Model, device.Online, channels));
            }
        }
        result.Sort((a, b) => string.CompareOrdinal(a.DeviceId, b.DeviceId));
        return new DeviceList(result);
    }

    private static Privilege PrivilegesOn(DeviceAccess access, int channel)
    {
        var p = Privilege.None;
        foreach (var c in access.Channels)
        {
            if (c.Channel == 0 || c.Channel == channel)
            {
                p |= c.Privileges;
            }
        }
        return p;
    }
}
