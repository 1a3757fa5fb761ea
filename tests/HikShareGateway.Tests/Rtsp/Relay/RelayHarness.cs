using HikShareGateway.Access;
using HikShareGateway.Access.Credentials;
using HikShareGateway.Access.Grants;
using HikShareGateway.Access.Sessions;
using HikShareGateway.Access.Tokens;
using HikShareGateway.Composition;
using HikShareGateway.Core.Access;
using HikShareGateway.Core.Devices;
using HikShareGateway.Media;
using HikShareGateway.Rtsp;
using HikShareGateway.Rtsp.Demo;
using HikShareGateway.Rtsp.Server;
using HikShareGateway.Rtsp.Upstream;
using HikShareGateway.Tests.Access;
using Microsoft.Extensions.Logging.Abstractions;
using static HikShareGateway.Tests.Access.AccessTestKit;

namespace HikShareGateway.Tests.Rtsp.Relay;

/// <summary>
/// The relay as the host wires it — grants store, token authenticator, session registry, device catalog,
/// live relay, RTSP server — with the demo recorder (our simulator of a Hikvision camera with Digest auth)
/// as the upstream. Grants are applied as signed snapshots, viewers present minted tokens.
/// </summary>
internal sealed class RelayHarness : IAsyncDisposable
{
    public const string Device = Nvr;
    public const string CameraUser = "admin";
    public const string CameraPassword = "cam-secret-Pa55";

    private long _version;
    private readonly string _stateDir;

    private RelayHarness(string stateDir, GrantsStore store, SessionRegistry registry, RecordingAuditSink audit, StaticDeviceCatalog catalog, LiveRelay relay, RtspServer server, DemoCamera? camera)
    {
        _stateDir = stateDir;
        Store = store;
        Registry = registry;
        Audit = audit;
        Catalog = catalog;
        Relay = relay;
        Server = server;
        Camera = camera;
    }

    public GrantsStore Store { get; }
    public SessionRegistry Registry { get; }
    public RecordingAuditSink Audit { get; }
    public StaticDeviceCatalog Catalog { get; }
    public LiveRelay Relay { get; }
    public RtspServer Server { get; }
    public DemoCamera? Camera { get; private set; }
    public int Port => Server.Port;
    public int CameraPort { get; private set; }

    /// <summary>RTSP credentials (contract §4.1) the authenticator accepts as Basic and Digest.</summary>
    public RtspCredentialStore RtspCredentials { get; private init; } = null!;

    /// <summary>Issues an RTSP credential for <paramref name="account"/> (as <c>POST /api/v1/rtsp-credentials</c> does).</summary>
    public IssuedRtspCredential IssueRtspCredential(string account)
    {
        Assert.Equal(RtspCredentialIssue.Issued, RtspCredentials.TryIssue(account, DateTimeOffset.UtcNow.AddHours(1), null, out var issued));
        return issued!;
    }

    public sealed record Options
    {
        public ViewerQueueLimits QueueLimits { get; init; } = ViewerQueueLimits.Default;
        public RelayOptions Relay { get; init; } = new() { UpstreamLinger = TimeSpan.FromMilliseconds(300), ReconnectMin = TimeSpan.FromMilliseconds(200), ReconnectMax = TimeSpan.FromSeconds(1) };
        public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromSeconds(60);
        /// <summary>Main stream URI; default the demo recorder started by the harness.</summary>
        public Uri? MainUri { get; init; }
        public DeviceCredentials? Credentials { get; init; }
        public bool StartCamera { get; init; } = true;
        public int MaxConnections { get; init; } = 1000;
        /// <summary>The unauthenticated pool (<see cref="ConnectionLimits"/>); default large enough for every test's burst of viewers.</summary>
        public int MaxUnauthenticated { get; init; } = 1000;
        public int MaxUnauthenticatedPerAddress { get; init; } = 1000;
        public TimeSpan HandshakeTimeout { get; init; } = ConnectionLimits.Default.HandshakeTimeout;
        public TimeSpan LimitsReportInterval { get; init; } = ConnectionLimits.Default.ReportInterval;
        public Microsoft.Extensions.Logging.ILogger<RtspServer>? ServerLogger { get; init; }
        /// <summary>Wraps the authenticator the server uses (e.g. to record what viewers presented).</summary>
        public Func<IViewerAuthenticator, IViewerAuthenticator>? WrapAuthenticator { get; init; }
        public int AuthFailureLimit { get; init; } = 1000;
        /// <summary>The demo recorder refuses TCP (461) and sends RTP over UDP.</summary>
        public bool UdpOnlyCamera { get; init; }
        /// <summary>RTSPS too, with this certificate (on <see cref="TlsPort"/>).</summary>
        public System.Security.Cryptography.X509Certificates.X509Certificate2? TlsCertificate { get; init; }
    }

    public static byte[] Clip => File.ReadAllBytes(RtspFeature.FindDemoClip() ?? throw new FileNotFoundException("demo clip"));

