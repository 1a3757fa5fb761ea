using System.Security.Cryptography;
using HikShareCloud.Service.Accounts;
using HikShareCloud.Service.Grants;
using HikShareCloud.Service.Gateways;
using HikShareCloud.Service.Storage;
using HikShareGateway.Access.Grants;
using HikShareGateway.Core.Access;

namespace HikShareCloud.Service.Shares;

public sealed record ShareDeviceRequest(string? DeviceId, IReadOnlyList<int>? Channels, IReadOnlyList<string>? Privileges);

/// <summary>What an owner sends (create) or replaces (edit, with the version it read).</summary>
public sealed record ShareRequest(string? Recipient, IReadOnlyList<ShareDeviceRequest>? Devices, string? Remark, DateTimeOffset? ExpiresAt);

public sealed record ShareDeviceView(string DeviceId, IReadOnlyList<int> Channels, IReadOnlyList<string> Privileges)
{
    /// <summary>The device's name as its owner set it (else the gateway's); null when none. Shown, never compared.</summary>
    public string? Name { get; init; }

    /// <summary>Names of the device's channels (<c>{"1":"Door"}</c>), owner's over the gateway's.</summary>
    public IReadOnlyDictionary<int, string> ChannelNames { get; init; } = new Dictionary<int, string>();
}

public sealed record ShareView(string ShareId, string Owner, string Recipient, string? Remark, string State, DateTimeOffset? ExpiresAt,
    long Version, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt, IReadOnlyList<ShareDeviceView> Devices);

/// <summary>An account the owner has shared with, deleted shares included.</summary>
public sealed record HistoryEntry(string Recipient, int Shares, DateTimeOffset FirstSharedAt, DateTimeOffset LastSharedAt);

/// <summary>
/// The share workflow (contract §1, §10): create (pending), accept or reject by the recipient, edit or
/// delete by the owner, delete by the recipient, and the owner's history. Every change is one
/// transaction that checks its invariants, bumps the share's <c>version</c> only if it still has the
/// version the caller read (optimistic concurrency: a concurrent change makes it 409, never a lost
/// update), and writes the new grants of every affected gateway.
/// </summary>
public sealed class ShareService(ServiceDb db, GrantsBuilder grants, GatewayService gateways, TimeProvider time)
{
    public const int MaxRemarkLength = 256;
    public const int MaxDevicesPerShare = 256;

    public async Task<ShareView> CreateAsync(AccountRef owner, ShareRequest request, CancellationToken ct = default)
    {
        var recipient = AccountService.Normalize(request.Recipient);
        if (recipient == owner.Address)
        {
            throw ServiceException.BadRequest("self-share", "you cannot share with yourself");
        }
        var view = await db.InTransactionAsync(async tx =>
        {
            var now = Now;
            var devices = await ValidateAsync(tx, owner, request, now);
            var shareId = "sh-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
            var row = (await tx.LongAsync("""
                INSERT INTO shares (share_id, owner_id, recipient, remark, state, expires_at, version, created_at, updated_at)
                VALUES (@id, @o, @r, @remark, 'pending', @exp, 1, @now, @now) RETURNING id
                """, ("@id", shareId), ("@o", owner.Id), ("@r", recipient), ("@remark", request.Remark), ("@exp", request.ExpiresAt?.ToUnixTimeMilliseconds()), ("@now", now)))!.Value;
            await InsertDevicesAsync(tx, row, devices);
            await RebuildAsync(tx, devices.Select(d => d.DeviceId));
            return (await LoadAsync(tx, shareId))!;
        }, ct);
        gateways.OnGrantsWritten();
        return view;
    }

    /// <summary>The owner replaces devices, channels, privileges, remark and expiry; the state stays.</summary>
    public Task<ShareView> EditAsync(AccountRef owner, string shareId, long expectedVersion, ShareRequest request, CancellationToken ct = default)
        => ChangeAsync(shareId, expectedVersion, ct, async (tx, s) =>
        {
            RequireOwner(owner, s);
            RequireNotDeleted(s);
            var now = Now;
            var devices = await ValidateAsync(tx, owner, request, now);
            await tx.ExecuteAsync("UPDATE shares SET remark = @remark, expires_at = @exp WHERE share_id = @id",
                ("@remark", request.Remark), ("@exp", request.ExpiresAt?.ToUnixTimeMilliseconds()), ("@id", shareId));
            var before = s.Devices.Select(d => d.DeviceId).ToList();
            await tx.ExecuteAsync("DELETE FROM share_devices WHERE share_row = @row", ("@row", s.Row));
            await InsertDevicesAsync(tx, s.Row, devices);
            return before.Concat(devices.Select(d => d.DeviceId));
        });

