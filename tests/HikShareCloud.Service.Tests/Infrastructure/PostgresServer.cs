using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace HikShareCloud.Service.Tests.Infrastructure;

/// <summary>
/// A real PostgreSQL (Debian's <c>postgresql</c>) in a temporary directory on a free loopback port:
/// initdb + pg_ctl, run as the <c>postgres</c> system user when the tests run as root (initdb refuses
/// root). One server per test run (<see cref="PostgresCollection"/>); each test takes a fresh database.
/// </summary>
public sealed class PostgresServer : IAsyncLifetime
{
    private string _dir = "";
    private string _bin = "";
    private bool _asPostgresUser;
    private int _databases;

    public int Port { get; private set; }

    public async Task InitializeAsync()
    {
        _bin = FindBin();
        _asPostgresUser = Environment.UserName == "root";
        _dir = Path.Combine(Path.GetTempPath(), "hikshare-pg-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(_dir);
        if (_asPostgresUser)
        {
            await RunAsync("chown", $"postgres {_dir}", asPostgres: false);
        }
        Port = FreePort();
        await RunAsync(Path.Combine(_bin, "initdb"), $"-D {_dir}/data -U postgres --auth=trust -E UTF8 --no-sync", asPostgres: _asPostgresUser);
        await RunAsync(Path.Combine(_bin, "pg_ctl"),
            $"-D {_dir}/data -l {_dir}/log -w -t 60 -o \"-p {Port} -k {_dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200\" start", asPostgres: _asPostgresUser);
    }

    /// <summary>A connection string to a new, empty database.</summary>
    public async Task<string> CreateDatabaseAsync()
    {
        var name = $"t{Interlocked.Increment(ref _databases)}_{Guid.NewGuid().ToString("N")[..8]}";
        await using (var c = new NpgsqlConnection(ConnectionString("postgres")))
        {
            await c.OpenAsync();
            await using var cmd = c.CreateCommand();
            cmd.CommandText = $"CREATE DATABASE {name}";
            await cmd.ExecuteNonQueryAsync();
        }
        return ConnectionString(name);
    }

    private string ConnectionString(string db) => $"Host=127.0.0.1;Port={Port};Username=postgres;Database={db};Pooling=true;Maximum Pool Size=20";

    public async Task DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        try
        {
            await RunAsync(Path.Combine(_bin, "pg_ctl"), $"-D {_dir}/data -m immediate -w stop", asPostgres: _asPostgresUser);
        }
        finally
        {
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

    private static string FindBin()
    {
        var root = "/usr/lib/postgresql";
        var versions = Directory.Exists(root) ? Directory.GetDirectories(root).Where(d => File.Exists(Path.Combine(d, "bin", "initdb"))).Order().ToList() : [];
        return versions.Count > 0
            ? Path.Combine(versions[^1], "bin")
            : throw new InvalidOperationException("PostgreSQL is not installed: these tests need Debian's postgresql package (apt-get install postgresql, or run scripts/prereqs.sh).");
    }

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    private async Task RunAsync(string file, string args, bool asPostgres)
    {
        var psi = asPostgres ? new ProcessStartInfo("runuser", $"-u postgres -- {file} {args}") : new ProcessStartInfo(file, args);
        psi.RedirectStandardError = true;
        psi.RedirectStandardOutput = true;
        psi.UseShellExecute = false;
        psi.WorkingDirectory = _dir;
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        var @out = p.StandardOutput.ReadToEndAsync();
        await p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(120));
        if (p.ExitCode != 0)
        {
            var log = File.Exists(Path.Combine(_dir, "log")) ? await File.ReadAllTextAsync(Path.Combine(_dir, "log")) : "";
            throw new InvalidOperationException($"{file} {args} failed ({p.ExitCode}): {await err}{await @out}\n{log}");
        }
    }
}

[CollectionDefinition(Name)]
public sealed class PostgresCollection : ICollectionFixture<PostgresServer>
{
    public const string Name = "postgres";
}
