using System.Net;
using System.Net.Sockets;

namespace HikShareGateway.Tests.Infrastructure;

/// <summary>Free loopback TCP ports for servers that cannot take port 0 (mosquitto, gst-rtsp-server).</summary>
public static class PortAllocator
{
    public static int GetFreeTcpPort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }
}
