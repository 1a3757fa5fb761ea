using System.Collections.Concurrent;
using System.Net;
using System.Text;
using HikShareGateway.Core.Protocols;
using HikShareGateway.Tests.Infrastructure;
using HikShareGateway.Tests.Onvif.Simulator;

namespace HikShareGateway.Tests.Snapshots;

/// <summary>What the simulated device does when asked for its picture.</summary>
public enum PictureMode { Jpeg, ServerError, Slow, Html, NotJpegAsImage, Oversized }

/// <summary>
/// A Hikvision-like device's picture API on loopback: <c>GET /ISAPI/Streaming/channels/{id}/picture</c> behind HTTP
/// Digest (a 401 with a fresh challenge, then the answer checked with Core's <see cref="Digest"/>), serving a real JPEG
/// made by the ffmpeg CLI, or misbehaving on demand.
/// </summary>
public sealed class PictureDevice : IAsyncDisposable
{
    public const string User = "admin";
    public const string Password = "Isapi-Pa55";
    private const string Realm = "DS-2CD2143G2-I";
    private readonly MiniHttpServer _server;
    private readonly string _nonce = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray());

    private readonly string _user;
    private readonly string _password;

    private PictureDevice(byte[] jpeg, string user, string password)
    {
        Jpeg = jpeg;
        _user = user;
        _password = password;
        _server = new MiniHttpServer(MiniHttpServer.Listen(IPAddress.Loopback, 0), HandleAsync);
    }

    public byte[] Jpeg { get; }
    public PictureMode Mode { get; set; } = PictureMode.Jpeg;
    public Uri BaseUri => new($"http://127.0.0.1:{_server.EndPoint.Port}");

    /// <summary>Every request's path, in order.</summary>
    public ConcurrentQueue<string> Paths { get; } = new();
    public int Challenges;
    public int Answered;

    /// <summary>A device whose picture is lavfi's <paramref name="source"/> (e.g. <c>smptebars</c>) at that size, as ffmpeg encodes a JPEG.</summary>
    public static async Task<PictureDevice> StartAsync(string source = "smptebars", int width = 1280, int height = 720, string user = User, string password = Password) =>
        new(await MakeJpegAsync(source, width, height), user, password);

    public static async Task<byte[]> MakeJpegAsync(string source, int width, int height)
    {
        var path = Path.Combine(Path.GetTempPath(), "hikshare-device-" + Guid.NewGuid().ToString("N") + ".jpg");
        try
        {
            var r = await ToolRunner.RunAsync("ffmpeg", ["-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", $"{source}=size={width}x{height}",
                "-frames:v", "1", "-q:v", "3", "-y", path], TimeSpan.FromSeconds(30));
            Assert.True(r.Succeeded, r.ToString());
            return await File.ReadAllBytesAsync(path);
        }
        finally
        {
            File.Delete(path);
        }
    }

    private Task<SimResponse> HandleAsync(SimRequest request)
    {
        Paths.Enqueue(request.Path);
        if (!request.Path.StartsWith("/ISAPI/Streaming/channels/", StringComparison.Ordinal) || !request.Path.EndsWith("/picture", StringComparison.Ordinal))
        {
            return Task.FromResult(new SimResponse(404, "<ResponseStatus/>"u8.ToArray(), "application/xml"));
        }
        if (!Authorized(request))
        {
            Interlocked.Increment(ref Challenges);
            return Task.FromResult(new SimResponse(401, "<html>401</html>"u8.ToArray(), "text/html",
                new Dictionary<string, string> { ["WWW-Authenticate"] = Digest.Challenge(Realm, _nonce, DigestAlgorithm.Md5) }));
        }
        Interlocked.Increment(ref Answered);
        return Task.FromResult(Mode switch
        {
            PictureMode.ServerError => new SimResponse(500, "<html>busy</html>"u8.ToArray(), "text/html"),
            PictureMode.Slow => new SimResponse(200, Jpeg, "image/jpeg", Delay: TimeSpan.FromSeconds(20)),
            PictureMode.Html => new SimResponse(200, Encoding.UTF8.GetBytes("<html><body>Please log in</body></html>"), "text/html"),
            PictureMode.NotJpegAsImage => new SimResponse(200, Encoding.UTF8.GetBytes("GIF89a not a jpeg at all"), "image/jpeg"),
            PictureMode.Oversized => new SimResponse(200, [.. Jpeg, .. new byte[8 * 1024 * 1024]], "image/jpeg", NoContentLength: true),
            _ => new SimResponse(200, Jpeg, "image/jpeg"),
        });
    }

    private bool Authorized(SimRequest request) =>
        request.Headers.TryGetValue("Authorization", out var header)
        && Digest.TryParseCredentials(header, out var c) && c!.Username == _user && c.Realm == Realm && c.Nonce == _nonce && c.Uri == request.Path
        && Digest.Verify(c, request.Method, Digest.Ha1(c.Algorithm, _user, Realm, _password));

    public ValueTask DisposeAsync() => _server.DisposeAsync();
}
