using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using HikShareGateway.Access.Accounts;
using HikShareGateway.Core.Access;

namespace HikShareGateway.Access.Grants;

/// <summary>
/// Parses and writes the grant payloads of contract §3. Parsing is strict: a member of the wrong type,
/// an unknown state or privilege, an invalid account, a channel out of range or a duplicate id makes
/// the whole message invalid (the error names the JSON path), so a half-understood grant never applies.
/// Unknown extra members are ignored (forward compatibility).
/// </summary>
public static class GrantsJson
{
    public const string SnapshotType = "grants.snapshot";
    public const string DeltaType = "grants.delta";
    /// <summary>The largest channel number accepted (Hikvision NVRs go to 256 "linked cameras").</summary>
    public const int MaxChannel = 1024;

    private sealed class GrantFormatException(string message) : Exception(message);

    /// <param name="requireType">False for the hikshare-cloud description files, which have no <c>typ</c>/<c>issuedAt</c>.</param>
    public static bool TryParseSnapshot(ReadOnlySpan<byte> json, out GrantsSnapshot? snapshot, out string? error, bool requireType = true)
        => TryParse(json, r => ReadSnapshot(r, requireType), out snapshot, out error);

    public static bool TryParseDelta(ReadOnlySpan<byte> json, out GrantsDelta? delta, out string? error, bool requireType = true)
        => TryParse(json, r => ReadDelta(r, requireType), out delta, out error);

    /// <summary>Parses <paramref name="json"/> (depth ≤ 16) and reads its root object; any fault is one error naming the path, never an exception.</summary>
    private static bool TryParse<T>(ReadOnlySpan<byte> json, Func<JsonElement, T> read, out T? value, out string? error) where T : class
    {
        value = null;
        error = null;
        try
        {
            using var doc = JsonDocument.Parse(json.ToArray(), new JsonDocumentOptions { MaxDepth = 16 });
            value = read(Object(doc.RootElement, "$"));
            return true;
        }
        catch (GrantFormatException e)
        {
            error = e.Message;
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException) // invalid UTF-8 inside a string throws the latter
        {
            error = "not JSON: " + FirstLine(e.Message);
        }
        return false;
    }

    private static GrantsSnapshot ReadSnapshot(JsonElement r, bool requireType)
    {
        CheckType(r, SnapshotType, requireType);
        var devices = Array(r, "devices", "$", required: true).Select((e, i) => Device(e, $"$.devices[{i}]")).ToList();
        var shares = Array(r, "shares", "$", required: true).Select((e, i) => ParseShare(e, $"$.shares[{i}]")).ToList();
        Unique(devices.Select(d => d.DeviceId), "$.devices", "deviceId");
        Unique(shares.Select(s => s.ShareId), "$.shares", "shareId");
        return new GrantsSnapshot(GatewayId(r), Version(r, "version"), OptionalTime(r, "issuedAt", "$"), devices, shares);
    }

    private static GrantsDelta ReadDelta(JsonElement r, bool requireType)
    {
        CheckType(r, DeltaType, requireType);
        var upsertDevices = Array(r, "upsertDevices", "$", false).Select((e, i) => Device(e, $"$.upsertDevices[{i}]")).ToList();
        var removeDevices = Array(r, "removeDevices", "$", false).Select((e, i) => Id(e, $"$.removeDevices[{i}]")).ToList();
        var upsertShares = Array(r, "upsertShares", "$", false).Select((e, i) => ParseShare(e, $"$.upsertShares[{i}]")).ToList();
        var removeShares = Array(r, "removeShares", "$", false).Select((e, i) => Id(e, $"$.removeShares[{i}]")).ToList();
        Unique(upsertDevices.Select(d => d.DeviceId), "$.upsertDevices", "deviceId");
        Unique(upsertShares.Select(s => s.ShareId), "$.upsertShares", "shareId");
        var baseVersion = Version(r, "baseVersion", allowZero: true);
        var version = Version(r, "version");
        if (version <= baseVersion)
        {
            throw new GrantFormatException($"$.version {version} must be greater than $.baseVersion {baseVersion}");
        }
        return new GrantsDelta(GatewayId(r), baseVersion, version, OptionalTime(r, "issuedAt", "$"),
            upsertDevices, removeDevices, upsertShares, removeShares);
    }

    // :: Writing (hikshare-cloud, demo, persistence tests).

    public static byte[] Write(GrantsSnapshot s) => JsonSerializer.SerializeToUtf8Bytes(new JsonObject
    {
        ["typ"] = SnapshotType,
        ["gatewayId"] = s.GatewayId,
        ["version"] = s.Version,
        ["issuedAt"] = Time(s.IssuedAt),
        ["devices"] = new JsonArray(s.Devices.Select(DeviceNode).ToArray()),
        ["shares"] = new JsonArray(s.Shares.Select(ShareNode).ToArray()),
    }, AccessJson.Default.JsonObject);

