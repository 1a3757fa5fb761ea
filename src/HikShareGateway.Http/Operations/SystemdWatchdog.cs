using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace HikShareGateway.Http.Operations;

/// <summary>
/// Sends <c>WATCHDOG=1</c> to systemd (sd_notify(3), sd_watchdog_enabled(3)) at half of <c>$WATCHDOG_USEC</c>
/// when the unit has <c>WatchdogSec=</c>. Microsoft.Extensions.Hosting.Systemd only sends READY=1 and STOPPING=1.
/// Does nothing when <c>$NOTIFY_SOCKET</c> or <c>$WATCHDOG_USEC</c> is unset, or <c>$WATCHDOG_PID</c> names another process.
/// </summary>
public sealed partial class SystemdWatchdog : BackgroundService
{
    private readonly TimeProvider _time;
    private readonly ILogger<SystemdWatchdog> _logger;
    private readonly string? _socketPath;
    private readonly TimeSpan? _interval;

    public SystemdWatchdog(TimeProvider time, ILogger<SystemdWatchdog> logger, Func<string, string?>? environment = null)
    {
        _time = time;
        _logger = logger;
        environment ??= Environment.GetEnvironmentVariable;
        (_socketPath, _interval) = Read(environment);
    }

    /// <summary>The ping interval, or null when the watchdog is not enabled for this process.</summary>
    public TimeSpan? Interval => _interval;

    public static (string? SocketPath, TimeSpan? Interval) Read(Func<string, string?> environment)
    {
        var socket = environment("NOTIFY_SOCKET");
        var usecText = environment("WATCHDOG_USEC");
        if (string.IsNullOrEmpty(socket) || !ulong.TryParse(usecText, out var usec) || usec == 0)
        {
            return (null, null);
        }
        var pidText = environment("WATCHDOG_PID");
        if (!string.IsNullOrEmpty(pidText) && (!int.TryParse(pidText, out var pid) || pid != Environment.ProcessId))
        {
            return (null, null);
        }
        return (socket, TimeSpan.FromMicroseconds(usec / 2.0));
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (_socketPath is null || _interval is not { } interval)
        {
            return;
        }
        LogEnabled(_logger, interval.TotalSeconds);
        using var socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        // sd_notify: a leading '@' means the Linux abstract namespace (a leading NUL byte).
        var endpoint = new UnixDomainSocketEndPoint(_socketPath[0] == '@' ? "\0" + _socketPath[1..] : _socketPath);
        var message = Encoding.ASCII.GetBytes("WATCHDOG=1");
        using var timer = new PeriodicTimer(interval, _time);
        var failures = 0;
        do
        {
            try
            {
                await socket.SendToAsync(message, SocketFlags.None, endpoint, stoppingToken).ConfigureAwait(false);
                failures = 0;
            }
            catch (SocketException e)
            {
                if (failures++ == 0)
                {
                    LogFailed(_logger, e.Message);
                }
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }

    [LoggerMessage(EventId = 5401, Level = LogLevel.Information, Message = "systemd watchdog enabled: WATCHDOG=1 every {Seconds} s")]
    private static partial void LogEnabled(ILogger logger, double seconds);

    [LoggerMessage(EventId = 5402, Level = LogLevel.Warning, Message = "systemd watchdog notification failed: {Error}")]
    private static partial void LogFailed(ILogger logger, string error);
}