    public Task<ShareView> AcceptAsync(AccountRef recipient, string shareId, long? expectedVersion = null, CancellationToken ct = default)
        => RecipientDecisionAsync(recipient, shareId, expectedVersion, ShareStates.Accepted, ct);

    public Task<ShareView> RejectAsync(AccountRef recipient, string shareId, long? expectedVersion = null, CancellationToken ct = default)
        => RecipientDecisionAsync(recipient, shareId, expectedVersion, ShareStates.Rejected, ct);

    /// <summary>The owner deletes the share, or the recipient removes it from "Others' devices".</summary>
    public Task<ShareView> DeleteAsync(AccountRef caller, string shareId, long? expectedVersion = null, CancellationToken ct = default)
        => ChangeAsync(shareId, expectedVersion, ct, async (tx, s) =>
        {
            if (s.OwnerId != caller.Id && s.Recipient != caller.Address)
            {
                throw NotYours();
            }
            RequireNotDeleted(s);
            await SetStateAsync(tx, shareId, ShareStates.Deleted);
            return s.Devices.Select(d => d.DeviceId);
        });

    public Task<IReadOnlyList<ShareView>> OutgoingAsync(AccountRef owner, CancellationToken ct = default)
        => ListAsync("s.owner_id = @who", ("@who", owner.Id), ct);

    /// <summary>Shares sent to the account ("Others' devices" and invitations), deleted ones left out.</summary>
    public Task<IReadOnlyList<ShareView>> IncomingAsync(AccountRef recipient, CancellationToken ct = default)
        => ListAsync("s.recipient = @who AND s.state <> 'deleted'", ("@who", recipient.Address), ct);

