using System.Net;
using HikShareGateway.Core.Diagnostics;
using Microsoft.Extensions.Logging;
using MQTTnet.Server;

namespace HikShareGateway.Cloud;

/// <summary>
/// The demo's MQTT broker inside the process (MQTTnet.Server), bound to loopback only. If the wanted
/// port is taken (a system mosquitto on 1883, say) it falls back to a free port and logs it.
/// </summary>
public sealed partial class EmbeddedBroker(ILogger<EmbeddedBroker> logger) : IAsyncDisposable
{
    private readonly ILogger _logger = logger;
    private MqttServer? _server;

    public int Port { get; private set; }

    public async Task<int> StartAsync(int wantedPort, CancellationToken ct = default)
    {
        var port = wantedPort;
        if (port == 0 || !LoopbackPorts.IsFree(port))
        {
            var fallback = LoopbackPorts.Free();
            if (port != 0)
            {
                LogPortTaken(port, fallback);
            }
            port = fallback;
        }
        var factory = new MqttServerFactory();
        var options = factory.CreateServerOptionsBuilder()
            .WithDefaultEndpoint()
            .WithDefaultEndpointBoundIPAddress(IPAddress.Loopback)
            .WithDefaultEndpointBoundIPV6Address(IPAddress.None)
            .WithDefaultEndpointPort(port)
            .Build();
        _server = factory.CreateMqttServer(options);
        await _server.StartAsync();
        Port = port;
        LogStarted(port);
        return port;
    }

    public async ValueTask DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.StopAsync();
            _server.Dispose();
            _server = null;
        }
    }

    [LoggerMessage(EventId = 3600, Level = LogLevel.Warning, Message = "Port {Port} on 127.0.0.1 is taken (another MQTT broker?); the embedded demo broker uses port {Fallback} instead")]
    private partial void LogPortTaken(int port, int fallback);

    [LoggerMessage(EventId = 3601, Level = LogLevel.Information, Message = "Embedded demo MQTT broker listening on mqtt://127.0.0.1:{Port}")]
    private partial void LogStarted(int port);
}
