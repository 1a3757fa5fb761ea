using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;

namespace HikShareCloud.Service;

/// <summary>
/// <c>hikshare-cloud serve --config FILE</c>: the <c>Sharing</c> section of FILE (JSON), each key
/// overridable from the environment as <c>HIKSHARE_Sharing__Key</c>. Exit codes: 0 stopped, 78 (EX_CONFIG)
/// configuration errors (all listed), 1 failure at start.
/// </summary>
public static class ServeCommand
{
    public const int ExitConfig = 78;

    public static async Task<int> RunAsync(string configFile, TextWriter stdout, TextWriter stderr, CancellationToken ct = default)
    {
        if (!LoadOptions(configFile, out var options, out var errors))
        {
            await WriteErrorsAsync(stderr, errors);
            return ExitConfig;
        }
        WebApplication app;
        try
        {
            app = await SharingServer.BuildAsync(options!, ct: ct);
        }
        catch (SharingStartupException e)
        {
            await WriteErrorsAsync(stderr, e.Errors);
            return ExitConfig;
        }
        await using (app)
        {
            await stdout.WriteLineAsync($"hikshare-cloud serve: sharing service on {options!.Listen}, broker {options.Broker}, " +
                                        (options.PostgresConnectionString is null ? $"SQLite {Path.Combine(options.StateDirectory, "sharing.db")}" : "PostgreSQL"));
            await app.StartAsync(ct);
            await app.WaitForShutdownAsync(ct); // SIGTERM / Ctrl-C, or ct
            await app.StopAsync(CancellationToken.None);
        }
        return 0;
    }

    /// <summary>Reads and binds the options; false with every problem found (file, JSON, types, then <see cref="ServiceOptions.Validate"/>).</summary>
    public static bool LoadOptions(string configFile, out ServiceOptions? options, out IReadOnlyList<string> errors)
    {
        options = null;
        if (!File.Exists(configFile))
        {
            errors = [$"--config {configFile} does not exist"];
            return false;
        }
        try
        {
            var config = new ConfigurationBuilder()
                .AddJsonFile(Path.GetFullPath(configFile), optional: false, reloadOnChange: false)
                .AddEnvironmentVariables("HIKSHARE_")
                .Build();
            options = config.GetSection("Sharing").Get<ServiceOptions>(o => o.ErrorOnUnknownConfiguration = true) ?? new ServiceOptions();
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or InvalidDataException or System.Text.Json.JsonException)
        {
            errors = [$"{configFile}: {e.Message}"];
            return false;
        }
        errors = options.Validate();
        return errors.Count == 0;
    }

    private static async Task WriteErrorsAsync(TextWriter stderr, IReadOnlyList<string> errors)
    {
        await stderr.WriteLineAsync($"hikshare-cloud serve: {errors.Count} configuration error(s):");
        foreach (var e in errors)
        {
            await stderr.WriteLineAsync("  " + e);
        }
    }
}
