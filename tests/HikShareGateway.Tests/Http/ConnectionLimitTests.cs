using System.Net;
using System.Net.Sockets;
using System.Text;
using HikShareGateway.Http;
using HikShareGateway.Tests.Infrastructure;

namespace HikShareGateway.Tests.Http;

[Trait("Category", "Unit")]
public sealed class ConnectionLimiterTests
{
    private static readonly IPAddress A = IPAddress.Parse("192.0.2.1"), B = IPAddress.Parse("192.0.2.2");

    [Fact]
    public void PerAddressCap_RefusesOnlyThatAddress_AndFreesSlotsWhenConnectionsEnd()
    {
        var limiter = new ConnectionLimiter(maxConnections: 10, maxPerAddress: 2);
        Assert.True(limiter.TryEnter(A));
        Assert.True(limiter.TryEnter(A));
        Assert.False(limiter.TryEnter(A));
        Assert.True(limiter.TryEnter(B));
        limiter.Leave(A);
        Assert.True(limiter.TryEnter(A));
        Assert.Equal(3, limiter.Total);
    }

    [Fact]
    public void TotalCap_RefusesEveryone_UntilOneEnds()
    {
        var limiter = new ConnectionLimiter(maxConnections: 2, maxPerAddress: 2);
        Assert.True(limiter.TryEnter(A));
        Assert.True(limiter.TryEnter(B));
        Assert.False(limiter.TryEnter(IPAddress.Parse("192.0.2.3")));
        limiter.Leave(B);
        Assert.True(limiter.TryEnter(IPAddress.Parse("192.0.2.3")));
    }
}

/// <summary>Issue 17 point 4 against the real demo process: one address's idle connections cannot take the HTTP port.</summary>
[Trait("Category", "Integration")]
public sealed class HttpConnectionLimitTests
{
    [Fact]
    public async Task OneAddressHoldingIdleConnections_GetsNoMore_AnotherAddressIsServed_AndSlotsReturn()
    {
        await using var demo = await DemoGatewayProcess.StartAsync(new Dictionary<string, string> { ["HIKSHARE_Http__MaxConnectionsPerAddress"] = "5" });
        var idle = new List<TcpClient>();
        try
        {
            for (var i = 0; i < 5; i++)
            {
                var c = new TcpClient();
                await c.ConnectAsync(IPAddress.Loopback, demo.HttpPort);
                idle.Add(c);
                // One keep-alive request each, answered: the gateway holds the connection (a TCP connect alone only
                // proves the kernel queued it, and the gateway may take the sixth before the fifth). Then idle.
                Assert.Equal("HTTP/1.1 200 OK", await HealthAsync(c, keepAlive: true));
            }
            // The sixth from the same address is closed before any HTTP is read.
            using (var sixth = new TcpClient())
            {
                Assert.Null(await ConnectAndHealthAsync(sixth, demo.HttpPort));
            }
            // Another address is served at once.
            using (var other = new TcpClient(new IPEndPoint(IPAddress.Parse("127.0.0.2"), 0)))
            {
                await other.ConnectAsync(IPAddress.Loopback, demo.HttpPort);
                Assert.Equal("HTTP/1.1 200 OK", await HealthAsync(other));
            }
        }
        finally
        {
            foreach (var c in idle)
            {
                c.Dispose();
            }
        }
        // Once the idle ones have gone, the address is served again.
        await Wait.UntilAsync(async () =>
        {
            using var again = new TcpClient();
            return await ConnectAndHealthAsync(again, demo.HttpPort) == "HTTP/1.1 200 OK";
        }, "a new connection from the address served again", 10_000);
    }

    /// <summary>Connects and asks; null when the server refused or closed the connection (a reset may come at connect).</summary>
    private static async Task<string?> ConnectAndHealthAsync(TcpClient c, int port)
    {
        try
        {
            await c.ConnectAsync(IPAddress.Loopback, port);
        }
        catch (SocketException)
        {
            return null;
        }
        return await HealthAsync(c);
    }

    /// <summary>GET /healthz on the connection; the status line, or null when the server closed it.</summary>
    private static async Task<string?> HealthAsync(TcpClient c, bool keepAlive = false)
    {
        var stream = c.GetStream();
        try
        {
            await stream.WriteAsync(Encoding.ASCII.GetBytes($"GET /healthz HTTP/1.1\r\nHost: x\r\n{(keepAlive ? "" : "Connection: close\r\n")}\r\n"));
            using var reader = new StreamReader(stream, Encoding.ASCII, leaveOpen: true);
            return await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (Exception e) when (e is IOException or SocketException)
        {
            return null; // reset by the server
        }
    }
}
