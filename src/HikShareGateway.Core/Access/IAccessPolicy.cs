namespace HikShareGateway.Core.Access;

/// <summary>One device an account may see, with what it may do on which channels (empty = all channels).</summary>
public sealed record DeviceAccess(string DeviceId, bool IsOwner, IReadOnlyList<ChannelAccess> Channels)
{
    /// <summary>The device's owner (the source of the shares), when the grants say; null for implementations that do not know.</summary>
    public string? Owner { get; init; }

    /// <summary>The owner's name for the device, when the grants carry one (null: none; show the gateway's own).</summary>
    public string? Name { get; init; }

    /// <summary>The owner's names for channels, when the grants carry them (a missing channel: show the gateway's own).</summary>
    public IReadOnlyDictionary<int, string>? ChannelNames { get; init; }

    /// <summary>The accepted, unexpired shares that give this account the device (empty for its owner).</summary>
    public IReadOnlyList<ShareGrant> Shares { get; init; } = [];
}

/// <summary>A share as the viewer may see it (contract §1/§3: its id, owner, remark and expiry).</summary>
public sealed record ShareGrant(string ShareId, string Owner, string? Remark, DateTimeOffset? ExpiresAt);

/// <param name="Channel">1-based channel; 0 means "every channel of the device".</param>
public sealed record ChannelAccess(int Channel, Privilege Privileges);

/// <summary>
/// The single authorization interface every session, PTZ command, talk channel and alarm goes through.
/// Implementations must be safe to call from any thread and allocation-free on <see cref="IsAllowed"/>.
/// </summary>
public interface IAccessPolicy
{
    /// <summary>The version of the grants in force (0 = none ever received: deny everything).</summary>
    long Version { get; }

    /// <summary>True when <paramref name="account"/> (normalised) holds <paramref name="privilege"/> on the device's channel now.</summary>
    bool IsAllowed(string account, string deviceId, int channel, Privilege privilege);

    /// <summary>The devices the account may use (for <c>GET /api/v1/devices</c>).</summary>
    IReadOnlyList<DeviceAccess> GetVisibleDevices(string account);

    /// <summary>The owner plus every account with an accepted, unexpired share holding alarmPush on that device and channel.</summary>
    IReadOnlyList<string> GetAlarmRecipients(string deviceId, int channel);

    /// <summary>Raised after a change of grants was applied (new snapshot, delta, or a share reaching its expiry).</summary>
    event Action? Changed;
}

/// <summary>The daemon's default before anything is configured: nobody may do anything.</summary>
public sealed class DenyAllAccessPolicy : IAccessPolicy
{
    public long Version => 0;
    public bool IsAllowed(string account, string deviceId, int channel, Privilege privilege) => false;
    public IReadOnlyList<DeviceAccess> GetVisibleDevices(string account) => [];
    public IReadOnlyList<string> GetAlarmRecipients(string deviceId, int channel) => [];
    public event Action? Changed { add { } remove { } }
}
