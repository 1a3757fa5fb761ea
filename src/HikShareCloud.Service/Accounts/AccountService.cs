using System.Security.Cryptography;
using System.Text;
using HikShareCloud.Service.Storage;
using HikShareGateway.Access.Accounts;
using HikShareGateway.Access.Jose;
using Microsoft.Extensions.Logging;

namespace HikShareCloud.Service.Accounts;

/// <summary>A signed-in, verified account.</summary>
public sealed record AccountRef(long Id, string Address);

/// <summary>
/// Sign-up, verification of the address by a one-time code, sign-in with throttling, sessions.
/// Every state a second instance needs (codes, attempts, failures, sessions) is in the database;
/// secrets are stored only as hashes (PBKDF2 for passwords, SHA-256 for codes and session tokens).
/// </summary>
public sealed partial class AccountService(ServiceDb db, ServiceOptions options, PasswordHasher hasher, IVerificationSender sender, TimeProvider time, ILogger<AccountService> logger)
{
    public const string SessionKindCookie = "cookie";
    public const string SessionKindApi = "api";

    public static string Normalize(string? raw)
        => AccountName.TryNormalize(raw, out var n, out var why) ? n : throw ServiceException.BadRequest("bad-account", $"not an account: {why} (an e-mail address or a +E.164 phone number)");

    /// <summary>Creates the account (unverified) and sends a code; signing up again before verifying replaces the password and the code.</summary>
    public async Task<long> SignUpAsync(string? rawAddress, string? password, CancellationToken ct = default)
    {
        var address = Normalize(rawAddress);
        if (password is null || password.Length < options.MinimumPasswordLength)
        {
            throw ServiceException.BadRequest("weak-password", $"the password needs at least {options.MinimumPasswordLength} characters");
        }
        var hash = hasher.Hash(password);
        var code = NewCode();
        var now = Now;
        long id;
        try
        {
            id = await SignUpRowsAsync(address, hash, code, now, ct);
        }
        catch (Exception e) when (db.Dialect.IsUniqueViolation(e))
        {
            // Two sign-ups of one address at the same moment (two instances): the loser is told, not failed.
            throw ServiceException.Conflict("account-exists", "an account with this address was just created; verify it or sign in");
        }
        await sender.SendAsync(address, code, ct);
        LogSignedUp(logger, id);
        return id;
    }

    private Task<long> SignUpRowsAsync(string address, string hash, string code, long now, CancellationToken ct)
        => db.InTransactionAsync(async tx =>
        {
            var existing = await tx.QueryAsync("SELECT id, verified_at FROM accounts WHERE address = @a", r => (Id: r.GetInt64(0), Verified: !r.IsDBNull(1)), ("@a", address));
            long accountId;
            if (existing.Count == 1)
            {
                if (existing[0].Verified)
                {
                    throw ServiceException.Conflict("account-exists", "an account with this address exists; sign in instead");
                }
                accountId = existing[0].Id;
                await tx.ExecuteAsync("UPDATE accounts SET password_hash = @h WHERE id = @id", ("@h", hash), ("@id", accountId));
            }
            else
            {
                accountId = (await tx.LongAsync("INSERT INTO accounts (address, password_hash, created_at) VALUES (@a, @h, @now) RETURNING id",
                    ("@a", address), ("@h", hash), ("@now", now)))!.Value;
            }
            await StoreCodeAsync(tx, accountId, code, now);
            return accountId;
        }, ct);

    /// <summary>The demo's accounts (<see cref="ServiceOptions.DemoAccounts"/>): created verified unless the address exists.</summary>
    public async Task EnsureDemoAccountAsync(string rawAddress, string password, CancellationToken ct = default)
    {
        var address = Normalize(rawAddress);
        var hash = hasher.Hash(password);
        var now = Now;
        await db.InTransactionAsync(async tx =>
        {
            if (await tx.ScalarAsync("SELECT id FROM accounts WHERE address = @a", ("@a", address)) is null)
            {
                await tx.ExecuteAsync("INSERT INTO accounts (address, password_hash, verified_at, created_at) VALUES (@a, @h, @now, @now)", ("@a", address), ("@h", hash), ("@now", now));
            }
        }, ct);
    }

