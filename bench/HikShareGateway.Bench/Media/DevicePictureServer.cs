using System.Net;
using System.Net.Sockets;
using HikShareGateway.Core.Protocols;

namespace HikShareGateway.Bench.Media;

/// <summary>
/// A camera's picture API for the bench: <c>GET /ISAPI/Streaming/channels/101/picture</c> on loopback behind HTTP Digest
/// (Core's <see cref="Digest"/>, one nonce for the run, as a camera keeps one for a while), serving one JPEG.
/// </summary>
internal sealed class DevicePictureServer : IDisposable
{
    public const string User = "admin";
    public const string Password = "bench-Pa55";
    private const string Realm = "bench-camera";
    private readonly HttpListener _listener = new();
    private readonly byte[] _jpeg;
    private readonly string _nonce = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray());
    private readonly Task _loop;

    public DevicePictureServer(byte[] jpeg)
    {
        _jpeg = jpeg;
        using (var probe = new TcpListener(IPAddress.Loopback, 0))
        {
            probe.Start();
            Port = ((IPEndPoint)probe.LocalEndpoint).Port;
        }
        _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
        _listener.Start();
        _loop = Task.Run(ServeAsync);
    }

    public int Port { get; }
    public Uri BaseUri => new($"http://127.0.0.1:{Port}");
    public int Requests;

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
            Interlocked.Increment(ref Requests);
            var response = context.Response;
            try
            {
                var path = context.Request.RawUrl ?? "/";
                if (Digest.TryParseCredentials(context.Request.Headers["Authorization"], out var c) && c!.Username == User && c.Nonce == _nonce
                    && c.Uri == path && Digest.Verify(c, "GET", Digest.Ha1(c.Algorithm, User, Realm, Password)))
                {
                    response.StatusCode = 200;
                    response.ContentType = "image/jpeg";
                    response.ContentLength64 = _jpeg.Length;
                    await response.OutputStream.WriteAsync(_jpeg);
                }
                else
                {
                    response.StatusCode = 401;
                    response.AddHeader("WWW-Authenticate", Digest.Challenge(Realm, _nonce, DigestAlgorithm.Md5));
                    response.ContentLength64 = 0;
                }
            }
            catch (HttpListenerException)
            {
            }
            finally
            {
                response.Close();
            }
        }
    }

    public void Dispose()
    {
        _listener.Stop();
        _listener.Close();
        try
        {
            _loop.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
        }
    }
}
