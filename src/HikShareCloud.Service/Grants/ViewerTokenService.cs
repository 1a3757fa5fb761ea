using System.Security.Cryptography;
using HikShareCloud.Service.Accounts;
using HikShareCloud.Service.Storage;
using HikShareGateway.Access.Tokens;

namespace HikShareCloud.Service.Grants;

public sealed record IssuedToken(string Token, string GatewayId, DateTimeOffset ExpiresAt);

/// <summary>
/// Viewer tokens (contract §4) for a signed-in account, short-lived, <c>aud</c> = the one gateway,
/// minted with the gateway's own token code (<see cref="ViewerTokens.Mint"/>). Issued only for a
/// gateway the account may use: it owns it, or holds an accepted, unexpired share of one of its
/// devices. The token says who; the gateway still checks every session against the grants.
/// </summary>
public sealed class ViewerTokenService(ServiceDb db, SigningKeys keys, ServiceOptions options, TimeProvider time)
{
    public async Task<IssuedToken> IssueAsync(AccountRef account, string gatewayId, CancellationToken ct = default)
    {
        var now = time.GetUtcNow();
        var may = await db.InTransactionAsync(async tx =>
            await tx.ScalarAsync("SELECT 1 FROM gateways WHERE id = @g AND owner_id = @a", ("@g", gatewayId), ("@a", account.Id)) is not null
            || await tx.ScalarAsync("""
                SELECT 1 FROM shares s JOIN share_devices sd ON sd.share_row = s.id JOIN devices d ON d.device_id = sd.device_id
                JOIN gateways g ON g.id = d.gateway_id
                WHERE d.gateway_id = @g AND s.recipient = @r AND s.state = 'accepted' AND g.owner_id = s.owner_id
                  AND (s.expires_at IS NULL OR s.expires_at > @now)
                LIMIT 1
                """, ("@g", gatewayId), ("@r", account.Address), ("@now", now.ToUnixTimeMilliseconds())) is not null, ct);
        if (!may)
        {
            throw ServiceException.Forbidden("no-access-to-gateway", "you neither own this gateway nor hold an accepted share of one of its devices");
        }
        var ttl = TimeSpan.FromMinutes(options.ViewerTokenMinutes);
        var jti = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12));
        return new IssuedToken(ViewerTokens.Mint(keys.Active, account.Address, [gatewayId], ttl, now, jti), gatewayId, now + ttl);
    }
}
