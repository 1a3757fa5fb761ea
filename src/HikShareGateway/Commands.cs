namespace HikShareGateway;

/// <summary>The installer commands other than <c>run</c>/<c>demo</c>.</summary>
public static class Commands
{
    public static Task<int> RunAsync(CommandLine cli) => cli.Command switch
    {
        "status" => StatusCommand.RunAsync(cli, Console.Out, Console.Error),
        _ => NotInBuild(cli),
    };

    private static Task<int> NotInBuild(CommandLine cli)
    {
        Console.Error.WriteLine($"hikshare-gateway: the \"{cli.Command}\" command is not part of this build yet.");
        return Task.FromResult(ExitCodes.Failure);
    }
}
