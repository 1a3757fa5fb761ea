using HikShareCloud.Service.Storage;
using Microsoft.Data.Sqlite;

namespace HikShareCloud.Service.Tests.Infrastructure;

/// <summary>Where a test's database comes from: a fresh SQLite file, or a fresh database on the shared PostgreSQL.</summary>
public interface IDbFactory
{
    Task<ServiceDb> CreateAsync();
}

public sealed class SqliteDbFactory : IDbFactory, IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "hikshare-sqlite-" + Guid.NewGuid().ToString("N")[..10]);

    public Task<ServiceDb> CreateAsync()
    {
        Directory.CreateDirectory(_dir);
        return Task.FromResult(ServiceDb.Sqlite(Path.Combine(_dir, Guid.NewGuid().ToString("N")[..8] + ".db")));
    }

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
            // Best effort.
        }
    }
}

public sealed class PostgresDbFactory(PostgresServer server) : IDbFactory
{
    public async Task<ServiceDb> CreateAsync() => ServiceDb.Postgres(await server.CreateDatabaseAsync());
}
