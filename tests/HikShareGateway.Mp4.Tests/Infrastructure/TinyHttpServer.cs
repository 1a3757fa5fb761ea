using System.Net;
using System.Net.Sockets;

namespace HikShareGateway.Mp4.Tests.Infrastructure;

/// <summary>Writes one response: sets its headers and body (may stream it in chunks).</summary>
public delegate Task Responder(HttpListenerResponse response);

/// <summary>An HttpListener on 127.0.0.1 that answers by path, for the browser tests.</summary>
public sealed class TinyHttpServer : IAsyncDisposable
{
    private readonly HttpListener _listener;
    private readonly Dictionary<string, Responder> _routes;
    private readonly Task _loop;

    private TinyHttpServer(HttpListener listener, int port, Dictionary<string, Responder> routes)
    {
        _listener = listener;
        _routes = routes;
        BaseUrl = $"http://127.0.0.1:{port}";
        _loop = Task.Run(ServeAsync);
    }

    public string BaseUrl { get; }

    public static TinyHttpServer Start(Dictionary<string, Responder> routes)
    {
        for (int attempt = 0; ; attempt++)
        {
            // A port the kernel just handed out; another process may take it before HttpListener does, so retry.
            var probe = new TcpListener(IPAddress.Loopback, 0);
            probe.Start();
            int port = ((IPEndPoint)probe.LocalEndpoint).Port;
            probe.Stop();
            var listener = new HttpListener();
            listener.Prefixes.Add($"http://127.0.0.1:{port}/");
            try
            {
                listener.Start();
                return new TinyHttpServer(listener, port, routes);
            }
            catch (HttpListenerException) when (attempt < 5)
            {
                listener.Close();
            }
        }
    }

    /// <summary>A fixed body.</summary>
    public static Responder Body(string contentType, byte[] body) => async response =>
    {
        response.ContentType = contentType;
        response.ContentLength64 = body.Length;
        await response.OutputStream.WriteAsync(body);
    };

    public async ValueTask DisposeAsync()
    {
        _listener.Stop();
        _listener.Close();
        await _loop;
    }

    private async Task ServeAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            _ = Task.Run(() => AnswerAsync(context));
        }
    }

    private async Task AnswerAsync(HttpListenerContext context)
    {
        try
        {
            if (_routes.TryGetValue(context.Request.Url!.AbsolutePath, out Responder? respond))
            {
                await respond(context.Response);
            }
            else
            {
                context.Response.StatusCode = 404;
            }

            context.Response.Close();
        }
        catch (Exception e) when (e is HttpListenerException or IOException or ObjectDisposedException)
        {
            // The browser went away mid-response, or the server stopped.
        }
    }
}
