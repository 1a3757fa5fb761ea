using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace HikShareGateway.Tests.Infrastructure;

/// <summary>Free loopback TCP ports for servers that cannot take port 0 (mosquitto, gst-rtsp-server).</summary>
public static class PortAllocator
{
    // A port is free only until someone binds it: two calls could get the same one back from the kernel before
    // either is bound (a demo's HTTP port and its embedded broker's did, 1 run in 10). Never hand one out twice.
    private static readonly ConcurrentDictionary<int, byte> HandedOut = new();

    public static int GetFreeTcpPort()
    {
        for (var attempt = 0; ; attempt++)
        {
            using var l = new TcpListener(IPAddress.Loopback, 0);
            l.Start();
            var port = ((IPEndPoint)l.LocalEndpoint).Port;
            if (HandedOut.TryAdd(port, 0) || attempt >= 100)
            {
                return port;
            }
        }
    }
}