    /// <summary>A fresh code for an unverified account (the old one stops working).</summary>
    public async Task ResendCodeAsync(string? rawAddress, CancellationToken ct = default)
    {
        var address = Normalize(rawAddress);
        var code = NewCode();
        await db.InTransactionAsync(async tx =>
        {
            var id = await tx.LongAsync("SELECT id FROM accounts WHERE address = @a AND verified_at IS NULL", ("@a", address))
                ?? throw ServiceException.NotFound("no-unverified-account", "no account waiting for verification has this address");
            await StoreCodeAsync(tx, id, code, Now);
        }, ct);
        await sender.SendAsync(address, code, ct);
    }

    private enum VerifyOutcome { Verified, Wrong, Expired, NoCode }

    /// <summary>
    /// Checks the code; a wrong one counts an attempt (committed even though the call fails), the
    /// last allowed wrong attempt destroys the code.
    /// </summary>
    public async Task VerifyAsync(string? rawAddress, string? code, CancellationToken ct = default)
    {
        var address = Normalize(rawAddress);
        var now = Now;
        var outcome = await db.InTransactionAsync(async tx =>
        {
            var row = await tx.SingleAsync("""
                SELECT a.id, c.salt, c.code_hash, c.expires_at, c.attempts FROM accounts a
                JOIN verification_codes c ON c.account_id = a.id WHERE a.address = @a AND a.verified_at IS NULL
                """, r => new { Id = r.GetInt64(0), Salt = (byte[])r.GetValue(1), Hash = (byte[])r.GetValue(2), Expires = r.GetInt64(3), Attempts = r.GetInt32(4) }, ("@a", address));
            if (row is null)
            {
                return VerifyOutcome.NoCode;
            }
            if (row.Expires <= now || row.Attempts >= options.VerificationMaxAttempts)
            {
                await tx.ExecuteAsync("DELETE FROM verification_codes WHERE account_id = @id", ("@id", row.Id));
                return VerifyOutcome.Expired;
            }
            if (code is null || !CryptographicOperations.FixedTimeEquals(HashCode(row.Salt, code), row.Hash))
            {
                await tx.ExecuteAsync("UPDATE verification_codes SET attempts = attempts + 1 WHERE account_id = @id", ("@id", row.Id));
                return VerifyOutcome.Wrong;
            }
            await tx.ExecuteAsync("DELETE FROM verification_codes WHERE account_id = @id", ("@id", row.Id));
            await tx.ExecuteAsync("UPDATE accounts SET verified_at = @now WHERE id = @id", ("@now", now), ("@id", row.Id));
            return VerifyOutcome.Verified;
        }, ct);
        switch (outcome)
        {
            case VerifyOutcome.NoCode: throw ServiceException.NotFound("no-code", "no verification is pending for this address");
            case VerifyOutcome.Expired: throw ServiceException.BadRequest("code-expired", "the code expired or was tried too often; ask for a new one");
            case VerifyOutcome.Wrong: throw ServiceException.BadRequest("wrong-code", "the code is wrong");
        }
    }

