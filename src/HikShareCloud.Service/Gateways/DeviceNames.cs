using System.Globalization;
using System.Text;
using HikShareCloud.Service.Storage;
using HikShareGateway.Access.Grants;

namespace HikShareCloud.Service.Gateways;

/// <summary>
/// Device and channel names. Two sources: what the gateway's inventory reports (<c>devices.reported_names</c>,
/// replaced with each inventory) and what the owner typed (<c>device_names</c>, kept per owner and device).
/// The owner's wins. Key 0 is the device itself, 1… its channels.
/// </summary>
public static class DeviceNames
{
    /// <summary>The longest name accepted, the same limit as the gateway's grants parser.</summary>
    public const int MaxLength = GrantsJson.MaxNameLength;

    /// <summary>A name as typed by an owner: trimmed; null for blank (= back to the gateway's name).</summary>
    public static string? Validate(string? name, string what)
    {
        if (name is null || name.Trim().Length == 0)
        {
            return null;
        }
        var trimmed = name.Trim();
        if (trimmed.Length > MaxLength)
        {
            throw ServiceException.BadRequest("bad-name", $"{what}: at most {MaxLength} characters (it has {trimmed.Length})");
        }
        if (trimmed.Any(char.IsControl))
        {
            throw ServiceException.BadRequest("bad-name", $"{what}: control characters (line breaks, tabs…) are not allowed in a name");
        }
        return trimmed;
    }

    /// <summary>A name from a gateway's inventory: control characters dropped, capped, blank = none (never refuses the inventory).</summary>
    public static string? FromInventory(string? name)
    {
        if (name is null)
        {
            return null;
        }
        var sb = new StringBuilder(Math.Min(name.Length, MaxLength));
        foreach (var c in name)
        {
            if (!char.IsControl(c))
            {
                sb.Append(c);
            }
        }
        var s = sb.ToString().Trim();
        return s.Length == 0 ? null : s.Length > MaxLength ? s[..MaxLength].TrimEnd() : s;
    }

    /// <summary>Stored form: one <c>key TAB name</c> per line (names hold no control characters).</summary>
    public static string? Format(IReadOnlyDictionary<int, string> names)
        => names.Count == 0 ? null : string.Join('\n', names.OrderBy(n => n.Key).Select(n => n.Key.ToString(CultureInfo.InvariantCulture) + "\t" + n.Value));

    public static Dictionary<int, string> Parse(string? stored)
    {
        var names = new Dictionary<int, string>();
        if (string.IsNullOrEmpty(stored))
        {
            return names;
        }
        foreach (var line in stored.Split('\n'))
        {
            var tab = line.IndexOf('\t');
            if (tab > 0 && int.TryParse(line.AsSpan(0, tab), NumberStyles.None, CultureInfo.InvariantCulture, out var key))
            {
                names[key] = line[(tab + 1)..];
            }
        }
        return names;
    }

    /// <summary>
    /// The names in force for the devices the query's rows name, as seen by each device's current owner:
    /// reported names overlaid with the owner's. <paramref name="where"/> filters <c>devices d JOIN gateways g</c>.
    /// </summary>
    public static Task<Dictionary<string, Dictionary<int, string>>> LoadAsync(DbTx tx, string where, params (string, object?)[] parameters)
        => LoadAsync(tx, reported: true, where, parameters);

    /// <summary>Only the owner's names (what the grants carry: the gateway knows its own).</summary>
    public static Task<Dictionary<string, Dictionary<int, string>>> LoadOwnersAsync(DbTx tx, string where, params (string, object?)[] parameters)
        => LoadAsync(tx, reported: false, where, parameters);

    private static async Task<Dictionary<string, Dictionary<int, string>>> LoadAsync(DbTx tx, bool reported, string where, (string, object?)[] parameters)
    {
        var result = new Dictionary<string, Dictionary<int, string>>(StringComparer.Ordinal);
        foreach (var (device, stored) in await tx.QueryAsync($"SELECT d.device_id, d.reported_names FROM devices d JOIN gateways g ON g.id = d.gateway_id WHERE {where}",
            r => (r.GetString(0), r.IsDBNull(1) ? null : r.GetString(1)), parameters))
        {
            result[device] = reported ? Parse(stored) : [];
        }
        foreach (var (device, channel, name) in await tx.QueryAsync($"""
            SELECT n.device_id, n.channel, n.name FROM device_names n JOIN devices d ON d.device_id = n.device_id
            JOIN gateways g ON g.id = d.gateway_id AND g.owner_id = n.owner_id WHERE {where}
            """, r => (r.GetString(0), Convert.ToInt32(r.GetValue(1), CultureInfo.InvariantCulture), r.GetString(2)), parameters))
        {
            if (result.TryGetValue(device, out var names))
            {
                names[channel] = name;
            }
        }
        return result;
    }

    /// <summary>The device's name (key 0), or null.</summary>
    public static string? DeviceName(this Dictionary<int, string>? names) => names is not null && names.TryGetValue(0, out var n) ? n : null;

    /// <summary>The channel names only (keys 1…).</summary>
    public static IReadOnlyDictionary<int, string> ChannelNamesOf(Dictionary<int, string>? names)
    {
        var channels = new Dictionary<int, string>();
        if (names is not null)
        {
            foreach (var (key, name) in names)
            {
                if (key > 0)
                {
                    channels[key] = name;
                }
            }
        }
        return channels;
    }
}