    public Task<IReadOnlyList<HistoryEntry>> HistoryAsync(AccountRef owner, CancellationToken ct = default)
        => db.InTransactionAsync<IReadOnlyList<HistoryEntry>>(async tx => await tx.QueryAsync("""
            SELECT recipient, COUNT(*), MIN(created_at), MAX(created_at) FROM shares WHERE owner_id = @o GROUP BY recipient ORDER BY MAX(created_at) DESC, recipient
            """, r => new HistoryEntry(r.GetString(0), Convert.ToInt32(r.GetValue(1), System.Globalization.CultureInfo.InvariantCulture),
                DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(2)), DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(3))), ("@o", owner.Id)), ct);

    private Task<ShareView> RecipientDecisionAsync(AccountRef recipient, string shareId, long? expectedVersion, string state, CancellationToken ct)
        => ChangeAsync(shareId, expectedVersion, ct, async (tx, s) =>
        {
            if (s.Recipient != recipient.Address)
            {
                throw NotYours();
            }
            if (s.State != ShareStates.Pending)
            {
                throw ServiceException.Conflict("not-pending", $"the share is {s.State}; only a pending share can be accepted or rejected");
            }
            await SetStateAsync(tx, shareId, state);
            return s.Devices.Select(d => d.DeviceId);
        });

    private sealed record ShareRow(long Row, string ShareId, long OwnerId, string Recipient, string State, long Version, IReadOnlyList<ShareDeviceView> Devices);

    /// <summary>
    /// One change of one share: read it, let <paramref name="change"/> check and write, then bump the
    /// version guarded by the version read (0 rows = someone changed it meanwhile → 409), rebuild the
    /// grants of the gateways of the devices before and after.
    /// </summary>
    private async Task<ShareView> ChangeAsync(string shareId, long? expectedVersion, CancellationToken ct, Func<DbTx, ShareRow, Task<IEnumerable<string>>> change)
    {
        var view = await db.InTransactionAsync(async tx =>
        {
            var s = await ReadAsync(tx, shareId) ?? throw ServiceException.NotFound("no-such-share", "no share with this id");
            if (expectedVersion is { } v && v != s.Version)
            {
                throw ServiceException.Conflict("version-conflict", $"the share changed (version {s.Version}, you had {v}); reload it and try again");
            }
            var devices = (await change(tx, s)).ToList();
            if (await tx.ExecuteAsync("UPDATE shares SET version = version + 1, updated_at = @now WHERE share_id = @id AND version = @v",
                    ("@now", Now), ("@id", shareId), ("@v", s.Version)) != 1)
            {
                throw ServiceException.Conflict("version-conflict", "the share was changed by someone else at the same time; reload it and try again");
            }
            await RebuildAsync(tx, devices);
            return (await LoadAsync(tx, shareId))!;
        }, ct);
        gateways.OnGrantsWritten();
        return view;
    }

    private async Task<List<ShareDeviceView>> ValidateAsync(DbTx tx, AccountRef owner, ShareRequest request, long now)
    {
        if (request.Devices is not { Count: > 0 } devices)
        {
            throw ServiceException.BadRequest("no-devices", "a share names at least one device");
        }
        if (devices.Count > MaxDevicesPerShare)
        {
            throw ServiceException.BadRequest("too-many-devices", $"a share names at most {MaxDevicesPerShare} devices");
        }
        if (request.Remark is { } remark && (remark.Length > MaxRemarkLength || remark.Any(char.IsControl)))
        {
            throw ServiceException.BadRequest("bad-remark", $"the remark is at most {MaxRemarkLength} characters without control characters");
        }
        if (request.ExpiresAt is { } exp && exp.ToUnixTimeMilliseconds() <= now)
        {
            throw ServiceException.BadRequest("bad-expiry", "expiresAt must be in the future");
        }
        var result = new List<ShareDeviceView>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < devices.Count; i++)
        {
            var d = devices[i];
            if (string.IsNullOrEmpty(d.DeviceId) || !seen.Add(d.DeviceId))
            {
                throw ServiceException.BadRequest("bad-device", $"devices[{i}]: a deviceId is required, once per share");
            }
            var known = await tx.ScalarAsync("SELECT d.channels FROM devices d JOIN gateways g ON g.id = d.gateway_id WHERE d.device_id = @d AND g.owner_id = @o",
                ("@d", d.DeviceId), ("@o", owner.Id));
            if (known is not string channelText)
            {
                throw ServiceException.Forbidden("not-your-device", $"devices[{i}]: you do not own a device \"{LogText.Escape(d.DeviceId, 128)}\"");
            }
            var has = Channels.Parse(channelText);
            foreach (var c in d.Channels ?? [])
            {
                if (c < 1 || c > GrantsJson.MaxChannel || (has.Count > 0 && !has.Contains(c)))
                {
                    throw ServiceException.BadRequest("no-such-channel", $"devices[{i}]: the device has no channel {c} (it has {(has.Count == 0 ? "none listed" : Channels.Format(has))})");
                }
            }
            var privileges = Privilege.None;
            foreach (var p in d.Privileges ?? [])
            {
                if (!PrivilegeNames.TryParse(p, out var one))
                {
                    throw ServiceException.BadRequest("bad-privilege", $"devices[{i}]: \"{LogText.Escape(p, 64)}\" is not one of liveView, playback, alarmPush, twoWayAudio, ptz");
                }
                privileges |= one;
            }
            if (privileges == Privilege.None)
            {
                throw ServiceException.BadRequest("bad-privilege", $"devices[{i}]: at least one privilege (liveView, playback, alarmPush, twoWayAudio, ptz)");
            }
            result.Add(new ShareDeviceView(d.DeviceId, (d.Channels ?? []).Distinct().Order().ToList(), privileges.ToContractNames().ToList()));
        }
        return result;
    }

    private static async Task InsertDevicesAsync(DbTx tx, long row, IEnumerable<ShareDeviceView> devices)
    {
        foreach (var d in devices)
        {
            var privileges = Privilege.None;
            foreach (var p in d.Privileges)
            {
                PrivilegeNames.TryParse(p, out var one);
                privileges |= one;
            }
            await tx.ExecuteAsync("INSERT INTO share_devices (share_row, device_id, channels, privileges) VALUES (@row, @d, @c, @p)",
                ("@row", row), ("@d", d.DeviceId), ("@c", Channels.Format(d.Channels)), ("@p", (int)privileges));
        }
    }

    private async Task RebuildAsync(DbTx tx, IEnumerable<string> deviceIds)
    {
        foreach (var g in await GrantsBuilder.GatewaysOfAsync(tx, deviceIds))
        {
            await grants.RebuildAsync(tx, g);
        }
    }

    private static Task SetStateAsync(DbTx tx, string shareId, string state)
        => tx.ExecuteAsync("UPDATE shares SET state = @s WHERE share_id = @id", ("@s", state), ("@id", shareId));

    private static async Task<ShareRow?> ReadAsync(DbTx tx, string shareId)
    {
        var row = await tx.SingleAsync("SELECT id, share_id, owner_id, recipient, state, version FROM shares WHERE share_id = @id" + tx.Dialect.ForUpdate,
            r => new ShareRow(r.GetInt64(0), r.GetString(1), r.GetInt64(2), r.GetString(3), r.GetString(4), r.GetInt64(5), []), ("@id", shareId));
        return row is null ? null : row with { Devices = await DevicesAsync(tx, row.Row) };
    }

    private static Task<List<ShareDeviceView>> DevicesAsync(DbTx tx, long row)
        => tx.QueryAsync("SELECT device_id, channels, privileges FROM share_devices WHERE share_row = @row ORDER BY device_id",
            r => new ShareDeviceView(r.GetString(0), Channels.Parse(r.GetString(1)), ((Privilege)r.GetInt32(2)).ToContractNames().ToList()), ("@row", row));

    /// <summary>The devices of a share with their names (for views; the change paths compare without them).</summary>
    private static async Task<List<ShareDeviceView>> NamedDevicesAsync(DbTx tx, long row)
    {
        var devices = await DevicesAsync(tx, row);
        var names = await DeviceNames.LoadAsync(tx, "d.device_id IN (SELECT device_id FROM share_devices WHERE share_row = @row)", ("@row", row));
        for (var i = 0; i < devices.Count; i++)
        {
            if (names.TryGetValue(devices[i].DeviceId, out var n))
            {
                devices[i] = devices[i] with { Name = n.DeviceName(), ChannelNames = DeviceNames.ChannelNamesOf(n) };
            }
        }
        return devices;
    }

    private static async Task<ShareView?> LoadAsync(DbTx tx, string shareId)
        => (await QueryViewsAsync(tx, "s.share_id = @who", ("@who", shareId))).FirstOrDefault();

    private Task<IReadOnlyList<ShareView>> ListAsync(string where, (string, object?) who, CancellationToken ct)
        => db.InTransactionAsync<IReadOnlyList<ShareView>>(async tx => await QueryViewsAsync(tx, where, who), ct);

    private static async Task<List<ShareView>> QueryViewsAsync(DbTx tx, string where, (string, object?) who)
    {
        var rows = await tx.QueryAsync($"""
            SELECT s.id, s.share_id, a.address, s.recipient, s.remark, s.state, s.expires_at, s.version, s.created_at, s.updated_at
            FROM shares s JOIN accounts a ON a.id = s.owner_id WHERE {where} ORDER BY s.created_at DESC, s.share_id
            """, r => (Row: r.GetInt64(0), View: new ShareView(r.GetString(1), r.GetString(2), r.GetString(3), r.IsDBNull(4) ? null : r.GetString(4), r.GetString(5),
                r.IsDBNull(6) ? null : DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(6)), r.GetInt64(7),
                DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(8)), DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(9)), [])), who);
        var views = new List<ShareView>(rows.Count);
        foreach (var (row, view) in rows)
        {
            views.Add(view with { Devices = await NamedDevicesAsync(tx, row) });
        }
        return views;
    }

    private static void RequireOwner(AccountRef owner, ShareRow s)
    {
        if (s.OwnerId != owner.Id)
        {
            throw NotYours();
        }
    }

    private static void RequireNotDeleted(ShareRow s)
    {
        if (s.State == ShareStates.Deleted)
        {
            throw ServiceException.Conflict("share-deleted", "the share was deleted");
        }
    }

    private static ServiceException NotYours() => ServiceException.Forbidden("not-your-share", "this share is neither yours nor shared with you in a way that allows this");

    private long Now => time.GetUtcNow().ToUnixTimeMilliseconds();
}
