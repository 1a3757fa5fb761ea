using System.Globalization;
using System.Text;
using HikShareCloud.Service.Storage;
using HikShareGateway.Access.Grants;
using HikShareGateway.Access.Jose;
using HikShareGateway.Core.Access;

namespace HikShareCloud.Service.Grants;

/// <summary>
/// Turns the database into each gateway's grants (contract §3), inside the transaction of the change
/// that caused it: for every affected gateway, the new snapshot is built from the tables, compared
/// with the last one, and when it differs a new version is written with its signed snapshot and the
/// signed delta from the previous version. The publisher sends those rows after the commit; a change
/// and its grants therefore commit or fail together.
/// </summary>
public sealed class GrantsBuilder(SigningKeys keys, TimeProvider time)
{
    /// <summary>The new version, or null when the gateway's grants did not change.</summary>
    public async Task<long?> RebuildAsync(DbTx tx, string gatewayId)
    {
        // :: Step 1: lock the gateway's row, so that two changes cannot both make version N+1.
        var current = await tx.LongAsync("SELECT grants_version FROM gateways WHERE id = @g" + tx.Dialect.ForUpdate, ("@g", gatewayId));
        if (current is null)
        {
            return null;
        }
        // :: Step 2: the snapshot as the tables say now.
        var now = time.GetUtcNow();
        var snapshot = await BuildAsync(tx, gatewayId, current.Value + 1, now);
        // :: Step 3: what the gateway holds (the last version written), and the difference.
        GrantsSnapshot? previous = null;
        if (current.Value > 0
            && await tx.ScalarAsync("SELECT snapshot_payload FROM grants_versions WHERE gateway_id = @g AND version = @v", ("@g", gatewayId), ("@v", current.Value)) is string payload
            && GrantsJson.TryParseSnapshot(Encoding.UTF8.GetBytes(payload), out var p, out _))
        {
            previous = p;
        }
        var delta = previous is null ? null : Diff(previous, snapshot, now);
        if (previous is not null && delta is null)
        {
            return null;
        }
        // :: Step 4: sign both and write the version; the publisher picks it up after the commit.
        var snapshotBytes = GrantsJson.Write(snapshot);
        await tx.ExecuteAsync("""
            INSERT INTO grants_versions (gateway_id, version, snapshot_payload, snapshot_jws, delta_jws, created_at)
            VALUES (@g, @v, @payload, @snap, @delta, @now)
            """, ("@g", gatewayId), ("@v", snapshot.Version), ("@payload", Encoding.UTF8.GetString(snapshotBytes)),
            ("@snap", Jws.Sign(snapshotBytes, keys.Active)), ("@delta", delta is null ? null : Jws.Sign(GrantsJson.Write(delta), keys.Active)),
            ("@now", now.ToUnixTimeMilliseconds()));
        await tx.ExecuteAsync("UPDATE gateways SET grants_version = @v WHERE id = @g", ("@v", snapshot.Version), ("@g", gatewayId));
        return snapshot.Version;
    }

