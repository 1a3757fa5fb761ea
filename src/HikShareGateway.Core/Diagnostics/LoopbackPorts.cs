using System.Net;
using System.Net.Sockets;

namespace HikShareGateway.Core.Diagnostics;

/// <summary>Loopback TCP port probes for the demo's embedded services (broker, recorder), which fall back to a free port.</summary>
public static class LoopbackPorts
{
    /// <summary>True when a listener can bind the port on 127.0.0.1 now (it may be taken again before it is used).</summary>
    public static bool IsFree(int port)
    {
        try
        {
            using var l = new TcpListener(IPAddress.Loopback, port);
            l.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>A port the kernel picks as free on 127.0.0.1.</summary>
    public static int Free()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }
}
