using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using HikShareCloud.Service.Accounts;
using HikShareCloud.Service.Grants;
using HikShareCloud.Service.Storage;
using HikShareGateway.Access.Jose;
using HikShareGateway.Access.Grants;
using Microsoft.Extensions.Logging;

namespace HikShareCloud.Service.Gateways;

public sealed record ChannelView(int Channel, string? Name);
public sealed record DeviceView(string DeviceId, string GatewayId, string? Model, bool Online, IReadOnlyList<int> Channels)
{
    /// <summary>The name in force: the owner's, else the gateway's inventory's; null when neither.</summary>
    public string? Name { get; init; }

    /// <summary>The name the gateway reports (what a blank rename goes back to).</summary>
    public string? ReportedName { get; init; }

    /// <summary>Channel names in force (<c>{"1":"Door"}</c>), owner's over the inventory's.</summary>
    public IReadOnlyDictionary<int, string> ChannelNames { get; init; } = new Dictionary<int, string>();
}
public sealed record GatewayView(string GatewayId, long GrantsVersion, IReadOnlyList<DeviceView> Devices);

/// <summary>
/// Gateways and their devices. A gateway announces itself with a retained <c>binding</c> message
/// (a salted SHA-256 of the one-time code it prints); an account that shows the code becomes its
/// owner. Devices and channels come only from the gateway's retained inventory (contract §6).
/// </summary>
public sealed partial class GatewayService(ServiceDb db, GrantsBuilder grants, ServiceOptions options, TimeProvider time, ILogger<GatewayService> logger)
{
    /// <summary>Raised after a commit that wrote new grants versions (the publisher listens).</summary>
    public event Action? GrantsWritten;

    internal void OnGrantsWritten() => GrantsWritten?.Invoke();

    /// <summary>
    /// Stores the gateway's binding hash (<c>{"salt":"b64url","hash":"b64url of SHA-256(salt ‖ code)","expiresAt":"…"}</c>,
    /// <c>expiresAt</c> optional: <c>hikshare-gateway bind-code</c> sends it; past it the code is refused).
    /// </summary>
    public async Task RecordBindingAsync(string gatewayId, ReadOnlyMemory<byte> payload, CancellationToken ct = default)
    {
        if (!GatewayIds.IsValid(gatewayId))
        {
            return;
        }
        byte[] salt, hash;
        long? expiresAt = null;
        try
        {
            using var doc = JsonDocument.Parse(payload);
            if (!doc.RootElement.TryGetProperty("salt", out var s) || !doc.RootElement.TryGetProperty("hash", out var h)
                || !Base64UrlStrict.TryDecode(s.GetString() ?? "", out salt) || !Base64UrlStrict.TryDecode(h.GetString() ?? "", out hash)
                || salt.Length < 8 || hash.Length != 32)
            {
                LogBadMessage(logger, "binding", LogText.Escape(gatewayId), "needs salt (8+ bytes) and hash (32 bytes) in base64url");
                return;
            }
            if (doc.RootElement.TryGetProperty("expiresAt", out var x) && x.ValueKind != JsonValueKind.Null)
            {
                if (x.ValueKind != JsonValueKind.String || !DateTimeOffset.TryParse(x.GetString(), System.Globalization.CultureInfo.InvariantCulture,
                        System.Globalization.DateTimeStyles.AssumeUniversal, out var when))
                {
                    LogBadMessage(logger, "binding", LogText.Escape(gatewayId), "expiresAt is not an ISO 8601 time");
                    return;
                }
                expiresAt = when.ToUnixTimeMilliseconds();
            }
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            LogBadMessage(logger, "binding", LogText.Escape(gatewayId), "not JSON");
            return;
        }
        await db.InTransactionAsync(async tx =>
        {
            await EnsureGatewayAsync(tx, gatewayId);
            await tx.ExecuteAsync("UPDATE gateways SET binding_salt = @s, binding_hash = @h, binding_expires_at = @x WHERE id = @g",
                ("@s", salt), ("@h", hash), ("@x", expiresAt), ("@g", gatewayId));
        }, ct);
    }