    public static byte[] Write(GrantsDelta d) => JsonSerializer.SerializeToUtf8Bytes(new JsonObject
    {
        ["typ"] = DeltaType,
        ["gatewayId"] = d.GatewayId,
        ["baseVersion"] = d.BaseVersion,
        ["version"] = d.Version,
        ["issuedAt"] = Time(d.IssuedAt),
        ["upsertDevices"] = new JsonArray(d.UpsertDevices.Select(DeviceNode).ToArray()),
        ["removeDevices"] = new JsonArray(d.RemoveDevices.Select(x => (JsonNode?)JsonValue.Create(x)).ToArray()),
        ["upsertShares"] = new JsonArray(d.UpsertShares.Select(ShareNode).ToArray()),
        ["removeShares"] = new JsonArray(d.RemoveShares.Select(x => (JsonNode?)JsonValue.Create(x)).ToArray()),
    }, AccessJson.Default.JsonObject);

    private static JsonNode? DeviceNode(GrantDevice d)
    {
        var node = new JsonObject { ["deviceId"] = d.DeviceId, ["owner"] = d.Owner };
        // Optional members (docs/contract.md, "Device and channel names"): left out when empty, so grants without names are byte-identical to v1.1's.
        if (d.Name is not null)
        {
            node["name"] = d.Name;
        }
        if (d.ChannelNames.Count > 0)
        {
            var names = new JsonObject();
            foreach (var (channel, name) in d.ChannelNames.OrderBy(x => x.Key))
            {
                names[channel.ToString(CultureInfo.InvariantCulture)] = name;
            }
            node["channelNames"] = names;
        }
        return node;
    }

    private static JsonNode? ShareNode(Share s) => new JsonObject
    {
        ["shareId"] = s.ShareId,
        ["owner"] = s.Owner,
        ["recipient"] = s.Recipient,
        ["remark"] = s.Remark,
        ["state"] = s.State.ToString().ToLowerInvariant(),
        ["expiresAt"] = Time(s.ExpiresAt),
        ["devices"] = new JsonArray(s.Devices.Select(d => (JsonNode?)new JsonObject
        {
            ["deviceId"] = d.DeviceId,
            ["channels"] = new JsonArray(d.Channels.Select(c => (JsonNode?)JsonValue.Create(c)).ToArray()),
            ["privileges"] = new JsonArray(d.Privileges.ToContractNames().Select(p => (JsonNode?)JsonValue.Create(p)).ToArray()),
        }).ToArray()),
    };

    private static string? Time(DateTimeOffset? t) => t?.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'", CultureInfo.InvariantCulture);

    // :: Reading helpers; each error names the JSON path.

    private static void CheckType(JsonElement r, string expected, bool required)
    {
        if (r.TryGetProperty("typ", out var t))
        {
            if (t.ValueKind != JsonValueKind.String || t.GetString() != expected)
            {
                throw new GrantFormatException($"$.typ must be \"{expected}\"");
            }
        }
        else if (required)
        {
            throw new GrantFormatException($"$.typ is missing (expected \"{expected}\")");
        }
    }

    private static string GatewayId(JsonElement r) => String(r, "gatewayId", "$", required: true)!;

    private static long Version(JsonElement r, string name, bool allowZero = false)
    {
        if (!r.TryGetProperty(name, out var v) || v.ValueKind != JsonValueKind.Number || !v.TryGetInt64(out var n) || n < (allowZero ? 0 : 1))
        {
            throw new GrantFormatException($"$.{name} must be a {(allowZero ? "non-negative" : "positive")} integer");
        }
        return n;
    }

    private static JsonElement Object(JsonElement e, string path)
        => e.ValueKind == JsonValueKind.Object ? e : throw new GrantFormatException($"{path} must be a JSON object");

    private static IEnumerable<JsonElement> Array(JsonElement r, string name, string path, bool required)
    {
        if (!r.TryGetProperty(name, out var a) || a.ValueKind == JsonValueKind.Null)
        {
            return required ? throw new GrantFormatException($"{path}.{name} is required (an array)") : [];
        }
        if (a.ValueKind != JsonValueKind.Array)
        {
            throw new GrantFormatException($"{path}.{name} must be an array");
        }
        return a.EnumerateArray().ToList();
    }

    private static string? String(JsonElement r, string name, string path, bool required)
    {
        if (!r.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            return required ? throw new GrantFormatException($"{path}.{name} is required") : null;
        }
        if (v.ValueKind != JsonValueKind.String)
        {
            throw new GrantFormatException($"{path}.{name} must be a string");
        }
        var s = v.GetString()!;
        if (required && s.Length == 0)
        {
            throw new GrantFormatException($"{path}.{name} must not be empty");
        }
        return s;
    }

    private static string Id(JsonElement e, string path)
    {
        if (e.ValueKind != JsonValueKind.String || string.IsNullOrEmpty(e.GetString()))
        {
            throw new GrantFormatException($"{path} must be a non-empty string");
        }
        return e.GetString()!;
    }

