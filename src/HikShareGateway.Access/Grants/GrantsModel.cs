using HikShareGateway.Core.Access;

namespace HikShareGateway.Access.Grants;

/// <summary>A device and its one owner (contract §1). <see cref="Owner"/> is a normalised account.</summary>
public sealed record GrantDevice(string DeviceId, string Owner)
{
    /// <summary>The owner's name for the device (optional <c>name</c>, a project addition: docs/contract.md); null = none given.</summary>
    public string? Name { get; init; }

    /// <summary>The owner's names for channels (optional <c>channelNames</c>: <c>{"1":"Door"}</c>); empty = none given.</summary>
    public IReadOnlyDictionary<int, string> ChannelNames { get; init; } = EmptyNames;

    private static readonly IReadOnlyDictionary<int, string> EmptyNames = new Dictionary<int, string>();

    /// <summary>Value equality including the names (the generated one compares the dictionary by reference).</summary>
    public bool Equals(GrantDevice? other)
    {
        if (other is null || DeviceId != other.DeviceId || Owner != other.Owner || Name != other.Name || ChannelNames.Count != other.ChannelNames.Count)
        {
            return false;
        }
        foreach (var (channel, name) in ChannelNames)
        {
            if (!other.ChannelNames.TryGetValue(channel, out var n) || n != name)
            {
                return false;
            }
        }
        return true;
    }

    public override int GetHashCode() => HashCode.Combine(DeviceId, Owner, Name, ChannelNames.Count);
}

public enum ShareState { Pending, Accepted, Rejected, Deleted }

/// <param name="Channels">1-based channels; empty = every channel of the device.</param>
public sealed record ShareDevice(string DeviceId, IReadOnlyList<int> Channels, Privilege Privileges);

/// <summary>A share from an owner to one recipient (contract §1). Accounts are normalised.</summary>
public sealed record Share(
    string ShareId,
    string Owner,
    string Recipient,
    string? Remark,
    ShareState State,
    DateTimeOffset? ExpiresAt,
    IReadOnlyList<ShareDevice> Devices);

/// <summary>Payload of <c>typ: grants.snapshot</c> (contract §3).</summary>
public sealed record GrantsSnapshot(
    string GatewayId,
    long Version,
    DateTimeOffset? IssuedAt,
    IReadOnlyList<GrantDevice> Devices,
    IReadOnlyList<Share> Shares);

/// <summary>Payload of <c>typ: grants.delta</c> (contract §3).</summary>
public sealed record GrantsDelta(
    string GatewayId,
    long BaseVersion,
    long Version,
    DateTimeOffset? IssuedAt,
    IReadOnlyList<GrantDevice> UpsertDevices,
    IReadOnlyList<string> RemoveDevices,
    IReadOnlyList<Share> UpsertShares,
    IReadOnlyList<string> RemoveShares);

/// <summary>
/// The grants in force: an immutable value, replaced as a whole on every applied message (readers
/// never see half a change).
/// </summary>
public sealed class GrantsState
{
    public static readonly GrantsState Empty = new(0, null, new Dictionary<string, GrantDevice>(), new Dictionary<string, Share>());

    private GrantsState(long version, DateTimeOffset? issuedAt, IReadOnlyDictionary<string, GrantDevice> devices, IReadOnlyDictionary<string, Share> shares)
    {
        Version = version;
        IssuedAt = issuedAt;
        Devices = devices;
        Shares = shares;
    }

    /// <summary>0 = no grants ever received (deny everything).</summary>
    public long Version { get; }
    public DateTimeOffset? IssuedAt { get; }
    public IReadOnlyDictionary<string, GrantDevice> Devices { get; }
    public IReadOnlyDictionary<string, Share> Shares { get; }

    public static GrantsState FromSnapshot(GrantsSnapshot s) => new(
        s.Version,
        s.IssuedAt,
        s.Devices.ToDictionary(d => d.DeviceId, StringComparer.Ordinal),
        s.Shares.ToDictionary(x => x.ShareId, StringComparer.Ordinal));

    /// <summary>Removals first, then upserts (an id in both ends up present, as the delta's author wrote it last).</summary>
    public GrantsState Apply(GrantsDelta d)
    {
        var devices = new Dictionary<string, GrantDevice>(Devices, StringComparer.Ordinal);
        var shares = new Dictionary<string, Share>(Shares, StringComparer.Ordinal);
        foreach (var id in d.RemoveDevices)
        {
            devices.Remove(id);
        }
        foreach (var id in d.RemoveShares)
        {
            shares.Remove(id);
        }
        foreach (var dev in d.UpsertDevices)
        {
            devices[dev.DeviceId] = dev;
        }
        foreach (var s in d.UpsertShares)
        {
            shares[s.ShareId] = s;
        }
        return new GrantsState(d.Version, d.IssuedAt, devices, shares);
    }

    public GrantsSnapshot ToSnapshot(string gatewayId) => new(gatewayId, Version, IssuedAt, Devices.Values.ToList(), Shares.Values.ToList());
}
