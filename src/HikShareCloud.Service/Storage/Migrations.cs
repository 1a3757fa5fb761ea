namespace HikShareCloud.Service.Storage;

/// <summary>A numbered schema step. Numbers only grow; a released step is never edited, a new one is added.</summary>
public sealed record Migration(int Number, string Name, string Sql);

/// <summary>
/// The schema, as numbered scripts applied at start in one transaction (<see cref="MigrationRunner"/>).
/// Times are Unix milliseconds; accounts are stored normalised (contract §1); shares are never
/// deleted as rows (state <c>deleted</c>), which is what the owner's history of accounts reads.
/// </summary>
public static class Migrations
{
    public static readonly IReadOnlyList<Migration> All =
    [
        new(1, "accounts", """
            CREATE TABLE accounts (
              id {identity},
              address TEXT NOT NULL UNIQUE,
              password_hash TEXT NOT NULL,
              verified_at BIGINT NULL,
              created_at BIGINT NOT NULL);
            CREATE TABLE verification_codes (
              account_id BIGINT NOT NULL PRIMARY KEY REFERENCES accounts(id),
              salt {blob} NOT NULL,
              code_hash {blob} NOT NULL,
              expires_at BIGINT NOT NULL,
              attempts INTEGER NOT NULL);
            CREATE TABLE login_failures (
              id {identity},
              throttle_key TEXT NOT NULL,
              at BIGINT NOT NULL);
            CREATE INDEX login_failures_key_at ON login_failures(throttle_key, at);
            CREATE TABLE sessions (
              token_hash {blob} NOT NULL PRIMARY KEY,
              account_id BIGINT NOT NULL REFERENCES accounts(id),
              kind TEXT NOT NULL,
              created_at BIGINT NOT NULL,
              expires_at BIGINT NOT NULL);
            """),
        new(2, "gateways", """
            CREATE TABLE gateways (
              id TEXT NOT NULL PRIMARY KEY,
              owner_id BIGINT NULL REFERENCES accounts(id),
              binding_salt {blob} NULL,
              binding_hash {blob} NULL,
              inventory_at BIGINT NULL,
              grants_version BIGINT NOT NULL DEFAULT 0);
            CREATE TABLE devices (
              device_id TEXT NOT NULL PRIMARY KEY,
              gateway_id TEXT NOT NULL REFERENCES gateways(id),
              channels TEXT NOT NULL,
              model TEXT NULL,
              online INTEGER NOT NULL);
            """),
        new(3, "shares", """
            CREATE TABLE shares (
              id {identity},
              share_id TEXT NOT NULL UNIQUE,
              owner_id BIGINT NOT NULL REFERENCES accounts(id),
              recipient TEXT NOT NULL,
              remark TEXT NULL,
              state TEXT NOT NULL,
              expires_at BIGINT NULL,
              version BIGINT NOT NULL,
              created_at BIGINT NOT NULL,
              updated_at BIGINT NOT NULL);
            CREATE INDEX shares_owner ON shares(owner_id);
            CREATE INDEX shares_recipient ON shares(recipient);
            CREATE TABLE share_devices (
              share_row BIGINT NOT NULL REFERENCES shares(id),
              device_id TEXT NOT NULL,
              channels TEXT NOT NULL,
              privileges INTEGER NOT NULL,
              PRIMARY KEY (share_row, device_id));
            """),
        new(4, "grants", """
            CREATE TABLE grants_versions (
              gateway_id TEXT NOT NULL REFERENCES gateways(id),
              version BIGINT NOT NULL,
              snapshot_payload TEXT NOT NULL,
              snapshot_jws TEXT NOT NULL,
              delta_jws TEXT NULL,
              created_at BIGINT NOT NULL,
              published_at BIGINT NULL,
              PRIMARY KEY (gateway_id, version));
            CREATE INDEX grants_unpublished ON grants_versions(published_at);
            """),
        new(5, "audit", """
            CREATE TABLE audit_events (
              id {identity},
              gateway_id TEXT NOT NULL,
              received_at BIGINT NOT NULL,
              event TEXT NOT NULL);
            CREATE INDEX audit_events_gateway ON audit_events(gateway_id, received_at);
            """),
        new(6, "csrf", """
            ALTER TABLE sessions ADD COLUMN csrf_hash {blob} NULL;
            """),
        new(7, "binding-expiry", """
            ALTER TABLE gateways ADD COLUMN binding_expires_at BIGINT NULL;
            """),
        // Names: what the gateway's inventory says (replaced with every inventory), and the owner's own
        // (kept per owner and device, so that they survive the device going out of and back into the
        // inventory, and never pass to another owner). Channel 0 is the device itself.
        new(8, "names", """
            ALTER TABLE devices ADD COLUMN reported_names TEXT NULL;
            CREATE TABLE device_names (
              owner_id BIGINT NOT NULL REFERENCES accounts(id),
              device_id TEXT NOT NULL,
              channel INTEGER NOT NULL,
              name TEXT NOT NULL,
              PRIMARY KEY (owner_id, device_id, channel));
            """),
        // What each channel offers (streams, ptz, backchannel, playback: contract §6), as the inventory said, for the
        // devices list of the gateway's web viewer served by the service (Portal/GatewayAppEndpoints).
        new(9, "capabilities", """
            ALTER TABLE devices ADD COLUMN capabilities TEXT NULL;
            """),
    ];
}

/// <summary>Applies the migrations not yet recorded in <c>schema_migrations</c>, all in one transaction.</summary>
public static class MigrationRunner
{
    /// <returns>The numbers applied now (empty when the schema was current).</returns>
    public static Task<IReadOnlyList<int>> ApplyAsync(ServiceDb db, TimeProvider time, IReadOnlyList<Migration>? migrations = null, CancellationToken ct = default)
        => db.InTransactionAsync<IReadOnlyList<int>>(async tx =>
        {
            if (tx.Dialect.MigrationLock is { } lockSql)
            {
                await tx.ScalarAsync(lockSql);
            }
            await tx.ExecuteAsync("CREATE TABLE IF NOT EXISTS schema_migrations (number INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)");
            var done = await tx.QueryAsync("SELECT number FROM schema_migrations", r => Convert.ToInt32(r.GetValue(0), System.Globalization.CultureInfo.InvariantCulture));
            var applied = new List<int>();
            foreach (var m in (migrations ?? Migrations.All).OrderBy(m => m.Number))
            {
                if (done.Contains(m.Number))
                {
                    continue;
                }
                await tx.ExecuteAsync(tx.Dialect.Expand(m.Sql));
                await tx.ExecuteAsync("INSERT INTO schema_migrations (number, name, applied_at) VALUES (@n, @name, @at)",
                    ("@n", m.Number), ("@name", m.Name), ("@at", time.GetUtcNow().ToUnixTimeMilliseconds()));
                applied.Add(m.Number);
            }
            return applied;
        }, ct);
}
