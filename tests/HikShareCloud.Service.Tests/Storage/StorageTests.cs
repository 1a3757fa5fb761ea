using HikShareCloud.Service.Storage;
using HikShareCloud.Service.Tests.Infrastructure;

namespace HikShareCloud.Service.Tests.Storage;

/// <summary>The storage contract, run on SQLite and on PostgreSQL (the two subclasses below).</summary>
public abstract class StorageTests(IDbFactory factory)
{
    [Fact]
    public async Task Migrations_FreshDatabase_AllAppliedInOrderAndRecorded()
    {
        var db = await factory.CreateAsync();
        var applied = await MigrationRunner.ApplyAsync(db, TimeProvider.System);
        Assert.Equal(Migrations.All.Select(m => m.Number), applied);
        var recorded = await db.InTransactionAsync(tx => tx.QueryAsync("SELECT number FROM schema_migrations ORDER BY number", r => Convert.ToInt32(r.GetValue(0))));
        Assert.Equal(applied, recorded);
    }

    [Fact]
    public async Task Migrations_SecondStart_AppliesNothing()
    {
        var db = await factory.CreateAsync();
        await MigrationRunner.ApplyAsync(db, TimeProvider.System);
        Assert.Empty(await MigrationRunner.ApplyAsync(db, TimeProvider.System));
    }

    [Fact]
    public async Task Migrations_TwoInstancesStartingAtOnce_EachStepAppliedOnce()
    {
        var db = await factory.CreateAsync();
        var both = await Task.WhenAll(MigrationRunner.ApplyAsync(db, TimeProvider.System), MigrationRunner.ApplyAsync(db, TimeProvider.System));
        Assert.Equal(Migrations.All.Count, both[0].Count + both[1].Count);
    }

    [Fact]
    public async Task Migrations_FailingStep_RollsBackTheWholeRun()
    {
        var db = await factory.CreateAsync();
        var broken = Migrations.All.Append(new Migration(99, "broken", "CREATE TABLE ok_before (x INTEGER); THIS IS NOT SQL")).ToList();
        await Assert.ThrowsAnyAsync<Exception>(() => MigrationRunner.ApplyAsync(db, TimeProvider.System, broken));
        // Nothing of the failed run stayed: the real migrations apply afterwards as on a fresh database.
        Assert.Equal(Migrations.All.Select(m => m.Number), await MigrationRunner.ApplyAsync(db, TimeProvider.System));
    }

    [Fact]
    public async Task Transaction_ServiceExceptionInside_ChangesNothing()
    {
        var db = await factory.CreateAsync();
        await MigrationRunner.ApplyAsync(db, TimeProvider.System);
        await Assert.ThrowsAsync<ServiceException>(() => db.InTransactionAsync(async tx =>
        {
            await tx.ExecuteAsync("INSERT INTO accounts (address, password_hash, created_at) VALUES ('a@example.com', 'x', 1)");
            throw ServiceException.BadRequest("test", "refused after the insert");
        }));
        Assert.Equal(0L, await db.InTransactionAsync(tx => tx.LongAsync("SELECT COUNT(*) FROM accounts")));
    }

    [Fact]
    public async Task UniqueViolation_RecognisedOnThisEngine()
    {
        var db = await factory.CreateAsync();
        await MigrationRunner.ApplyAsync(db, TimeProvider.System);
        await db.InTransactionAsync(tx => tx.ExecuteAsync("INSERT INTO accounts (address, password_hash, created_at) VALUES ('a@example.com', 'x', 1)"));
        var e = await Assert.ThrowsAnyAsync<Exception>(() => db.InTransactionAsync(tx => tx.ExecuteAsync("INSERT INTO accounts (address, password_hash, created_at) VALUES ('a@example.com', 'y', 2)")));
        Assert.True(db.Dialect.IsUniqueViolation(e), e.ToString());
    }

    [Fact]
    public async Task Blob_RoundTripsBytesExactly()
    {
        var db = await factory.CreateAsync();
        await MigrationRunner.ApplyAsync(db, TimeProvider.System);
        byte[] bytes = [0, 1, 2, 255, 128, 0];
        await db.InTransactionAsync(async tx =>
        {
            var id = await tx.LongAsync("INSERT INTO accounts (address, password_hash, created_at) VALUES ('a@example.com', 'x', 1) RETURNING id");
            await tx.ExecuteAsync("INSERT INTO verification_codes (account_id, salt, code_hash, expires_at, attempts) VALUES (@id, @s, @s, 5, 0)", ("@id", id), ("@s", bytes));
        });
        var back = await db.InTransactionAsync(tx => tx.ScalarAsync("SELECT salt FROM verification_codes"));
        Assert.Equal(bytes, (byte[])back!);
    }
}

[Trait("Category", "Unit")]
public sealed class StorageTestsOnSqlite() : StorageTests(new SqliteDbFactory());

[Trait("Category", "Integration")]
[Collection(PostgresCollection.Name)]
public sealed class StorageTestsOnPostgres(PostgresServer server) : StorageTests(new PostgresDbFactory(server));