    /// <summary>
    /// Binds the gateway to <paramref name="owner"/> when <paramref name="code"/> matches its published
    /// hash. The code works once; wrong codes count against the gateway like sign-in failures.
    /// </summary>
    public async Task BindToOwnerAsync(AccountRef owner, string gatewayId, string? code, CancellationToken ct = default)
    {
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        var windowStart = now - options.LoginWindowMinutes * 60_000L;
        var throttleKey = "bind:" + gatewayId;
        var outcome = await db.InTransactionAsync(async tx =>
        {
            if (await tx.LongAsync("SELECT COUNT(*) FROM login_failures WHERE throttle_key = @k AND at > @since", ("@k", throttleKey), ("@since", windowStart)) >= options.LoginFailureLimit)
            {
                throw ServiceException.TooMany("too many wrong binding codes for this gateway; try again later");
            }
            var row = await tx.SingleAsync("SELECT owner_id, binding_salt, binding_hash, binding_expires_at FROM gateways WHERE id = @g" + tx.Dialect.ForUpdate,
                r => new
                {
                    Owner = r.IsDBNull(0) ? (long?)null : r.GetInt64(0), Salt = r.IsDBNull(1) ? null : (byte[])r.GetValue(1), Hash = r.IsDBNull(2) ? null : (byte[])r.GetValue(2),
                    Expires = r.IsDBNull(3) ? (long?)null : r.GetInt64(3),
                },
                ("@g", gatewayId)) ?? throw ServiceException.NotFound("unknown-gateway", "no gateway with this id has announced itself to the service (is it connected to the broker?)");
            if (row.Owner is not null)
            {
                throw ServiceException.Conflict("gateway-bound", row.Owner == owner.Id ? "this gateway is already bound to you" : "this gateway is bound to another account");
            }
            if (row.Salt is null || row.Hash is null)
            {
                throw ServiceException.Conflict("no-binding-code", "the gateway has no binding code at the moment; have it print a new one");
            }
            if (row.Expires is { } expires && expires <= now)
            {
                throw ServiceException.Conflict("binding-code-expired", "the gateway's binding code has expired; have it print a new one (hikshare-gateway bind-code)");
            }
            // Codes are printed in capitals (hikshare-gateway bind-code); a typed lower-case code is the same code.
            var given = SHA256.HashData([.. row.Salt, .. Encoding.UTF8.GetBytes((code ?? "").Trim().ToUpperInvariant())]);
            if (!CryptographicOperations.FixedTimeEquals(given, row.Hash))
            {
                await tx.ExecuteAsync("INSERT INTO login_failures (throttle_key, at) VALUES (@k, @now)", ("@k", throttleKey), ("@now", now));
                return false;
            }
            await tx.ExecuteAsync("UPDATE gateways SET owner_id = @o, binding_salt = NULL, binding_hash = NULL, binding_expires_at = NULL WHERE id = @g", ("@o", owner.Id), ("@g", gatewayId));
            await grants.RebuildAsync(tx, gatewayId);
            return true;
        }, ct);
        if (!outcome)
        {
            throw ServiceException.Forbidden("wrong-binding-code", "the binding code does not match what the gateway printed");
        }
        LogBound(logger, LogText.Escape(gatewayId), owner.Id);
        OnGrantsWritten();
    }

