namespace HikShareGateway;

/// <summary>The installer commands other than <c>run</c>/<c>demo</c>.</summary>
public static class Commands
{
    public static Task<int> RunAsync(CommandLine cli) => cli.Command switch
    {
        "status" => StatusCommand.RunAsync(cli, Console.Out, Console.Error),
        "discover" => DiscoverCommand.RunAsync(cli, Console.Out, Console.Error, CancellationToken.None),
        _ => throw new CommandLineException($"unknown command \"{cli.Command}\""),
    };
}
