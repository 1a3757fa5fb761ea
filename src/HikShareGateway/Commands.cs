using System.CommandLine;
using HikShare.CommandLineSupport;

namespace HikShareGateway;

/// <summary>
/// One subcommand of <c>hikshare-gateway</c>: its name, one line for the usage, its options (every command also
/// takes <c>--config FILE</c> and <c>--help</c>) and what it does. Adding a command is a subclass and a line in
/// <see cref="Commands.All"/>.
/// </summary>
public abstract class GatewayCommand
{
    public abstract string Name { get; }
    public abstract string Description { get; }

    /// <summary>The command's own options (new instances on every call: a System.CommandLine symbol has one parent).</summary>
    public virtual IEnumerable<Option> CreateOptions() => [];

    public abstract Task<int> InvokeAsync(CommandLine cli, TextWriter output, TextWriter error, CancellationToken cancellationToken);
}

/// <summary>The command tree of <c>hikshare-gateway</c> and its entry point.</summary>
public static class Commands
{
    public const string ProgramName = "hikshare-gateway";
    internal const string ConfigOptionName = "config";

    /// <summary>Every subcommand. The top command alone is <c>run</c>.</summary>
    public static IReadOnlyList<GatewayCommand> All { get; } =
    [
        new RunCommand(),
        new DemoCommand(),
        new DiscoverCommand(),
        new StatusCommand(),
        new BindCodeCommand(),
        new VersionCommand(),
    ];

    /// <summary>Parses and runs. Exit codes: <see cref="ExitCodes"/>; 64 for a bad command line.</summary>
    public static async Task<int> InvokeAsync(string[] args, TextWriter output, TextWriter error, CancellationToken cancellationToken = default)
    {
        var result = CreateRoot(output, error).Parse(args);
        if (CommandLineUsage.TryReport(result, error, out var code))
        {
            return code;
        }
        return await result.InvokeAsync(new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false }, cancellationToken);
    }

    /// <summary>The System.CommandLine tree; actions write to <paramref name="output"/> and <paramref name="error"/>.</summary>
    public static Command CreateRoot(TextWriter output, TextWriter error)
    {
        var root = CommandLineUsage.CreateRoot(ProgramName, "HikShare Gateway: shares the RTSP streams of CCTV recorders with the accounts the cloud's grants allow. Without a command it runs the daemon.");
        root.Options.Add(ConfigOption());
        var version = new Option<bool>("--version") { Description = "Print the version and exit." };
        root.Options.Add(version);
        var run = All[0];
        root.SetAction((r, ct) => r.GetValue(version)
            ? VersionCommand.PrintAsync(output)
            : run.InvokeAsync(CommandLine.From(r), output, error, ct));
        foreach (var c in All)
        {
            var command = new Command(c.Name, c.Description);
            command.Options.Add(ConfigOption());
            foreach (var o in c.CreateOptions())
            {
                command.Options.Add(o);
            }
            command.SetAction((r, ct) => c.InvokeAsync(CommandLine.From(r), output, error, ct));
            root.Subcommands.Add(command);
        }
        return root;
    }

    private static Option<string[]> ConfigOption() => Value(ConfigOptionName, "FILE",
        "JSON configuration (see config/gateway.example.json); any key may also come from the environment as HIKSHARE_Section__Key.");

    /// <summary>An option with a value (its name for the usage in capitals); the last one given counts.</summary>
    internal static Option<string[]> Value(string name, string valueName, string description) => CommandLineUsage.Value(name, valueName, description);

    internal static Option<bool> Flag(string name, string description) => new("--" + name) { Description = description };
}

/// <summary><c>hikshare-gateway [run] --config FILE</c>: the daemon.</summary>
public sealed class RunCommand : GatewayCommand
{
    public override string Name => "run";
    public override string Description => "Run the daemon (the default command).";

    public override Task<int> InvokeAsync(CommandLine cli, TextWriter output, TextWriter error, CancellationToken cancellationToken) =>
        Composition.GatewayRunner.RunAsync(cli, demo: false);
}

/// <summary><c>hikshare-gateway demo</c>: the no-hardware demo.</summary>
public sealed class DemoCommand : GatewayCommand
{
    public override string Name => "demo";
    public override string Description => "Run with a built-in demo recorder and a local MQTT broker; no hardware, no cloud.";

    public override Task<int> InvokeAsync(CommandLine cli, TextWriter output, TextWriter error, CancellationToken cancellationToken) =>
        Composition.GatewayRunner.RunAsync(cli, demo: true);
}

/// <summary><c>hikshare-gateway version</c> (and <c>--version</c>).</summary>
public sealed class VersionCommand : GatewayCommand
{
    public override string Name => "version";
    public override string Description => "Print the version.";

    public override Task<int> InvokeAsync(CommandLine cli, TextWriter output, TextWriter error, CancellationToken cancellationToken) => PrintAsync(output);

    internal static async Task<int> PrintAsync(TextWriter output)
    {
        await output.WriteLineAsync($"{Commands.ProgramName} {Composition.GatewayRunner.SoftwareVersion}");
        return ExitCodes.Ok;
    }
}
