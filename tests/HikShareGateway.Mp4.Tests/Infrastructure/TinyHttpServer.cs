using System.Net;
using System.Net.Sockets;

namespace HikShareGateway.Mp4.Tests.Infrastructure;

/// <summary>An HttpListener on 127.0.0.1 that serves fixed bodies by path, for the browser tests.</summary>
public sealed class TinyHttpServer : IAsyncDisposable
{
    private readonly HttpListener _listener;
    private readonly Dictionary<string, (string ContentType, byte[] Body)> _routes;
    private readonly Task _loop;

    private TinyHttpServer(HttpListener listener, int port, Dictionary<string, (string, byte[])> routes)
    {
        _listener = listener;
        _routes = routes;
        BaseUrl = $"http://127.0.0.1:{port}";
        _loop = Task.Run(ServeAsync);
    }

    public string BaseUrl { get; }

    public static TinyHttpServer Start(Dictionary<string, (string ContentType, byte[] Body)> routes)
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

            try
            {
                if (_routes.TryGetValue(context.Request.Url!.AbsolutePath, out (string ContentType, byte[] Body) route))
                {
                    context.Response.ContentType = route.ContentType;
                    context.Response.ContentLength64 = route.Body.Length;
                    await context.Response.OutputStream.WriteAsync(route.Body);
                }
                else
                {
                    context.Response.StatusCode = 404;
                }

                context.Response.Close();
            }
            catch (Exception e) when (e is HttpListenerException or IOException)
            {
                // The browser went away mid-response.
            }
        }
    }
}