    /// <summary>
    /// Replaces the gateway's devices with its inventory (contract §6). A device id already held by a
    /// gateway of another owner is ignored: a gateway cannot take someone else's device by naming it.
    /// </summary>
    public async Task RecordInventoryAsync(string gatewayId, ReadOnlyMemory<byte> payload, CancellationToken ct = default)
    {
        if (!GatewayIds.IsValid(gatewayId))
        {
            return;
        }
        List<(string Id, string? Model, bool Online, List<int> Channels, Dictionary<int, string> Names, string Capabilities)> devices = [];
        try
        {
            using var doc = JsonDocument.Parse(payload);
            foreach (var d in doc.RootElement.GetProperty("devices").EnumerateArray())
            {
                var id = d.GetProperty("deviceId").GetString();
                if (string.IsNullOrEmpty(id) || id.Length > 128)
                {
                    continue;
                }
                var channels = new List<int>();
                var names = new Dictionary<int, string>();
                var capabilities = new List<ChannelCapabilities>();
                if (DeviceNames.FromInventory(OptionalString(d, "name")) is { } deviceName)
                {
                    names[0] = deviceName;
                }
                if (d.TryGetProperty("channels", out var chs))
                {
                    foreach (var c in chs.EnumerateArray())
                    {
                        if (c.TryGetProperty("channel", out var n) && n.TryGetInt32(out var ch) && ch is >= 1 and <= GrantsJson.MaxChannel)
                        {
                            channels.Add(ch);
                            capabilities.Add(ChannelCapabilities.From(ch, c));
                            if (DeviceNames.FromInventory(OptionalString(c, "name")) is { } channelName)
                            {
                                names[ch] = channelName;
                            }
                        }
                    }
                }
                devices.Add((id, d.TryGetProperty("model", out var m) ? m.GetString() : null, !d.TryGetProperty("online", out var o) || o.ValueKind != JsonValueKind.False, channels, names, ChannelCapabilities.Format(capabilities)));
            }
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or KeyNotFoundException)
        {
            LogBadMessage(logger, "devices", LogText.Escape(gatewayId), "not an inventory (contract §6)");
            return;
        }
        await db.InTransactionAsync(async tx =>
        {
            await EnsureGatewayAsync(tx, gatewayId);
            var owner = await tx.LongAsync("SELECT owner_id FROM gateways WHERE id = @g" + tx.Dialect.ForUpdate, ("@g", gatewayId));
            var affected = new SortedSet<string>(StringComparer.Ordinal) { gatewayId };
            var kept = new HashSet<string>(StringComparer.Ordinal);
            foreach (var d in devices)
            {
                var elsewhere = await tx.SingleAsync("SELECT d.gateway_id, g.owner_id FROM devices d JOIN gateways g ON g.id = d.gateway_id WHERE d.device_id = @d",
                    r => new { Gateway = r.GetString(0), Owner = r.IsDBNull(1) ? (long?)null : r.GetInt64(1) }, ("@d", d.Id));
                if (elsewhere is not null && elsewhere.Gateway != gatewayId && elsewhere.Owner is not null && elsewhere.Owner != owner)
                {
                    LogDeviceClaimed(logger, LogText.Escape(gatewayId), LogText.Escape(d.Id));
                    continue;
                }
                if (elsewhere is not null && elsewhere.Gateway != gatewayId)
                {
                    affected.Add(elsewhere.Gateway);
                }
                await tx.ExecuteAsync(elsewhere is null
                    ? "INSERT INTO devices (device_id, gateway_id, channels, model, online, reported_names, capabilities) VALUES (@d, @g, @c, @m, @o, @n, @k)"
                    : "UPDATE devices SET gateway_id = @g, channels = @c, model = @m, online = @o, reported_names = @n, capabilities = @k WHERE device_id = @d",
                    ("@d", d.Id), ("@g", gatewayId), ("@c", Channels.Format(d.Channels)), ("@m", d.Model), ("@o", d.Online ? 1 : 0), ("@n", DeviceNames.Format(d.Names)),
                    ("@k", d.Capabilities));
                kept.Add(d.Id);
            }
            foreach (var gone in await tx.QueryAsync("SELECT device_id FROM devices WHERE gateway_id = @g", r => r.GetString(0), ("@g", gatewayId)))
            {
                if (!kept.Contains(gone))
                {
                    await tx.ExecuteAsync("DELETE FROM devices WHERE device_id = @d", ("@d", gone));
                }
            }
            foreach (var g in affected)
            {
                await grants.RebuildAsync(tx, g);
            }
            await tx.ExecuteAsync("UPDATE gateways SET inventory_at = @now WHERE id = @g", ("@now", time.GetUtcNow().ToUnixTimeMilliseconds()), ("@g", gatewayId));
        }, ct);
        OnGrantsWritten();
    }

    /// <summary>The owner's gateways with their devices and channels.</summary>
    public Task<IReadOnlyList<GatewayView>> ListAsync(AccountRef owner, CancellationToken ct = default)
        => db.InTransactionAsync<IReadOnlyList<GatewayView>>(async tx =>
        {
            var gateways = await tx.QueryAsync("SELECT id, grants_version FROM gateways WHERE owner_id = @o ORDER BY id", r => (Id: r.GetString(0), Version: r.GetInt64(1)), ("@o", owner.Id));
            var devices = await tx.QueryAsync("""
                SELECT d.device_id, d.gateway_id, d.model, d.online, d.channels, d.reported_names FROM devices d JOIN gateways g ON g.id = d.gateway_id
                WHERE g.owner_id = @o ORDER BY d.device_id
                """, r => (View: new DeviceView(r.GetString(0), r.GetString(1), r.IsDBNull(2) ? null : r.GetString(2), r.GetInt32(3) != 0, Channels.Parse(r.GetString(4))),
                    Reported: DeviceNames.Parse(r.IsDBNull(5) ? null : r.GetString(5))), ("@o", owner.Id));
            var names = await DeviceNames.LoadAsync(tx, "g.owner_id = @o", ("@o", owner.Id));
            var views = devices.Select(d =>
            {
                names.TryGetValue(d.View.DeviceId, out var n);
                return d.View with { Name = n.DeviceName(), ReportedName = d.Reported.DeviceName(), ChannelNames = DeviceNames.ChannelNamesOf(n) };
            }).ToList();
            return gateways.Select(g => new GatewayView(g.Id, g.Version, views.Where(d => d.GatewayId == g.Id).ToList())).ToList();
        }, ct);

