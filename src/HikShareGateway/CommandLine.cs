namespace HikShareGateway;

public sealed class CommandLineException(string message) : Exception(message);

/// <summary>The parsed command line: a command, <c>--config FILE</c>, and the command's own options.</summary>
public sealed record CommandLine(string Command, string? ConfigPath, IReadOnlyDictionary<string, string?> Options, IReadOnlyList<string> Arguments)
{
    public static readonly string[] Commands = ["run", "demo", "discover", "status", "help", "version"];

    public const string Usage = """
        usage: hikshare-gateway [command] [--config FILE] [options]

        commands:
          run        run the daemon (default)
          demo       run with a built-in demo recorder and a local MQTT broker; no hardware, no cloud
          discover   list the ONVIF devices on the LAN (credentials masked)
          status     show what the running daemon holds (devices, grants, sessions)
          version    print the version

        options:
          --config FILE   JSON configuration (see config/gateway.example.json); any key may also
                          come from environment variables HIKSHARE_Section__Key
        """;

    public static CommandLine Parse(IReadOnlyList<string> args)
    {
        var command = "run";
        string? config = null;
        var options = new Dictionary<string, string?>(StringComparer.Ordinal);
        var arguments = new List<string>();
        var i = 0;
        if (args.Count > 0 && !args[0].StartsWith('-'))
        {
            command = args[0];
            if (Array.IndexOf(Commands, command) < 0)
            {
                throw new CommandLineException($"unknown command \"{command}\"");
            }
            i = 1;
        }
        for (; i < args.Count; i++)
        {
            var a = args[i];
            if (a is "-h" or "--help")
            {
                command = "help";
                continue;
            }
            if (a == "--version")
            {
                command = "version";
                continue;
            }
            if (!a.StartsWith("--", StringComparison.Ordinal))
            {
                arguments.Add(a);
                continue;
            }
            var name = a[2..];
            string? value = null;
            var eq = name.IndexOf('=');
            if (eq >= 0)
            {
                value = name[(eq + 1)..];
                name = name[..eq];
            }
            else if (i + 1 < args.Count && !args[i + 1].StartsWith("--", StringComparison.Ordinal))
            {
                value = args[++i];
            }
            if (name == "config")
            {
                config = value ?? throw new CommandLineException("--config needs a file name");
            }
            else
            {
                options[name] = value;
            }
        }
        return new CommandLine(command, config, options, arguments);
    }
}
