using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using HikShareGateway.Media;
using HikShareGateway.Rtsp.Server;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace HikShareGateway.Rtsp;

/// <summary>Starts the viewer RTSP server; on shutdown closes every viewer (each records its end) and then the upstreams.</summary>
public sealed partial class RtspHostedService(RtspOptions options, RtspServer server, LiveRelay relay, ILogger<RtspHostedService> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (options.Port == 0 && !options.TlsEnabled)
        {
            LogDisabled(logger);
            return Task.CompletedTask;
        }
        if (options.Port != 0)
        {
            Listen("Port", options.Port, () => server.Start(options.BindAddress, options.Port));
        }
        if (options.TlsEnabled)
        {
            // Validated at start-up; loaded again here, where the server takes it over.
            X509Certificate2 certificate;
            X509Certificate2Collection chain;
            try
            {
                certificate = options.LoadTlsCertificate();
                chain = options.LoadTlsChain();
            }
            catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException)
            {
                throw new Core.Configuration.StartupException($"Rtsp:TlsCertificateFile \"{options.TlsCertificateFile}\" cannot be used for RTSPS: {e.Message}", e);
            }
            Listen("TlsPort", options.TlsPort, () => server.StartTls(options.BindAddress, options.TlsPort, certificate, chain));
        }
        return Task.CompletedTask;

        static void Listen(string key, int port, Action start)
        {
            try
            {
                start();
            }
            catch (SocketException e)
            {
                // Clear words for the installer instead of a stack trace; the host stops with an error.
                throw new Core.Configuration.StartupException($"Rtsp:{key} {port}: cannot listen ({e.SocketErrorCode}). Is another RTSP server (or another gateway) using it? Pick a free port.", e);
            }
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await server.DisposeAsync();
        await relay.DisposeAsync();
    }

    [LoggerMessage(EventId = 2003, Level = LogLevel.Information, Message = "Rtsp:Port is 0 and no Rtsp:TlsCertificateFile is set: the RTSP server is disabled")]
    private static partial void LogDisabled(ILogger logger);
}
