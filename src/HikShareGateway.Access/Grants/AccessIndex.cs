using HikShareGateway.Core.Access;

namespace HikShareGateway.Access.Grants;

/// <summary>
/// What each (account, device) may do, precomputed from one <see cref="GrantsState"/> at one instant.
/// Immutable; the store swaps a whole new index in on every change, so <see cref="IsAllowed"/> is a
/// single dictionary probe with a struct key and no allocation.
/// </summary>
public sealed class AccessIndex
{
    public static readonly AccessIndex Empty = new(new Dictionary<AccessKey, ChannelMask>(AccessKeyComparer.Instance),
        new Dictionary<string, DeviceAccess[]>(StringComparer.OrdinalIgnoreCase), new Dictionary<string, List<(string, ChannelMask)>>(StringComparer.Ordinal), null);

    private readonly Dictionary<AccessKey, ChannelMask> _entries;
    private readonly Dictionary<string, DeviceAccess[]> _visible;
    private readonly Dictionary<string, List<(string Account, ChannelMask Mask)>> _byDevice;

    private AccessIndex(Dictionary<AccessKey, ChannelMask> entries, Dictionary<string, DeviceAccess[]> visible,
        Dictionary<string, List<(string, ChannelMask)>> byDevice, DateTimeOffset? nextExpiry)
    {
        _entries = entries;
        _visible = visible;
        _byDevice = byDevice;
        NextExpiry = nextExpiry;
    }

    /// <summary>The earliest <c>expiresAt</c> still in the future among shares that grant something now (re-index then).</summary>
    public DateTimeOffset? NextExpiry { get; }

    public int EntryCount => _entries.Count;

    public bool IsAllowed(string account, string deviceId, int channel, Privilege privilege)
    {
        if (privilege == Privilege.None || channel < 1 || !_entries.TryGetValue(new AccessKey(account, deviceId), out var mask))
        {
            return false;
        }
        return (mask.On(channel) & privilege) == privilege;
    }

    public IReadOnlyList<DeviceAccess> GetVisibleDevices(string account) => _visible.TryGetValue(account, out var list) ? list : [];

    public IReadOnlyList<string> GetAlarmRecipients(string deviceId, int channel)
    {
        if (!_byDevice.TryGetValue(deviceId, out var list))
        {
            return [];
        }
        var result = new List<string>(list.Count);
        foreach (var (account, mask) in list)
        {
            if ((mask.On(channel) & Privilege.AlarmPush) != 0)
            {
                result.Add(account); // The owner comes first (added first when building).
            }
        }
        return result;
    }