    public static async Task<RelayHarness> StartAsync(Options? options = null)
    {
        options ??= new Options();
        var time = TimeProvider.System;
        DemoCamera? camera = null;
        var cameraPort = 0;
        if (options.StartCamera && options.MainUri is null)
        {
            camera = new DemoCamera(Clip, 25, CameraUser, CameraPassword, time, NullLogger.Instance) { UdpOnly = options.UdpOnlyCamera };
            camera.Start(0);
            cameraPort = camera.Port;
        }
        var main = options.MainUri ?? new Uri($"rtsp://127.0.0.1:{cameraPort}/Streaming/Channels/101");
        var sub = options.MainUri is null ? new Uri($"rtsp://127.0.0.1:{cameraPort}/Streaming/Channels/102") : null;
        var catalog = new StaticDeviceCatalog([new DeviceInfo
        {
            DeviceId = Device,
            Credentials = options.Credentials ?? new DeviceCredentials(CameraUser, CameraPassword),
            Channels = [new ChannelInfo { Channel = 1, MainUri = main, SubUri = sub }, new ChannelInfo { Channel = 2, MainUri = main }],
        }]);
        var stateDir = TempDirectory();
        var store = new GrantsStore(new GrantsStoreSettings(GatewayId, stateDir), Keys, time, NullLogger<GrantsStore>.Instance);
        var audit = new RecordingAuditSink();
        var registry = new SessionRegistry(store, audit, time, NullLogger<SessionRegistry>.Instance);
        var rtspCredentials = new RtspCredentialStore(null, time);
        var authenticator = new ViewerAuthenticator(Keys, GatewayId, new AccessOptions { AuthFailureLimit = options.AuthFailureLimit }, time, NullLogger<ViewerAuthenticator>.Instance,
            credentials: rtspCredentials);
        var relay = new LiveRelay(new CatalogUpstreamConnector(catalog, UpstreamOptions.Default with { StallTimeout = TimeSpan.FromSeconds(3) }, time, NullLoggerFactory.Instance),
            options.Relay, time, NullLoggerFactory.Instance);
        var resolver = new ViewerMediaResolver(catalog, relay, TimeSpan.FromSeconds(10));
        var server = new RtspServer(new ViewerServices(options.WrapAuthenticator?.Invoke(authenticator) ?? authenticator, store, registry, audit, resolver, options.QueueLimits, options.IdleTimeout, time,
            NullLogger.Instance), new ConnectionLimits(options.MaxConnections, options.MaxUnauthenticated, options.MaxUnauthenticatedPerAddress, options.HandshakeTimeout)
            { ReportInterval = options.LimitsReportInterval },
            options.ServerLogger ?? NullLogger<RtspServer>.Instance);
        server.Start("127.0.0.1", 0);
        if (options.TlsCertificate is { } certificate)
        {
            server.StartTls("127.0.0.1", 0, certificate);
        }
        return new RelayHarness(stateDir, store, registry, audit, catalog, relay, server, camera) { CameraPort = cameraPort, RtspCredentials = rtspCredentials };
    }

    /// <summary>Stops the demo recorder (the upstream drops) and starts a new one on the same port.</summary>
    public async Task RestartCameraAsync(TimeSpan downtime)
    {
        await Camera!.DisposeAsync();
        await Task.Delay(downtime);
        var camera = new DemoCamera(Clip, 25, CameraUser, CameraPassword, TimeProvider.System, NullLogger.Instance);
        camera.Start(CameraPort);
        Camera = camera;
    }

    /// <summary>Applies a signed snapshot (next version) with these shares; the owner owns <see cref="Device"/>.</summary>
    public GrantApplyResult Grant(params Share[] shares)
    {
        var v = Interlocked.Increment(ref _version);
        return Store.Apply(GrantMessageKind.Snapshot, Sign(Snapshot(v, shares)));
    }

    public static Share LiveShare(string recipient, Privilege privileges = Privilege.LiveView, string id = "sh-1", params int[] channels)
        => Share(id, recipient, ShareState.Accepted, On(Device, privileges, channels));

    public static string Token(string account, TimeSpan? ttl = null, string? audience = null)
        => ViewerTokens.Mint(Key, account, [audience ?? GatewayId], ttl ?? TimeSpan.FromHours(1), DateTimeOffset.UtcNow);

    public string Url(string path = "/live/" + Device + "/1/main", string? token = null)
        => $"rtsp://127.0.0.1:{Port}{path}" + (token is null ? "" : (path.Contains('?') ? "&" : "?") + "token=" + token);

    /// <summary>The RTSPS URL (<see cref="Options.TlsCertificate"/>).</summary>
    public string TlsUrl(string path = "/live/" + Device + "/1/main", string? token = null)
        => $"rtsps://127.0.0.1:{Server.TlsPort}{path}" + (token is null ? "" : (path.Contains('?') ? "&" : "?") + "token=" + token);

    public async ValueTask DisposeAsync()
    {
        await Server.DisposeAsync();
        await Relay.DisposeAsync();
        if (Camera is not null)
        {
            await Camera.DisposeAsync();
        }
        Registry.Dispose();
        Store.Dispose();
        try
        {
            Directory.Delete(_stateDir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
