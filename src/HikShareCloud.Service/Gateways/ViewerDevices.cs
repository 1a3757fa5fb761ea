using System.Text.Json;
using System.Text.Json.Nodes;
using HikShareCloud.Service.Accounts;
using HikShareCloud.Service.Grants;
using HikShareCloud.Service.Storage;
using HikShareGateway.Core.Access;

namespace HikShareCloud.Service.Gateways;

/// <summary>What one channel offers, as the gateway's inventory said (contract §6).</summary>
public sealed record ChannelCapabilities(int Channel, IReadOnlyList<string> Streams, bool Ptz, bool Backchannel, bool Playback)
{
    /// <summary>From one <c>channels[]</c> element of an inventory; absent fields are the contract's defaults (no streams listed, false).</summary>
    public static ChannelCapabilities From(int channel, JsonElement c)
    {
        var streams = new List<string>();
        if (c.TryGetProperty("streams", out var s) && s.ValueKind == JsonValueKind.Array)
        {
            foreach (var x in s.EnumerateArray())
            {
                if (x.GetString() is "main" or "sub")
                {
                    streams.Add(x.GetString()!);
                }
            }
        }
        static bool Flag(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.True;
        return new ChannelCapabilities(channel, streams, Flag(c, "ptz"), Flag(c, "backchannel"), Flag(c, "playback"));
    }

    /// <summary>The stored form (<c>devices.capabilities</c>): a JSON array of the channels.</summary>
    public static string Format(IEnumerable<ChannelCapabilities> channels)
    {
        var array = new JsonArray();
        foreach (var c in channels)
        {
            array.Add(new JsonObject
            {
                ["channel"] = c.Channel,
                ["streams"] = new JsonArray([.. c.Streams.Select(x => (JsonNode?)JsonValue.Create(x))]),
                ["ptz"] = c.Ptz,
                ["backchannel"] = c.Backchannel,
                ["playback"] = c.Playback,
            });
        }
        return array.ToJsonString();
    }

    /// <summary>The stored form read back; null or unreadable (a row written before migration 9): nothing known.</summary>
    public static Dictionary<int, ChannelCapabilities> Parse(string? stored)
    {
        var result = new Dictionary<int, ChannelCapabilities>();
        if (string.IsNullOrEmpty(stored))
        {
            return result;
        }
        try
        {
            using var doc = JsonDocument.Parse(stored);
            foreach (var c in doc.RootElement.EnumerateArray())
            {
                if (c.TryGetProperty("channel", out var n) && n.TryGetInt32(out var ch))
                {
                    result[ch] = From(ch, c);
                }
            }
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            result.Clear();
        }
        return result;
    }
}

/// <summary>One channel in the gateway's devices API shape (contract §5 <c>GET /api/v1/devices</c>).</summary>
public sealed record ViewerChannel(int Channel, string? Name, IReadOnlyList<string> Streams, bool Ptz, bool Backchannel, bool Playback, IReadOnlyList<string> Privileges);

/// <summary>One device in the gateway's devices API shape, with the share's details the web viewer shows.</summary>
public sealed record ViewerDevice(string DeviceId, bool Owner, string? Name, string? Model, bool Online, string? Source, string? Remark, DateTimeOffset? ExpiresAt,
    IReadOnlyList<ViewerChannel> Channels);

public sealed record ViewerDeviceList(IReadOnlyList<ViewerDevice> Devices);

/// <summary>
/// The devices list of the gateway's web viewer when the service serves it (<c>GET /gw/{gw}/api/v1/devices</c>): built
/// from the service's own data, as the gateway builds its own from the grants the service sent it — the account's
/// devices on that gateway (an owner: all channels, every privilege) and its accepted, unexpired shares of devices of
/// that gateway's owner, joined with the inventory (names, what each channel offers). The gateway's list and this one
/// agree once the gateway has applied the latest grants version; the gateway still decides every session.
/// </summary>
public sealed class ViewerDevices(ServiceDb db, TimeProvider time)
{
    public Task<ViewerDeviceList> ListAsync(string account, string gatewayId, CancellationToken ct = default)
        => db.InTransactionAsync(async tx =>
        {
            var now = time.GetUtcNow().ToUnixTimeMilliseconds();
            var accountId = await tx.LongAsync("SELECT id FROM accounts WHERE address = @a", ("@a", account));
            var devices = await tx.QueryAsync("""
                SELECT d.device_id, d.model, d.online, d.channels, d.capabilities, g.owner_id, a.address
                FROM devices d JOIN gateways g ON g.id = d.gateway_id JOIN accounts a ON a.id = g.owner_id
                WHERE d.gateway_id = @g ORDER BY d.device_id
                """, r => (Id: r.GetString(0), Model: r.IsDBNull(1) ? null : r.GetString(1), Online: r.GetInt32(2) != 0, Channels: Channels.Parse(r.GetString(3)),
                    Capabilities: ChannelCapabilities.Parse(r.IsDBNull(4) ? null : r.GetString(4)), OwnerId: r.GetInt64(5), OwnerAddress: r.GetString(6)), ("@g", gatewayId));
            var shares = await tx.QueryAsync("""
                SELECT sd.device_id, sd.channels, sd.privileges, s.remark, s.expires_at
                FROM shares s JOIN share_devices sd ON sd.share_row = s.id JOIN devices d ON d.device_id = sd.device_id JOIN gateways g ON g.id = d.gateway_id
                WHERE d.gateway_id = @g AND s.recipient = @r AND s.state = 'accepted' AND g.owner_id = s.owner_id
                  AND (s.expires_at IS NULL OR s.expires_at > @now)
                ORDER BY s.created_at, s.share_id
                """, r => (DeviceId: r.GetString(0), Channels: Channels.Parse(r.GetString(1)), Privileges: (Privilege)r.GetInt32(2),
                    Remark: r.IsDBNull(3) ? null : r.GetString(3), ExpiresAt: r.IsDBNull(4) ? (long?)null : r.GetInt64(4)),
                ("@g", gatewayId), ("@r", account), ("@now", now));
            var names = await DeviceNames.LoadAsync(tx, "d.gateway_id = @g", ("@g", gatewayId));
            var result = new List<ViewerDevice>();
            foreach (var d in devices)
            {
                var owner = accountId is { } id && d.OwnerId == id;
                var mine = shares.Where(s => s.DeviceId == d.Id).ToList();
                if (!owner && mine.Count == 0)
                {
                    continue;
                }
                names.TryGetValue(d.Id, out var n);
                var channels = new List<ViewerChannel>();
                foreach (var ch in d.Channels)
                {
                    var privileges = owner ? Privilege.All : Privilege.None;
                    foreach (var s in mine)
                    {
                        // A share without channels gives every channel of the device (as in the grants).
                        if (s.Channels.Count == 0 || s.Channels.Contains(ch))
                        {
                            privileges |= s.Privileges;
                        }
                    }
                    if (privileges == Privilege.None)
                    {
                        continue;
                    }
                    d.Capabilities.TryGetValue(ch, out var c);
                    channels.Add(new ViewerChannel(ch, n is not null && n.TryGetValue(ch, out var cn) ? cn : null, c?.Streams ?? [], c?.Ptz ?? false,
                        c?.Backchannel ?? false, c?.Playback ?? false, privileges.ToContractNames().ToList()));
                }
                if (channels.Count == 0)
                {
                    continue;
                }
                var remarks = mine.Select(s => s.Remark).Where(r => !string.IsNullOrEmpty(r)).Distinct().ToList();
                DateTimeOffset? expires = owner || mine.Any(s => s.ExpiresAt is null) ? null : DateTimeOffset.FromUnixTimeMilliseconds(mine.Max(s => s.ExpiresAt!.Value));
                result.Add(new ViewerDevice(d.Id, owner, n.DeviceName(), d.Model, d.Online, owner ? account : d.OwnerAddress,
                    remarks.Count == 0 ? null : string.Join("; ", remarks), expires, channels));
            }
            return new ViewerDeviceList(result);
        }, ct);

    /// <summary>Does the account hold <paramref name="privilege"/> on that channel of a device of the gateway (the service's view)?</summary>
    public async Task<bool> HoldsAsync(string account, string gatewayId, string deviceId, int channel, Privilege privilege, CancellationToken ct = default)
    {
        var list = await ListAsync(account, gatewayId, ct);
        var device = list.Devices.FirstOrDefault(d => d.DeviceId == deviceId);
        var name = privilege.ToContractNames().Single();
        return device?.Channels.FirstOrDefault(c => c.Channel == channel)?.Privileges.Contains(name) == true;
    }
}
