using Microsoft.Extensions.DependencyInjection;
using HikShareGateway.Core.Access;
using HikShareGateway.Core.Devices;

namespace HikShareGateway.Http;

/// <summary>One channel as a viewer sees it: what it offers and what the caller may do on it.</summary>
public sealed record ChannelView(int Channel, string? Name, IReadOnlyList<string> Streams, bool Ptz, bool Backchannel, bool Playback, IReadOnlyList<string> Privileges);

/// <summary>One device as a viewer sees it. Never credentials, upstream URLs or addresses (contract §6).</summary>
/// <param name="Owner">True when the caller owns the device (v1 meaning, kept).</param>
public sealed record DeviceView(string DeviceId, bool Owner, string? Manufacturer, string? Model, bool Online, IReadOnlyList<ChannelView> Channels)
{
    /// <summary>The name to show: the owner's (from the grants), else the gateway's own (configuration / ONVIF name scope); null when none.</summary>
    public string? Name { get; init; }

    /// <summary>The owner's account: the source of the share ("Others' devices" in Hik-Connect); the caller for its own devices.</summary>
    public string? Source { get; init; }

    /// <summary>The remarks of the shares that give the device, joined with "; " (null when none).</summary>
    public string? Remark { get; init; }

    /// <summary>When the caller's access ends: the latest expiry of those shares; null when one never expires (or the caller owns it).</summary>
    public DateTimeOffset? ExpiresAt { get; init; }

    /// <summary>Every privilege the caller holds on some channel of the device, in contract order.</summary>
    public IReadOnlyList<string> Privileges { get; init; } = [];

    /// <summary>The shares that give the device (none for an owner): id, owner, remark, expiry.</summary>
    public IReadOnlyList<ShareGrant> Shares { get; init; } = [];
}

/// <param name="Version">The grants version the list was built from (0: none received yet).</param>
public sealed record DeviceList(IReadOnlyList<DeviceView> Devices)
{
    public long Version { get; init; }
}

/// <summary>
/// <c>GET /api/v1/devices</c>: the grants of the caller joined with the device catalog. The answer carries an
/// <c>ETag</c> (a hash of the body): polling with <c>If-None-Match</c> gets <c>304</c> until something the caller sees
/// changed. The push form is <c>GET /api/v1/devices/events</c> (<see cref="DeviceEventsEndpoint"/>).
/// </summary>
public static class DevicesEndpoint
{
    public static IResult Get(HttpContext context)
    {
        var services = context.RequestServices;
        var policy = services.GetRequiredService<IAccessPolicy>();
        var list = Build(BearerAuthentication.Account(context), policy, services.GetRequiredService<IDeviceCatalog>());
        var body = System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(list, ApiJsonContext.Default.DeviceList);
        var etag = ETagOf(body);
        context.Response.Headers.ETag = etag;
        context.Response.Headers.CacheControl = "no-cache";
        if (context.Request.Headers.IfNoneMatch.Any(v => v is not null && (v == etag || v == "*")))
        {
            return Results.StatusCode(StatusCodes.Status304NotModified);
        }
        return Results.Bytes(body, "application/json; charset=utf-8");
    }

    /// <summary>A strong validator of the body (RFC 9110 §8.8.3).</summary>
    public static string ETagOf(ReadOnlySpan<byte> body) => "\"" + Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(body), 0, 12) + "\"";

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
                var name = access.ChannelNames is { } names && names.TryGetValue(channel.Channel, out var given) ? given : channel.Name;
                channels.Add(new ChannelView(channel.Channel, name, streams, channel.Ptz, channel.Backchannel, channel.Playback,
                    [.. privileges.ToContractNames()]));
            }
            if (channels.Count > 0)
            {
                var union = Privilege.None;
                foreach (var c in access.Channels)
                {
                    union |= c.Privileges;
                }
                var shares = access.IsOwner ? [] : access.Shares;
                var remarks = shares.Select(x => x.Remark).Where(r => !string.IsNullOrWhiteSpace(r)).Distinct(StringComparer.Ordinal).ToList();
                result.Add(new DeviceView(device.DeviceId, access.IsOwner, device.Manufacturer, device.Model, device.Online, channels)
                {
                    Name = access.Name ?? device.Name,
                    Source = access.IsOwner ? account : access.Owner ?? (shares.Count > 0 ? shares[0].Owner : null),
                    Remark = remarks.Count == 0 ? null : string.Join("; ", remarks),
                    ExpiresAt = access.IsOwner || shares.Count == 0 || shares.Any(x => x.ExpiresAt is null) ? null : shares.Max(x => x.ExpiresAt),
                    Privileges = [.. (access.IsOwner ? Privilege.All : union).ToContractNames()],
                    Shares = shares,
                });
            }
        }
        result.Sort((a, b) => string.CompareOrdinal(a.DeviceId, b.DeviceId));
        return new DeviceList(result) { Version = policy.Version };
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