    /// <summary>
    /// Password sign-in. More than <see cref="ServiceOptions.LoginFailureLimit"/> failures in the
    /// window for this account or from this remote address refuse further tries without checking
    /// (429); an unknown account costs the same PBKDF2 time as a known one.
    /// </summary>
    /// <param name="remote">The client's <c>ip:port</c> (or ip); throttled per IP address.</param>
    public async Task<(AccountRef Account, string Token)> SignInAsync(string? rawAddress, string? password, string remote, string kind = SessionKindApi, CancellationToken ct = default)
    {
        var address = Normalize(rawAddress);
        var now = Now;
        var windowStart = now - options.LoginWindowMinutes * 60_000L;
        var accountKey = "account:" + address;
        // Per address, not per connection: the port changes with every attempt.
        var remoteKey = "remote:" + (System.Net.IPEndPoint.TryParse(remote, out var ep) ? ep.Address.ToString() : remote);
        var found = await db.InTransactionAsync(async tx =>
        {
            var failures = await tx.LongAsync("SELECT COUNT(*) FROM login_failures WHERE throttle_key IN (@k1, @k2) AND at > @since GROUP BY throttle_key ORDER BY COUNT(*) DESC LIMIT 1",
                ("@k1", accountKey), ("@k2", remoteKey), ("@since", windowStart));
            if (failures >= options.LoginFailureLimit)
            {
                return null;
            }
            return await tx.SingleAsync("SELECT id, password_hash, verified_at FROM accounts WHERE address = @a",
                r => new { Id = r.GetInt64(0), Hash = r.GetString(1), Verified = !r.IsDBNull(2) }, ("@a", address)) ?? new { Id = 0L, Hash = "", Verified = false };
        }, ct);
        if (found is null)
        {
            LogThrottled(logger, LogText.Escape(remote));
            throw ServiceException.TooMany("too many failed sign-ins for this account or from this address; try again later");
        }
        var ok = found.Id != 0 && PasswordHasher.Verify(password ?? "", found.Hash);
        if (found.Id == 0)
        {
            hasher.Burn(password ?? "");
        }
        if (!ok)
        {
            await db.InTransactionAsync(async tx =>
            {
                await tx.ExecuteAsync("INSERT INTO login_failures (throttle_key, at) VALUES (@k, @now)", ("@k", accountKey), ("@now", now));
                await tx.ExecuteAsync("INSERT INTO login_failures (throttle_key, at) VALUES (@k, @now)", ("@k", remoteKey), ("@now", now));
                await tx.ExecuteAsync("DELETE FROM login_failures WHERE at <= @since", ("@since", windowStart));
            }, ct);
            LogSignInFailed(logger, LogText.Escape(remote));
            throw ServiceException.Unauthorized("wrong address or password");
        }
        if (!found.Verified)
        {
            throw ServiceException.Forbidden("unverified", "verify the address with the code sent to it first");
        }
        var token = await db.InTransactionAsync(async tx =>
        {
            await tx.ExecuteAsync("DELETE FROM login_failures WHERE throttle_key = @k", ("@k", accountKey));
            return await CreateSessionAsync(tx, found.Id, kind, now);
        }, ct);
        return (new AccountRef(found.Id, address), token);
    }

