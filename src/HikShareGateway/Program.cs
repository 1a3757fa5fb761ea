using HikShareGateway.Composition;

namespace HikShareGateway;

/// <summary>
/// <c>hikshare-gateway</c>: the daemon (<c>run</c>, the default), the no-hardware demo (<c>demo</c>)
/// and installer commands. Exit codes: 0 ok, 1 runtime failure, 2 bad command line, 78 bad configuration (EX_CONFIG).
/// </summary>
public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        CommandLine cli;
        try
        {
            cli = CommandLine.Parse(args);
        }
        catch (CommandLineException e)
        {
            await Console.Error.WriteLineAsync($"hikshare-gateway: {e.Message}\n\n{CommandLine.Usage}");
            return ExitCodes.Usage;
        }

        return cli.Command switch
        {
            "help" => PrintUsage(),
            "version" => PrintVersion(),
            "run" => await GatewayRunner.RunAsync(cli, demo: false),
            "demo" => await GatewayRunner.RunAsync(cli, demo: true),
            _ => await Commands.RunAsync(cli),
        };
    }

    private static int PrintUsage()
    {
        Console.WriteLine(CommandLine.Usage);
        return ExitCodes.Ok;
    }

    private static int PrintVersion()
    {
        Console.WriteLine($"hikshare-gateway {GatewayRunner.SoftwareVersion}");
        return ExitCodes.Ok;
    }
}

public static class ExitCodes
{
    public const int Ok = 0;
    public const int Failure = 1;
    public const int Usage = 2;
    /// <summary>sysexits.h EX_CONFIG: the unit does not restart on it (RestartPreventExitStatus=78).</summary>
    public const int Config = 78;
    /// <summary>sysexits.h EX_UNAVAILABLE: a port in use or a missing file at start; systemd restarts (it may clear).</summary>
    public const int Unavailable = 69;
}