    /// <summary>
    /// The owner names a device (<paramref name="channel"/> null) or one of its channels; a blank name
    /// goes back to what the gateway reports. The grants of the device's gateway carry the new name.
    /// </summary>
    public async Task RenameAsync(AccountRef owner, string deviceId, int? channel, string? name, CancellationToken ct = default)
    {
        var what = channel is null ? "name" : $"channel {channel} name";
        var clean = DeviceNames.Validate(name, what);
        await db.InTransactionAsync(async tx =>
        {
            var row = await tx.SingleAsync("SELECT d.gateway_id, d.channels FROM devices d JOIN gateways g ON g.id = d.gateway_id WHERE d.device_id = @d AND g.owner_id = @o",
                r => new { Gateway = r.GetString(0), Channels = Channels.Parse(r.GetString(1)) }, ("@d", deviceId), ("@o", owner.Id))
                ?? throw ServiceException.Forbidden("not-your-device", $"you do not own a device \"{LogText.Escape(deviceId, 128)}\"");
            if (channel is { } ch && (ch < 1 || ch > GrantsJson.MaxChannel || (row.Channels.Count > 0 && !row.Channels.Contains(ch))))
            {
                throw ServiceException.BadRequest("no-such-channel", $"the device has no channel {ch} (it has {(row.Channels.Count == 0 ? "none listed" : Channels.Format(row.Channels))})");
            }
            var key = channel ?? 0;
            await tx.ExecuteAsync("DELETE FROM device_names WHERE owner_id = @o AND device_id = @d AND channel = @c", ("@o", owner.Id), ("@d", deviceId), ("@c", key));
            if (clean is not null)
            {
                await tx.ExecuteAsync("INSERT INTO device_names (owner_id, device_id, channel, name) VALUES (@o, @d, @c, @n)", ("@o", owner.Id), ("@d", deviceId), ("@c", key), ("@n", clean));
            }
            await grants.RebuildAsync(tx, row.Gateway);
        }, ct);
        OnGrantsWritten();
    }

    private static string? OptionalString(JsonElement e, string name)
        => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static async Task EnsureGatewayAsync(DbTx tx, string gatewayId)
    {
        if (await tx.ScalarAsync("SELECT id FROM gateways WHERE id = @g", ("@g", gatewayId)) is null)
        {
            await tx.ExecuteAsync("INSERT INTO gateways (id, grants_version) VALUES (@g, 0)", ("@g", gatewayId));
        }
    }

    [LoggerMessage(EventId = 7010, Level = LogLevel.Warning, Message = "Ignored a {Kind} message from gateway {GatewayId}: {Reason}")]
    private static partial void LogBadMessage(ILogger logger, string kind, string gatewayId, string reason);

    [LoggerMessage(EventId = 7011, Level = LogLevel.Information, Message = "Gateway {GatewayId} bound to account {AccountId}")]
    private static partial void LogBound(ILogger logger, string gatewayId, long accountId);

    [LoggerMessage(EventId = 7012, Level = LogLevel.Warning, Message = "Gateway {GatewayId} listed device {DeviceId}, which belongs to another owner's gateway; ignored")]
    private static partial void LogDeviceClaimed(ILogger logger, string gatewayId, string deviceId);
}

public static class GatewayIds
{
    /// <summary>An id usable as one MQTT topic level: 1-128 characters, no <c>/ + #</c>, no control characters.</summary>
    public static bool IsValid(string id)
    {
        if (id.Length is 0 or > 128)
        {
            return false;
        }
        foreach (var c in id)
        {
            if (c is '/' or '+' or '#' || char.IsControl(c))
            {
                return false;
            }
        }
        return true;
    }
}