    /// <summary>The account of a session token, or null (unknown, expired).</summary>
    public Task<AccountRef?> AuthenticateAsync(string? token, CancellationToken ct = default)
    {
        if (string.IsNullOrEmpty(token) || token.Length > 200)
        {
            return Task.FromResult<AccountRef?>(null);
        }
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(token));
        return db.InTransactionAsync(tx => tx.SingleAsync("""
            SELECT a.id, a.address FROM sessions s JOIN accounts a ON a.id = s.account_id
            WHERE s.token_hash = @h AND s.expires_at > @now AND a.verified_at IS NOT NULL
            """, r => new AccountRef(r.GetInt64(0), r.GetString(1)), ("@h", hash), ("@now", Now)), ct);
    }

    /// <summary>
    /// The portal's CSRF protection for cookie sessions: one token at a time per session, stored
    /// hashed. <paramref name="presented"/> null issues the first; otherwise the presented token is
    /// consumed (compare-and-set in one UPDATE) and its successor returned, so a replayed or another
    /// session's token is refused (403).
    /// </summary>
    public async Task<string> RotateCsrfAsync(string sessionToken, string? presented, CancellationToken ct = default)
    {
        var next = "csrf_" + Base64UrlStrict.Encode(RandomNumberGenerator.GetBytes(24));
        var sessionHash = SHA256.HashData(Encoding.UTF8.GetBytes(sessionToken));
        var changed = await db.InTransactionAsync(tx => presented is null
            ? tx.ExecuteAsync("UPDATE sessions SET csrf_hash = @n WHERE token_hash = @h AND kind = 'cookie' AND csrf_hash IS NULL",
                ("@n", SHA256.HashData(Encoding.UTF8.GetBytes(next))), ("@h", sessionHash))
            : tx.ExecuteAsync("UPDATE sessions SET csrf_hash = @n WHERE token_hash = @h AND kind = 'cookie' AND csrf_hash = @old",
                ("@n", SHA256.HashData(Encoding.UTF8.GetBytes(next))), ("@h", sessionHash), ("@old", SHA256.HashData(Encoding.UTF8.GetBytes(presented)))), ct);
        return changed == 1 ? next : throw ServiceException.Forbidden("csrf-token", "a cookie session needs the current X-CSRF-Token on every change (each token works once; use the one the last answer gave)");
    }

    /// <summary>A new CSRF token for a cookie session whatever it held (the portal page was loaded again); the old one stops working.</summary>
    public async Task<string> ResetCsrfAsync(string sessionToken, CancellationToken ct = default)
    {
        var next = "csrf_" + Base64UrlStrict.Encode(RandomNumberGenerator.GetBytes(24));
        var changed = await db.InTransactionAsync(tx => tx.ExecuteAsync("UPDATE sessions SET csrf_hash = @n WHERE token_hash = @h AND kind = 'cookie'",
            ("@n", SHA256.HashData(Encoding.UTF8.GetBytes(next))), ("@h", SHA256.HashData(Encoding.UTF8.GetBytes(sessionToken)))), ct);
        return changed == 1 ? next : throw ServiceException.Unauthorized("no portal session; sign in");
    }

    public Task SignOutAsync(string token, CancellationToken ct = default)
        => db.InTransactionAsync(tx => tx.ExecuteAsync("DELETE FROM sessions WHERE token_hash = @h", ("@h", SHA256.HashData(Encoding.UTF8.GetBytes(token)))), ct);

    private async Task<string> CreateSessionAsync(DbTx tx, long accountId, string kind, long now)
    {
        var token = "hs_" + Base64UrlStrict.Encode(RandomNumberGenerator.GetBytes(32));
        await tx.ExecuteAsync("INSERT INTO sessions (token_hash, account_id, kind, created_at, expires_at) VALUES (@h, @id, @k, @now, @exp)",
            ("@h", SHA256.HashData(Encoding.UTF8.GetBytes(token))), ("@id", accountId), ("@k", kind), ("@now", now), ("@exp", now + options.SessionHours * 3_600_000L));
        return token;
    }

    private async Task StoreCodeAsync(DbTx tx, long accountId, string code, long now)
    {
        var salt = RandomNumberGenerator.GetBytes(16);
        await tx.ExecuteAsync("DELETE FROM verification_codes WHERE account_id = @id", ("@id", accountId));
        await tx.ExecuteAsync("INSERT INTO verification_codes (account_id, salt, code_hash, expires_at, attempts) VALUES (@id, @s, @h, @exp, 0)",
            ("@id", accountId), ("@s", salt), ("@h", HashCode(salt, code)), ("@exp", now + options.VerificationCodeMinutes * 60_000L));
    }

    private static byte[] HashCode(byte[] salt, string code) => SHA256.HashData([.. salt, .. Encoding.UTF8.GetBytes(code.Trim())]);

    private static string NewCode() => RandomNumberGenerator.GetInt32(0, 1_000_000).ToString("D6", System.Globalization.CultureInfo.InvariantCulture);

    private long Now => time.GetUtcNow().ToUnixTimeMilliseconds();

    [LoggerMessage(EventId = 7001, Level = LogLevel.Information, Message = "Account {AccountId} signed up; verification code sent")]
    private static partial void LogSignedUp(ILogger logger, long accountId);

    [LoggerMessage(EventId = 7002, Level = LogLevel.Information, Message = "Sign-in failed from {Remote}")]
    private static partial void LogSignInFailed(ILogger logger, string remote);

    [LoggerMessage(EventId = 7003, Level = LogLevel.Warning, Message = "Sign-in refused from {Remote}: too many failures recently")]
    private static partial void LogThrottled(ILogger logger, string remote);
}