    private static string Account(JsonElement r, string name, string path)
    {
        var raw = String(r, name, path, required: true);
        return AccountName.TryNormalize(raw, out var n, out var why) ? n : throw new GrantFormatException($"{path}.{name}: {why}");
    }

    private static DateTimeOffset? OptionalTime(JsonElement r, string name, string path)
    {
        var s = String(r, name, path, required: false);
        if (s is null)
        {
            return null;
        }
        // RFC 3339 date-time; an offset is required so that the instant is unambiguous.
        if (!DateTimeOffset.TryParse(s, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal, out var t)
            || !(s.EndsWith('Z') || s.EndsWith('z') || s.LastIndexOfAny(['+', '-']) > 10))
        {
            throw new GrantFormatException($"{path}.{name} must be an RFC 3339 date-time with Z or an offset");
        }
        return t.ToUniversalTime();
    }

    private static GrantDevice Device(JsonElement e, string path)
    {
        Object(e, path);
        return new GrantDevice(String(e, "deviceId", path, true)!, Account(e, "owner", path))
        {
            Name = DisplayName(String(e, "name", path, false), $"{path}.name"),
            ChannelNames = ChannelNames(e, path),
        };
    }

    /// <summary>The longest device or channel name accepted (characters).</summary>
    public const int MaxNameLength = 64;

    /// <summary>A name is shown to people: 1-64 characters, no control characters; blank means none.</summary>
    private static string? DisplayName(string? name, string path)
    {
        if (name is null || name.Trim().Length == 0)
        {
            return null;
        }
        if (name.Length > MaxNameLength || name.Any(char.IsControl))
        {
            throw new GrantFormatException($"{path} must be at most {MaxNameLength} characters without control characters");
        }
        return name.Trim();
    }

    private static IReadOnlyDictionary<int, string> ChannelNames(JsonElement e, string path)
    {
        if (!e.TryGetProperty("channelNames", out var o) || o.ValueKind == JsonValueKind.Null)
        {
            return new Dictionary<int, string>();
        }
        if (o.ValueKind != JsonValueKind.Object)
        {
            throw new GrantFormatException($"{path}.channelNames must be an object");
        }
        var names = new Dictionary<int, string>();
        foreach (var p in o.EnumerateObject())
        {
            if (!int.TryParse(p.Name, NumberStyles.None, CultureInfo.InvariantCulture, out var channel) || channel is < 1 or > MaxChannel)
            {
                throw new GrantFormatException($"{path}.channelNames: \"{p.Name}\" is not a channel number 1-{MaxChannel}");
            }
            if (p.Value.ValueKind != JsonValueKind.String)
            {
                throw new GrantFormatException($"{path}.channelNames.{channel} must be a string");
            }
            if (DisplayName(p.Value.GetString(), $"{path}.channelNames.{channel}") is { } name)
            {
                names[channel] = name;
            }
        }
        return names;
    }

    private static Share ParseShare(JsonElement e, string path)
    {
        Object(e, path);
        var stateName = String(e, "state", path, true);
        var state = stateName switch
        {
            "pending" => ShareState.Pending,
            "accepted" => ShareState.Accepted,
            "rejected" => ShareState.Rejected,
            "deleted" => ShareState.Deleted,
            _ => throw new GrantFormatException($"{path}.state \"{stateName}\" is not pending, accepted, rejected or deleted"),
        };
        var devices = Array(e, "devices", path, true).Select((d, i) => ParseShareDevice(d, $"{path}.devices[{i}]")).ToList();
        return new Share(
            String(e, "shareId", path, true)!,
            Account(e, "owner", path),
            Account(e, "recipient", path),
            String(e, "remark", path, false),
            state,
            OptionalTime(e, "expiresAt", path),
            devices);
    }

    private static ShareDevice ParseShareDevice(JsonElement e, string path)
    {
        Object(e, path);
        var channels = new List<int>();
        foreach (var c in Array(e, "channels", path, false))
        {
            if (c.ValueKind != JsonValueKind.Number || !c.TryGetInt32(out var ch) || ch < 1 || ch > MaxChannel)
            {
                throw new GrantFormatException($"{path}.channels: each channel is an integer 1-{MaxChannel}");
            }
            channels.Add(ch);
        }
        var privileges = Privilege.None;
        foreach (var p in Array(e, "privileges", path, true))
        {
            if (p.ValueKind != JsonValueKind.String || !PrivilegeNames.TryParse(p.GetString(), out var one))
            {
                throw new GrantFormatException($"{path}.privileges: each is one of liveView, playback, alarmPush, twoWayAudio, ptz");
            }
            privileges |= one;
        }
        return new ShareDevice(String(e, "deviceId", path, true)!, channels.Distinct().Order().ToList(), privileges);
    }

    private static void Unique(IEnumerable<string> ids, string path, string name)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var id in ids)
        {
            if (!seen.Add(id))
            {
                throw new GrantFormatException($"{path}: {name} \"{id}\" appears twice");
            }
        }
    }

    private static string FirstLine(string s) => s.Split('\n')[0].Split(" LineNumber")[0];
}
