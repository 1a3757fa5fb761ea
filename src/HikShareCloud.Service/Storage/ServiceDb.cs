using System.Data;
using System.Data.Common;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace HikShareCloud.Service.Storage;

public enum DbKind { Sqlite, Postgres }

/// <summary>
/// The one door to the database: opens connections of the configured provider and runs units of work
/// in a transaction. Everything the SQL of the two engines does differently lives in
/// <see cref="SqlDialect"/>; repositories write plain SQL with <c>@name</c> parameters that both
/// Microsoft.Data.Sqlite and Npgsql accept.
/// </summary>
public sealed class ServiceDb
{
    private readonly string _connectionString;

    private ServiceDb(DbKind kind, string connectionString)
    {
        Kind = kind;
        Dialect = SqlDialect.For(kind);
        _connectionString = connectionString;
    }

    public DbKind Kind { get; }
    public SqlDialect Dialect { get; }

    /// <summary>An SQLite file (created if missing). WAL so that readers do not wait for the writer.</summary>
    public static ServiceDb Sqlite(string file)
        => new(DbKind.Sqlite, new SqliteConnectionStringBuilder { DataSource = file, Mode = SqliteOpenMode.ReadWriteCreate, Pooling = true, DefaultTimeout = 30 }.ToString());

    public static ServiceDb Postgres(string connectionString) => new(DbKind.Postgres, connectionString);

    public async Task<DbConnection> OpenAsync(CancellationToken ct = default)
    {
        DbConnection c = Kind == DbKind.Sqlite ? new SqliteConnection(_connectionString) : new NpgsqlConnection(_connectionString);
        try
        {
            await c.OpenAsync(ct);
            if (Kind == DbKind.Sqlite)
            {
                await using var pragma = c.CreateCommand();
                pragma.CommandText = "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON; PRAGMA busy_timeout=30000;";
                await pragma.ExecuteNonQueryAsync(ct);
            }
            return c;
        }
        catch
        {
            await c.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Runs <paramref name="work"/> in one transaction: committed when it returns, rolled back when it
    /// throws (a <see cref="ServiceException"/> included, so bad input changes nothing). SQLite takes
    /// the write lock at BEGIN (IMMEDIATE), PostgreSQL runs READ COMMITTED and the work locks the rows
    /// it changes (version columns, <c>UPDATE … RETURNING</c>).
    /// </summary>
    public async Task<T> InTransactionAsync<T>(Func<DbTx, Task<T>> work, CancellationToken ct = default)
    {
        await using var c = await OpenAsync(ct);
        await using var tx = Kind == DbKind.Sqlite
            ? ((SqliteConnection)c).BeginTransaction(deferred: false)
            : await c.BeginTransactionAsync(IsolationLevel.ReadCommitted, ct);
        var result = await work(new DbTx(c, tx, Dialect));
        await tx.CommitAsync(ct);
        return result;
    }

    public Task InTransactionAsync(Func<DbTx, Task> work, CancellationToken ct = default)
        => InTransactionAsync<bool>(async t => { await work(t); return true; }, ct);
}

/// <summary>A connection inside its transaction, with small helpers for parameterised SQL.</summary>
public sealed class DbTx(DbConnection connection, DbTransaction transaction, SqlDialect dialect)
{
    public SqlDialect Dialect { get; } = dialect;

    public DbCommand Command(string sql, params (string Name, object? Value)[] parameters)
    {
        var cmd = connection.CreateCommand();
        cmd.Transaction = transaction;
        cmd.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            var p = cmd.CreateParameter();
            p.ParameterName = name;
            p.Value = value ?? DBNull.Value;
            cmd.Parameters.Add(p);
        }
        return cmd;
    }

    public async Task<int> ExecuteAsync(string sql, params (string, object?)[] parameters)
    {
        await using var cmd = Command(sql, parameters);
        return await cmd.ExecuteNonQueryAsync();
    }

    public async Task<object?> ScalarAsync(string sql, params (string, object?)[] parameters)
    {
        await using var cmd = Command(sql, parameters);
        var v = await cmd.ExecuteScalarAsync();
        return v is DBNull ? null : v;
    }

    public async Task<long?> LongAsync(string sql, params (string, object?)[] parameters)
        => await ScalarAsync(sql, parameters) is { } v ? Convert.ToInt64(v, System.Globalization.CultureInfo.InvariantCulture) : null;

    public async Task<List<T>> QueryAsync<T>(string sql, Func<DbDataReader, T> map, params (string, object?)[] parameters)
    {
        await using var cmd = Command(sql, parameters);
        await using var r = await cmd.ExecuteReaderAsync();
        var list = new List<T>();
        while (await r.ReadAsync())
        {
            list.Add(map(r));
        }
        return list;
    }

    public async Task<T?> SingleAsync<T>(string sql, Func<DbDataReader, T> map, params (string, object?)[] parameters) where T : class
    {
        var rows = await QueryAsync(sql, map, parameters);
        return rows.Count == 0 ? null : rows[0];
    }
}

/// <summary>What differs between the engines, and nothing else. Times are stored as Unix milliseconds (BIGINT) on both.</summary>
public sealed class SqlDialect
{
    private static readonly SqlDialect SqliteDialect = new(DbKind.Sqlite, "INTEGER PRIMARY KEY AUTOINCREMENT", "BLOB");
    private static readonly SqlDialect PostgresDialect = new(DbKind.Postgres, "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY", "BYTEA");

    private SqlDialect(DbKind kind, string identity, string blob)
    {
        Kind = kind;
        Identity = identity;
        Blob = blob;
    }

    public DbKind Kind { get; }
    /// <summary>An auto-numbered 64-bit primary key column type.</summary>
    public string Identity { get; }
    public string Blob { get; }

    public static SqlDialect For(DbKind kind) => kind == DbKind.Sqlite ? SqliteDialect : PostgresDialect;

    /// <summary>Replaces <c>{identity}</c> and <c>{blob}</c> in a migration script.</summary>
    public string Expand(string sql) => sql.Replace("{identity}", Identity, StringComparison.Ordinal).Replace("{blob}", Blob, StringComparison.Ordinal);

    /// <summary>Serialises schema changes of several instances starting at once (SQLite: BEGIN IMMEDIATE already did).</summary>
    public string? MigrationLock => Kind == DbKind.Postgres ? "SELECT pg_advisory_xact_lock(7368616572)" : null;

    /// <summary>Appended to a SELECT that reads a row the transaction will change (SQLite already holds the write lock).</summary>
    public string ForUpdate => Kind == DbKind.Postgres ? " FOR UPDATE" : "";

    public bool IsUniqueViolation(Exception e) => e switch
    {
        SqliteException s => s.SqliteErrorCode == 19, // SQLITE_CONSTRAINT
        PostgresException p => p.SqlState == PostgresErrorCodes.UniqueViolation,
        _ => false,
    };
}