    /// <summary>The gateways whose devices a set of devices lives on (for a share's old and new devices).</summary>
    public static async Task<IReadOnlyList<string>> GatewaysOfAsync(DbTx tx, IEnumerable<string> deviceIds)
    {
        var set = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var d in deviceIds.Distinct())
        {
            if (await tx.ScalarAsync("SELECT gateway_id FROM devices WHERE device_id = @d", ("@d", d)) is string g)
            {
                set.Add(g);
            }
        }
        return [.. set];
    }

    /// <summary>
    /// Devices of the gateway with their owner (only once the gateway is bound), and every share not
    /// deleted that names one of them, restricted to this gateway's devices.
    /// </summary>
    internal static async Task<GrantsSnapshot> BuildAsync(DbTx tx, string gatewayId, long version, DateTimeOffset now)
    {
        var devices = await tx.QueryAsync("""
            SELECT d.device_id, a.address FROM devices d JOIN gateways g ON g.id = d.gateway_id JOIN accounts a ON a.id = g.owner_id
            WHERE d.gateway_id = @g ORDER BY d.device_id
            """, r => new GrantDevice(r.GetString(0), r.GetString(1)), ("@g", gatewayId));
        // Names ride along (optional members: docs/contract.md, "Device and channel names"); old gateways ignore them.
        var names = await Gateways.DeviceNames.LoadOwnersAsync(tx, "d.gateway_id = @g", ("@g", gatewayId));
        for (var i = 0; i < devices.Count; i++)
        {
            if (names.TryGetValue(devices[i].DeviceId, out var n) && n.Count > 0)
            {
                devices[i] = devices[i] with { Name = n.TryGetValue(0, out var own) ? own : null, ChannelNames = Gateways.DeviceNames.ChannelNamesOf(n) };
            }
        }
        var rows = await tx.QueryAsync("""
            SELECT s.share_id, a.address, s.recipient, s.remark, s.state, s.expires_at, sd.device_id, sd.channels, sd.privileges
            FROM shares s JOIN accounts a ON a.id = s.owner_id JOIN share_devices sd ON sd.share_row = s.id
            JOIN devices d ON d.device_id = sd.device_id JOIN gateways g ON g.id = d.gateway_id
            WHERE d.gateway_id = @g AND s.state <> 'deleted' AND g.owner_id = s.owner_id
            ORDER BY s.share_id, sd.device_id
            """, r => (ShareId: r.GetString(0), Owner: r.GetString(1), Recipient: r.GetString(2), Remark: r.IsDBNull(3) ? null : r.GetString(3),
                State: ShareStates.Parse(r.GetString(4)), Expires: r.IsDBNull(5) ? (DateTimeOffset?)null : DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(5)),
                Device: new ShareDevice(r.GetString(6), Channels.Parse(r.GetString(7)), (Privilege)r.GetInt32(8))), ("@g", gatewayId));
        var shares = new List<Share>();
        foreach (var group in rows.GroupBy(r => r.ShareId))
        {
            var first = group.First();
            shares.Add(new Share(first.ShareId, first.Owner, first.Recipient, first.Remark, first.State, first.Expires, group.Select(g => g.Device).ToList()));
        }
        return new GrantsSnapshot(gatewayId, version, now, devices, shares);
    }

    /// <summary>The delta from <paramref name="from"/> to <paramref name="to"/>, or null when nothing differs.</summary>
    internal static GrantsDelta? Diff(GrantsSnapshot from, GrantsSnapshot to, DateTimeOffset now)
    {
        var oldDevices = from.Devices.ToDictionary(d => d.DeviceId, StringComparer.Ordinal);
        var newDevices = to.Devices.ToDictionary(d => d.DeviceId, StringComparer.Ordinal);
        var oldShares = from.Shares.ToDictionary(s => s.ShareId, StringComparer.Ordinal);
        var newShares = to.Shares.ToDictionary(s => s.ShareId, StringComparer.Ordinal);
        var upsertDevices = to.Devices.Where(d => !oldDevices.TryGetValue(d.DeviceId, out var o) || o != d).ToList();
        var removeDevices = from.Devices.Where(d => !newDevices.ContainsKey(d.DeviceId)).Select(d => d.DeviceId).ToList();
        var upsertShares = to.Shares.Where(s => !oldShares.TryGetValue(s.ShareId, out var o) || !SameShare(o, s)).ToList();
        var removeShares = from.Shares.Where(s => !newShares.ContainsKey(s.ShareId)).Select(s => s.ShareId).ToList();
        if (upsertDevices.Count + removeDevices.Count + upsertShares.Count + removeShares.Count == 0)
        {
            return null;
        }
        return new GrantsDelta(to.GatewayId, from.Version, to.Version, now, upsertDevices, removeDevices, upsertShares, removeShares);
    }

    /// <summary>Equality as the gateway sees it: the share's JSON (the record's lists compare by reference).</summary>
    private static bool SameShare(Share a, Share b)
        => GrantsJson.Write(new GrantsSnapshot("x", 1, null, [], [a])).AsSpan().SequenceEqual(GrantsJson.Write(new GrantsSnapshot("x", 1, null, [], [b])));
}

/// <summary>Channel lists as stored: <c>"1,2,5"</c>, empty = every channel (contract §1).</summary>
public static class Channels
{
    public static string Format(IEnumerable<int> channels) => string.Join(',', channels.Distinct().Order().Select(c => c.ToString(CultureInfo.InvariantCulture)));

    public static IReadOnlyList<int> Parse(string s)
        => s.Length == 0 ? [] : s.Split(',').Select(x => int.Parse(x, NumberStyles.None, CultureInfo.InvariantCulture)).ToList();
}

public static class ShareStates
{
    public const string Pending = "pending";
    public const string Accepted = "accepted";
    public const string Rejected = "rejected";
    public const string Deleted = "deleted";

    public static ShareState Parse(string s) => s switch
    {
        Pending => ShareState.Pending,
        Accepted => ShareState.Accepted,
        Rejected => ShareState.Rejected,
        _ => ShareState.Deleted,
    };
}
