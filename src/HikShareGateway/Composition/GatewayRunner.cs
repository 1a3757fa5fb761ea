using System.Reflection;
using HikShareGateway.Core.Configuration;
using Serilog;
using Serilog.Events;

namespace HikShareGateway.Composition;

/// <summary>Builds the daemon from configuration, validates everything at once, runs until SIGTERM/Ctrl-C.</summary>
public static class GatewayRunner
{
    public static string SoftwareVersion { get; } =
        typeof(GatewayRunner).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0.0.0";

    public static async Task<int> RunAsync(CommandLine cli, bool demo)
    {
        IConfigurationRoot configuration;
        try
        {
            configuration = GatewayConfiguration.Build(cli.ConfigPath, demo);
        }
        catch (GatewayConfigurationException e)
        {
            await Console.Error.WriteLineAsync($"hikshare-gateway: configuration error: {e.Message}");
            return ExitCodes.Config;
        }

        Log.Logger = CreateLogger(configuration);
        try
        {
            var context = new GatewayContext(demo, cli, DateTimeOffset.UtcNow);
            var errors = new List<string>();
            var app = Features.Build(configuration, context, errors);
            if (errors.Count > 0 || app is null)
            {
                await Console.Error.WriteLineAsync($"hikshare-gateway: {errors.Count} configuration error(s){(cli.ConfigPath is null ? "" : " in " + cli.ConfigPath)}:");
                foreach (var e in errors)
                {
                    await Console.Error.WriteLineAsync("  - " + e);
                }
                return ExitCodes.Config;
            }
            await app.RunAsync();
            return ExitCodes.Ok;
        }
        catch (Exception e) when (Unwrap(e) is { } reason)
        {
            // Something the installer can fix: one clear line, no stack trace.
            Log.Fatal("Cannot start: {Reason}", reason);
            await Console.Error.WriteLineAsync("hikshare-gateway: cannot start: " + reason);
            return ExitCodes.Unavailable;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            Log.Fatal(e, "The gateway stopped on an unexpected error");
            return ExitCodes.Failure;
        }
        finally
        {
            await Log.CloseAndFlushAsync();
        }
    }

    /// <summary>A start-up failure with an installer's fix (ours, or Kestrel's "address already in use"), or null.</summary>
    private static string? Unwrap(Exception e) => e switch
    {
        StartupException s => s.Message,
        AggregateException { InnerExceptions.Count: 1 } a => Unwrap(a.InnerExceptions[0]),
        IOException io when io.InnerException is Microsoft.AspNetCore.Connections.AddressInUseException
            => io.Message + " (Http:Port or Admin:Port is used by another program: pick a free port)",
        _ => null,
    };

    /// <summary>
    /// Structured console logs. Under systemd (JOURNAL_STREAM set) timestamps are left to journald and
    /// levels are prefixed the sd-daemon way so journald shows the right priority.
    /// </summary>
    internal static Serilog.ILogger CreateLogger(IConfiguration configuration)
    {
        var template = OutputTemplate(underJournal: Environment.GetEnvironmentVariable("JOURNAL_STREAM") is not null);
        var config = new LoggerConfiguration()
            .MinimumLevel.Information()
            .MinimumLevel.Override("Microsoft", LogEventLevel.Warning)
            .MinimumLevel.Override("Microsoft.Hosting.Lifetime", LogEventLevel.Information)
            // A failed start is rethrown and reported once by RunAsync (one line for an installer's mistake).
            .MinimumLevel.Override("Microsoft.Extensions.Hosting.Internal.Host", LogEventLevel.Fatal)
            .MinimumLevel.Override("System", LogEventLevel.Warning)
            .Enrich.FromLogContext()
            .Enrich.With<SdPriorityEnricher>();
        ApplyLevels(config, configuration.GetSection("Logging:Serilog:MinimumLevel"));
        config = config
            // Last, so that values added by the enrichers above are escaped too (issue: log forging).
            .Enrich.With<LogEscapingEnricher>()
            .WriteTo.Console(outputTemplate: template, standardErrorFromLevel: null);
        return config.CreateLogger();
    }

    /// <summary>
    /// <c>Logging:Serilog:MinimumLevel</c>, read in code (Serilog.Settings.Configuration finds sinks and enrichers by
    /// reflection, which NativeAOT cannot): either a level (<c>"Debug"</c>) or <c>{"Default": level, "Override":
    /// {"Source.Context": level}}</c>. An unknown level name is ignored.
    /// </summary>
    internal static void ApplyLevels(LoggerConfiguration config, IConfigurationSection section)
    {
        if (TryLevel(section.Value, out var scalar))
        {
            config.MinimumLevel.Is(scalar);
        }
        if (TryLevel(section["Default"], out var level))
        {
            config.MinimumLevel.Is(level);
        }
        foreach (var child in section.GetSection("Override").GetChildren())
        {
            if (TryLevel(child.Value, out var o))
            {
                config.MinimumLevel.Override(child.Key, o);
            }
        }
    }

    private static bool TryLevel(string? value, out LogEventLevel level)
    {
        level = default;
        return !string.IsNullOrWhiteSpace(value) && Enum.TryParse(value.Trim(), ignoreCase: true, out level) && Enum.IsDefined(level);
    }

    /// <summary>The console line: exceptions through <see cref="LogEscapingEnricher"/>, never the raw <c>{Exception}</c>.</summary>
    internal static string OutputTemplate(bool underJournal) => underJournal
        ? "{SdPriority}{SourceContext}: {Message:lj}{NewLine}{EscapedException:l}"
        : "[{Timestamp:HH:mm:ss.fff} {Level:u3}] {SourceContext}: {Message:lj}{NewLine}{EscapedException:l}";

    private sealed class SdPriorityEnricher : Serilog.Core.ILogEventEnricher
    {
        public void Enrich(LogEvent logEvent, Serilog.Core.ILogEventPropertyFactory factory)
        {
            // sd-daemon(3) priority prefixes: <3> err, <4> warning, <6> info, <7> debug.
            var p = logEvent.Level switch
            {
                LogEventLevel.Fatal => "<2>",
                LogEventLevel.Error => "<3>",
                LogEventLevel.Warning => "<4>",
                LogEventLevel.Information => "<6>",
                _ => "<7>",
            };
            logEvent.AddPropertyIfAbsent(factory.CreateProperty("SdPriority", p));
        }
    }
}

/// <summary>What every feature may want to know about this run.</summary>
public sealed record GatewayContext(bool Demo, CommandLine CommandLine, DateTimeOffset StartedAt);
