using System.Net;
using System.Net.Sockets;
using System.Text;

namespace HikShareGateway.Tests.Onvif.Simulator;

public sealed record SimRequest(string Method, string Path, IReadOnlyDictionary<string, string> Headers, byte[] Body);

/// <param name="Delay">Wait before answering (a slow device).</param>
/// <param name="NoContentLength">Send the body without Content-Length, ended by closing the connection.</param>
public sealed record SimResponse(int Status, byte[] Body, string ContentType = "application/soap+xml; charset=utf-8",
    IReadOnlyDictionary<string, string>? Headers = null, TimeSpan Delay = default, bool NoContentLength = false);

/// <summary>
/// A deliberately small HTTP/1.1 server over a listening socket the caller provides (so it can be created inside a
/// network namespace). One request per connection, answered with <c>Connection: close</c>.
/// </summary>
public sealed class MiniHttpServer : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly Func<SimRequest, Task<SimResponse>> _handler;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _acceptLoop;

    public MiniHttpServer(Socket listener, Func<SimRequest, Task<SimResponse>> handler)
    {
        _listener = listener;
        _handler = handler;
        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    public IPEndPoint EndPoint => (IPEndPoint)_listener.LocalEndPoint!;

    public static Socket Listen(IPAddress address, int port)
    {
        var s = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        s.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        s.Bind(new IPEndPoint(address, port));
        s.Listen(64);
        return s;
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(_stop.Token);
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException)
            {
                return;
            }
            _ = Task.Run(() => ServeAsync(client));
        }
    }

    private async Task ServeAsync(Socket client)
    {
        using var _ = client;
        await using var stream = new NetworkStream(client, ownsSocket: false);
        try
        {
            var request = await ReadRequestAsync(stream);
            if (request is null)
            {
                return;
            }
            var response = await _handler(request);
            if (response.Delay > TimeSpan.Zero)
            {
                await Task.Delay(response.Delay, _stop.Token);
            }
            var head = new StringBuilder();
            head.Append("HTTP/1.1 ").Append(response.Status).Append(' ').Append(Reason(response.Status)).Append("\r\n");
            head.Append("Content-Type: ").Append(response.ContentType).Append("\r\n");
            if (!response.NoContentLength)
            {
                head.Append("Content-Length: ").Append(response.Body.Length).Append("\r\n");
            }
            head.Append("Connection: close\r\n");
            foreach (var (k, v) in response.Headers ?? new Dictionary<string, string>())
            {
                head.Append(k).Append(": ").Append(v).Append("\r\n");
            }
            head.Append("\r\n");
            await stream.WriteAsync(Encoding.ASCII.GetBytes(head.ToString()), _stop.Token);
            for (var off = 0; off < response.Body.Length; off += 64 * 1024)
            {
                await stream.WriteAsync(response.Body.AsMemory(off, Math.Min(64 * 1024, response.Body.Length - off)), _stop.Token);
            }
            await stream.FlushAsync(_stop.Token);
            client.Shutdown(SocketShutdown.Send);
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException)
        {
            // Client went away (e.g. it timed out first) or the server stops.
        }
    }

    private static async Task<SimRequest?> ReadRequestAsync(Stream stream)
    {
        var buffer = new byte[64 * 1024];
        var filled = 0;
        int headerEnd;
        while ((headerEnd = IndexOf(buffer.AsSpan(0, filled), "\r\n\r\n"u8)) < 0)
        {
            if (filled == buffer.Length)
            {
                return null;
            }
            var n = await stream.ReadAsync(buffer.AsMemory(filled));
            if (n == 0)
            {
                return null;
            }
            filled += n;
        }
        var lines = Encoding.ASCII.GetString(buffer, 0, headerEnd).Split("\r\n");
        var first = lines[0].Split(' ');
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var l in lines.Skip(1))
        {
            var c = l.IndexOf(':');
            if (c > 0)
            {
                headers[l[..c].Trim()] = l[(c + 1)..].Trim();
            }
        }
        var length = headers.TryGetValue("Content-Length", out var cl) ? int.Parse(cl) : 0;
        var body = new byte[length];
        var already = Math.Min(filled - headerEnd - 4, length);
        Array.Copy(buffer, headerEnd + 4, body, 0, already);
        var got = already;
        while (got < length)
        {
            var n = await stream.ReadAsync(body.AsMemory(got));
            if (n == 0)
            {
                return null;
            }
            got += n;
        }
        return new SimRequest(first[0], first.Length > 1 ? first[1] : "/", headers, body);
    }

    private static int IndexOf(ReadOnlySpan<byte> s, ReadOnlySpan<byte> v) => s.IndexOf(v);

    private static string Reason(int status) => status switch
    {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        500 => "Internal Server Error",
        _ => "Status",
    };

    private int _disposed;

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }
        await _stop.CancelAsync();
        _listener.Dispose();
        try
        {
            await _acceptLoop;
        }
        catch (OperationCanceledException)
        {
        }
        _stop.Dispose();
    }
}
