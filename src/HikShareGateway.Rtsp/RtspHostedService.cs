using HikShareGateway.Rtsp.Relay;
using HikShareGateway.Rtsp.Server;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace HikShareGateway.Rtsp;

/// <summary>Starts the viewer RTSP server; on shutdown closes every viewer (each records its end) and then the upstreams.</summary>
public sealed partial class RtspHostedService(RtspOptions options, RtspServer server, LiveRelay relay, ILogger<RtspHostedService> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (options.Port == 0)
        {
            LogDisabled(logger);
            return Task.CompletedTask;
        }
        try
        {
            server.Start(options.BindAddress, options.Port);
        }
        catch (System.Net.Sockets.SocketException e)
        {
            // Clear words for the installer instead of a stack trace; the host stops with an error.
            throw new Core.Configuration.StartupException($"Rtsp:Port {options.Port}: cannot listen ({e.SocketErrorCode}). Is another RTSP server (or another gateway) using it? Pick a free port.", e);
        }
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await server.DisposeAsync();
        await relay.DisposeAsync();
    }

    [LoggerMessage(EventId = 2003, Level = LogLevel.Information, Message = "Rtsp:Port is 0: the RTSP server is disabled")]
    private static partial void LogDisabled(ILogger logger);
}
