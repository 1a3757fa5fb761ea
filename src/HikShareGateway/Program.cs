namespace HikShareGateway;

/// <summary>
/// <c>hikshare-gateway</c>: the daemon (<c>run</c>, the default), the no-hardware demo (<c>demo</c>)
/// and installer commands (<see cref="Commands.All"/>). Exit codes: <see cref="ExitCodes"/>.
/// </summary>
public static class Program
{
    public static Task<int> Main(string[] args) => Commands.InvokeAsync(args, Console.Out, Console.Error);
}

public static class ExitCodes
{
    public const int Ok = 0;
    public const int Failure = 1;
    /// <summary>sysexits.h EX_USAGE: unknown command or option, or a bad option value.</summary>
    public const int Usage = 64;
    /// <summary>sysexits.h EX_CONFIG: the unit does not restart on it (RestartPreventExitStatus=78).</summary>
    public const int Config = 78;
    /// <summary>sysexits.h EX_UNAVAILABLE: a port in use or a missing file at start; systemd restarts (it may clear).</summary>
    public const int Unavailable = 69;
}
