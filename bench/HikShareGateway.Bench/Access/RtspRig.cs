using System.Net;
using System.Net.Sockets;
using System.Text;
using HikShareGateway.Access;
using HikShareGateway.Access.Grants;
using HikShareGateway.Access.Jose;
using HikShareGateway.Access.Tokens;
using HikShareGateway.Composition;
using HikShareGateway.Core.Access;
using HikShareGateway.Core.Devices;
using HikShareGateway.Media;
using HikShareGateway.Rtsp;
using HikShareGateway.Rtsp.Demo;
using HikShareGateway.Rtsp.Server;
using HikShareGateway.Rtsp.Upstream;
using Microsoft.Extensions.Logging.Abstractions;

namespace HikShareGateway.Bench.Access;

/// <summary>The gateway's RTSP side in-process (as the host wires it) with the demo recorder as upstream, and a minimal player.</summary>
internal sealed class RtspRig : IAsyncDisposable
{
    private readonly DemoCamera _camera;
    private readonly LiveRelay _relay;
    private readonly RtspServer _server;
    private readonly Ed25519SigningKey _key;
    private readonly string _gateway;
    private readonly string _device;

    private RtspRig(DemoCamera camera, LiveRelay relay, RtspServer server, Ed25519SigningKey key, string gateway, string device)
    {
        _camera = camera;
        _relay = relay;
        _server = server;
        _key = key;
        _gateway = gateway;
        _device = device;
    }

    public static Task<RtspRig> StartAsync(GrantsStore store, ISessionRegistry registry, IAuditSink audit, Ed25519SigningKey key, string gateway, string device)
    {
        var clip = RtspFeature.FindDemoClip() ?? throw new FileNotFoundException("the demo clip (assets/demo-640x360-25fps.h264) is not beside the bench");
        var camera = new DemoCamera(File.ReadAllBytes(clip), 25, null, null, TimeProvider.System, NullLogger.Instance);
        camera.Start(0);
        var catalog = new StaticDeviceCatalog([new DeviceInfo
        {
            DeviceId = device,
            Channels = [.. Enumerable.Range(1, 4).Select(c => new ChannelInfo { Channel = c, MainUri = new Uri($"rtsp://127.0.0.1:{camera.Port}/Streaming/Channels/101") })],
        }]);
        var relay = new LiveRelay(new CatalogUpstreamConnector(catalog, UpstreamOptions.Default, TimeProvider.System, NullLoggerFactory.Instance),
            new RelayOptions(), TimeProvider.System, NullLoggerFactory.Instance);
        var authenticator = new ViewerAuthenticator(new TrustedKeySet([key.Public]), gateway, new AccessOptions { AuthFailureLimit = 100000 }, TimeProvider.System, NullLogger<ViewerAuthenticator>.Instance);
        var server = new RtspServer(new ViewerServices(authenticator, store, registry, audit, new ViewerMediaResolver(catalog, relay, TimeSpan.FromSeconds(10)),
            ViewerQueueLimits.Default, TimeSpan.FromSeconds(60), TimeProvider.System, NullLogger.Instance), 10000, NullLogger<RtspServer>.Instance);
        server.Start("127.0.0.1", 0);
        return Task.FromResult(new RtspRig(camera, relay, server, key, gateway, device));
    }

    /// <summary>DESCRIBE, SETUP, PLAY with a Bearer token; returns the socket, now receiving media.</summary>
    public async Task<Socket> PlayAsync(string account)
    {
        var token = ViewerTokens.Mint(_key, account, [_gateway], TimeSpan.FromHours(1), DateTimeOffset.UtcNow);
        var url = $"rtsp://127.0.0.1:{_server.Port}/live/{_device}/1/main";
        var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await s.ConnectAsync(IPAddress.Loopback, _server.Port);
        var auth = "Authorization: Bearer " + token + "\r\n";
        await Expect200(s, $"DESCRIBE {url} RTSP/1.0\r\nCSeq: 1\r\n{auth}\r\n");
        var setup = await Expect200(s, $"SETUP {url}/trackID=0 RTSP/1.0\r\nCSeq: 2\r\n{auth}Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n");
        var session = setup.Split("\r\n").First(l => l.StartsWith("Session:", StringComparison.OrdinalIgnoreCase))[8..].Split(';')[0].Trim();
        await Expect200(s, $"PLAY {url} RTSP/1.0\r\nCSeq: 3\r\n{auth}Session: {session}\r\n\r\n");
        return s;
    }

    /// <summary>Sends a request and reads its response head (and body) byte by byte: set-up only, not timed.</summary>
    private static async Task<string> Expect200(Socket s, string request)
    {
        await s.SendAsync(Encoding.ASCII.GetBytes(request));
        var head = new StringBuilder();
        var one = new byte[1];
        while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
        {
            if (await s.ReceiveAsync(one) == 0)
            {
                throw new IOException("the gateway closed the connection during set-up");
            }
            head.Append((char)one[0]);
        }
        var text = head.ToString();
        if (!text.StartsWith("RTSP/1.0 200", StringComparison.Ordinal))
        {
            throw new InvalidOperationException("set-up failed: " + text.Split("\r\n")[0]);
        }
        var length = text.Split("\r\n").FirstOrDefault(l => l.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase));
        if (length is not null)
        {
            var body = new byte[int.Parse(length[15..].Trim())];
            for (var read = 0; read < body.Length;)
            {
                read += await s.ReceiveAsync(body.AsMemory(read));
            }
        }
        return text;
    }

    public async ValueTask DisposeAsync()
    {
        await _server.DisposeAsync();
        await _relay.DisposeAsync();
        await _camera.DisposeAsync();
    }
}
