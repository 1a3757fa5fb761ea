using System.Text.Json;
using HikShareCloud.Service.Accounts;
using HikShareCloud.Service.Storage;

namespace HikShareCloud.Service.Audit;

/// <summary>One viewer decision a gateway reported (contract §8), as its owner sees it (the viewer's address left out).</summary>
public sealed record AuditView(string GatewayId, DateTimeOffset? At, DateTimeOffset ReceivedAt, string? SessionId, string? Account, string? DeviceId,
    int? Channel, string? Action, string? Decision, string? Reason);

/// <summary>
/// The gateways' audit events, kept verbatim by the MQTT link (<c>audit_events</c>), read back for the owner of the
/// gateway that sent them: who watched which camera, when, and what the gateway decided.
/// </summary>
public sealed class AuditService(ServiceDb db)
{
    public const int MaxLimit = 1000;

    /// <param name="before">Only events received before this (paging backwards); null = the newest.</param>
    public Task<IReadOnlyList<AuditView>> ForOwnerAsync(AccountRef owner, int limit, DateTimeOffset? before, string? account, string? deviceId, CancellationToken ct = default)
        => db.InTransactionAsync<IReadOnlyList<AuditView>>(async tx =>
        {
            var rows = await tx.QueryAsync($"""
                SELECT a.gateway_id, a.received_at, a.event FROM audit_events a JOIN gateways g ON g.id = a.gateway_id
                WHERE g.owner_id = @o AND a.received_at < @before ORDER BY a.received_at DESC, a.id DESC LIMIT {Math.Clamp(limit, 1, MaxLimit) * (account is null && deviceId is null ? 1 : 10)}
                """, r => (Gateway: r.GetString(0), Received: r.GetInt64(1), Event: r.GetString(2)),
                ("@o", owner.Id), ("@before", (before ?? DateTimeOffset.MaxValue.AddDays(-1)).ToUnixTimeMilliseconds()));
            var list = new List<AuditView>(rows.Count);
            foreach (var row in rows)
            {
                var v = Parse(row.Gateway, row.Received, row.Event);
                if (v is not null && (account is null || v.Account == account) && (deviceId is null || v.DeviceId == deviceId))
                {
                    list.Add(v);
                }
                if (list.Count == limit)
                {
                    break;
                }
            }
            return list;
        }, ct);

    private static AuditView? Parse(string gatewayId, long receivedAt, string json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            var e = doc.RootElement;
            string? S(string name) => e.TryGetProperty(name, out var p) && p.ValueKind == JsonValueKind.String ? p.GetString() : null;
            DateTimeOffset? at = DateTimeOffset.TryParse(S("at"), System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal, out var t) ? t : null;
            int? channel = e.TryGetProperty("channel", out var c) && c.TryGetInt32(out var n) ? n : null;
            return new AuditView(gatewayId, at, DateTimeOffset.FromUnixTimeMilliseconds(receivedAt), S("sessionId"), S("account"), S("deviceId"), channel, S("action"), S("decision"), S("reason"));
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