    /// <summary>
    /// Builds the index: owners get every privilege on every channel of their devices; a share counts
    /// only when it is <c>accepted</c>, not expired at <paramref name="now"/>, and only for devices that
    /// the share's owner owns in <see cref="GrantsState.Devices"/> (a share cannot give away someone else's device).
    /// </summary>
    public static AccessIndex Build(GrantsState state, DateTimeOffset now)
    {
        var builders = new Dictionary<AccessKey, MaskBuilder>(AccessKeyComparer.Instance);
        var order = new Dictionary<string, List<string>>(StringComparer.Ordinal); // device -> accounts, owner first
        DateTimeOffset? nextExpiry = null;

        foreach (var device in state.Devices.Values.OrderBy(d => d.DeviceId, StringComparer.Ordinal))
        {
            var b = Get(builders, order, device.Owner, device.DeviceId);
            b.IsOwner = true;
            b.All = Privilege.All;
        }
        foreach (var share in state.Shares.Values.OrderBy(s => s.ShareId, StringComparer.Ordinal))
        {
            if (share.State != ShareState.Accepted)
            {
                continue;
            }
            if (share.ExpiresAt is { } exp)
            {
                if (exp <= now)
                {
                    continue;
                }
                nextExpiry = nextExpiry is null || exp < nextExpiry ? exp : nextExpiry;
            }
            foreach (var sd in share.Devices)
            {
                if (sd.Privileges == Privilege.None
                    || !state.Devices.TryGetValue(sd.DeviceId, out var device)
                    || !string.Equals(device.Owner, share.Owner, StringComparison.Ordinal))
                {
                    continue;
                }
                var b = Get(builders, order, share.Recipient, sd.DeviceId);
                if (!b.Shares.Exists(x => x.ShareId == share.ShareId))
                {
                    b.Shares.Add(new ShareGrant(share.ShareId, share.Owner, share.Remark, share.ExpiresAt));
                }
                if (sd.Channels.Count == 0)
                {
                    b.All |= sd.Privileges;
                }
                else
                {
                    foreach (var ch in sd.Channels)
                    {
                        b.PerChannel[ch] = b.PerChannel.GetValueOrDefault(ch) | sd.Privileges;
                    }
                }
            }
        }

        var entries = new Dictionary<AccessKey, ChannelMask>(builders.Count, AccessKeyComparer.Instance);
        var visible = new Dictionary<string, List<DeviceAccess>>(StringComparer.OrdinalIgnoreCase);
        foreach (var (key, b) in builders)
        {
            var mask = b.Build();
            entries[key] = mask;
            var channels = new List<ChannelAccess>();
            if (b.All != Privilege.None)
            {
                channels.Add(new ChannelAccess(0, b.All));
            }
            foreach (var (ch, p) in b.PerChannel.OrderBy(x => x.Key))
            {
                if ((p & ~b.All) != 0)
                {
                    channels.Add(new ChannelAccess(ch, p | b.All));
                }
            }
            if (!visible.TryGetValue(key.Account, out var list))
            {
                visible[key.Account] = list = [];
            }
            state.Devices.TryGetValue(key.DeviceId, out var owned);
            list.Add(new DeviceAccess(key.DeviceId, b.IsOwner, channels)
            {
                Owner = owned?.Owner,
                Name = owned?.Name,
                ChannelNames = owned is { ChannelNames.Count: > 0 } ? owned.ChannelNames : null,
                Shares = b.IsOwner ? [] : [.. b.Shares],
            });
        }
        var byDevice = new Dictionary<string, List<(string, ChannelMask)>>(StringComparer.Ordinal);
        foreach (var (deviceId, accounts) in order)
        {
            byDevice[deviceId] = accounts.Select(a => (a, entries[new AccessKey(a, deviceId)])).ToList();
        }
        return new AccessIndex(entries,
            visible.ToDictionary(x => x.Key, x => x.Value.OrderBy(d => d.DeviceId, StringComparer.Ordinal).ToArray(), StringComparer.OrdinalIgnoreCase),
            byDevice, nextExpiry);
    }

    private static MaskBuilder Get(Dictionary<AccessKey, MaskBuilder> builders, Dictionary<string, List<string>> order, string account, string deviceId)
    {
        var key = new AccessKey(account, deviceId);
        if (!builders.TryGetValue(key, out var b))
        {
            builders[key] = b = new MaskBuilder();
            if (!order.TryGetValue(deviceId, out var list))
            {
                order[deviceId] = list = [];
            }
            list.Add(account);
        }
        return b;
    }

    private sealed class MaskBuilder
    {
        public bool IsOwner;
        public Privilege All;
        public readonly Dictionary<int, Privilege> PerChannel = [];
        public readonly List<ShareGrant> Shares = [];

        public ChannelMask Build()
        {
            var max = PerChannel.Count == 0 ? 0 : PerChannel.Keys.Max();
            var by = new Privilege[max + 1];
            foreach (var (ch, p) in PerChannel)
            {
                by[ch] = p;
            }
            return new ChannelMask(All, by);
        }
    }

    /// <summary>Privileges on every channel plus extra ones per channel (array indexed by channel).</summary>
    internal sealed class ChannelMask(Privilege all, Privilege[] byChannel)
    {
        public Privilege On(int channel) => (uint)channel < (uint)byChannel.Length ? all | byChannel[channel] : all;
    }

    /// <summary>Accounts compare case-insensitively (already lower-case when normalised; tolerant of callers that are not).</summary>
    internal readonly record struct AccessKey(string Account, string DeviceId);

    internal sealed class AccessKeyComparer : IEqualityComparer<AccessKey>
    {
        public static readonly AccessKeyComparer Instance = new();

        public bool Equals(AccessKey x, AccessKey y)
            => string.Equals(x.DeviceId, y.DeviceId, StringComparison.Ordinal) && string.Equals(x.Account, y.Account, StringComparison.OrdinalIgnoreCase);

        public int GetHashCode(AccessKey k)
            => HashCode.Combine(StringComparer.OrdinalIgnoreCase.GetHashCode(k.Account), StringComparer.Ordinal.GetHashCode(k.DeviceId));
    }
}
