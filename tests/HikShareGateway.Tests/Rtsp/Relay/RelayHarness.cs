using System.Globalization;
using System.Security.Cryptography.X509Certificates;
using HikShareGateway.Access.Credentials;
using HikShareGateway.Access.Grants;
using HikShareGateway.Access.Sessions;
using HikShareGateway.Access.Tokens;
using HikShareGateway.Composition;
using HikShareGateway.Core.Access;
using HikShareGateway.Core.Configuration;
using HikShareGateway.Core.Devices;
using HikShareGateway.Media;
using HikShareGateway.Rtsp;
using HikShareGateway.Rtsp.Demo;
using HikShareGateway.Rtsp.Server;
using HikShareGateway.Rtsp.Upstream;
using HikShareGateway.Tests.Access;
using HikShareGateway.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using static HikShareGateway.Tests.Access.AccessTestKit;

namespace HikShareGateway.Tests.Rtsp.Relay;

/// <summary>
/// The relay as the host wires it — <see cref="Features.Build"/>: grants store, token authenticator, RTSP credentials,
/// session registry, device catalog, live relay, RTSP server — with the demo recorder (our simulator of a Hikvision
/// camera with Digest auth) as the upstream. Grants are applied as signed snapshots, viewers present minted tokens.
/// </summary>
internal sealed class RelayHarness : IAsyncDisposable
{
    public const string Device = Nvr;
    public const string CameraUser = "admin";
    public const string CameraPassword = "cam-secret-Pa55";

    private long _version;
    private readonly string _stateDir;
    private readonly WebApplication _app;
    private readonly RtspHostedService _rtsp;

    private RelayHarness(string stateDir, WebApplication app, DemoCamera? camera)
    {
        _stateDir = stateDir;
        _app = app;
        _rtsp = app.Services.GetServices<IHostedService>().OfType<RtspHostedService>().Single();
        Store = app.Services.GetRequiredService<GrantsStore>();
        Registry = app.Services.GetRequiredService<SessionRegistry>(); // constructed now: it follows grant changes
        Audit = (RecordingAuditSink)app.Services.GetRequiredService<IAuditSink>();
        Relay = app.Services.GetRequiredService<LiveRelay>();
        Server = app.Services.GetRequiredService<RtspServer>();
        RtspCredentials = app.Services.GetRequiredService<RtspCredentialStore>();
        Camera = camera;
    }

    /// <summary>The gateway's services as the host composed them (e.g. <c>IMp4Streams</c>, <c>AccountSessionLimiter</c>).</summary>
    public IServiceProvider Services => _app.Services;

    public GrantsStore Store { get; }
    public SessionRegistry Registry { get; }
    public RecordingAuditSink Audit { get; }
    public LiveRelay Relay { get; }
    public RtspServer Server { get; }
    public DemoCamera? Camera { get; private set; }
    public int Port => Server.Port;
    public int CameraPort { get; private set; }

    /// <summary>RTSP credentials (contract §4.1) the authenticator accepts as Basic and Digest.</summary>
    public RtspCredentialStore RtspCredentials { get; }

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
        /// <summary>More configuration keys (e.g. <c>Limits:SessionsPerAccount</c>), applied over the harness's own.</summary>
        public IReadOnlyDictionary<string, string?> Settings { get; init; } = new Dictionary<string, string?>();
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
        public ILogger<RtspServer>? ServerLogger { get; init; }
        /// <summary>Receives every other logger of the host too (the viewer connections' among them).</summary>
        public ILoggerProvider? LoggerProvider { get; init; }
        /// <summary>Wraps the authenticator the server uses (e.g. to record what viewers presented).</summary>
        public Func<IViewerAuthenticator, IViewerAuthenticator>? WrapAuthenticator { get; init; }
        public int AuthFailureLimit { get; init; } = 1000;
        /// <summary>The demo recorder refuses TCP (461) and sends RTP over UDP.</summary>
        public bool UdpOnlyCamera { get; init; }
        /// <summary>RTSPS too, with this certificate (on <see cref="TlsPort"/>).</summary>
        public X509Certificate2? TlsCertificate { get; init; }
    }

    public static byte[] Clip => File.ReadAllBytes(RtspFeature.FindDemoClip() ?? throw new FileNotFoundException("demo clip"));

    /// <summary>
    /// The gateway as the host composes it (<see cref="Features.Build"/> from configuration keys: access, device
    /// catalog, live relay, RTSP server), with the test's sub-second settings, a recording audit sink and the optional
    /// authenticator wrapper put in through the build's hook; only the RTSP service is started.
    /// </summary>
    public static async Task<RelayHarness> StartAsync(Options? options = null)
    {
        options ??= new Options();
        DemoCamera? camera = null;
        var cameraPort = 0;
        if (options.StartCamera && options.MainUri is null)
        {
            camera = new DemoCamera(Clip, 25, CameraUser, CameraPassword, TimeProvider.System, NullLogger.Instance) { UdpOnly = options.UdpOnlyCamera };
            camera.Start(0);
            cameraPort = camera.Port;
        }
        var main = options.MainUri ?? new Uri($"rtsp://127.0.0.1:{cameraPort}/Streaming/Channels/101");
        var sub = options.MainUri is null ? new Uri($"rtsp://127.0.0.1:{cameraPort}/Streaming/Channels/102") : null;
        var credentials = options.Credentials ?? new DeviceCredentials(CameraUser, CameraPassword);
        // A port taken between the allocator and the listen (tests run in parallel): try again with another.
        for (var attempt = 1; ; attempt++)
        {
            var stateDir = TempDirectory();
            var app = Build(options, stateDir, main, sub, credentials);
            var harness = new RelayHarness(stateDir, app, camera) { CameraPort = cameraPort };
            try
            {
                await harness._rtsp.StartAsync(default);
                return harness;
            }
            catch (StartupException) when (attempt < 3)
            {
                await harness.DisposeAppAsync();
            }
        }
    }

    private static WebApplication Build(Options options, string stateDir, Uri main, Uri? sub, DeviceCredentials credentials)
    {
        var x = Key.Public.ToJson().Split("\"x\":\"")[1].TrimEnd('}', '"');
        var values = new Dictionary<string, string?>
        {
            ["Gateway:Id"] = GatewayId,
            ["Gateway:StateDirectory"] = stateDir,
            ["Http:Port"] = "0",
            ["Admin:Port"] = PortAllocator.GetFreeTcpPort().ToString(CultureInfo.InvariantCulture),
            ["Discovery:Enabled"] = "false",
            ["Onvif:Events"] = "false",
            ["Access:AuthFailureLimit"] = options.AuthFailureLimit.ToString(CultureInfo.InvariantCulture),
            ["Rtsp:Port"] = PortAllocator.GetFreeTcpPort().ToString(CultureInfo.InvariantCulture),
            ["Rtsp:BindAddress"] = "127.0.0.1",
            ["Cloud:TrustedKeys:0:kid"] = Key.Public.Kid,
            ["Cloud:TrustedKeys:0:kty"] = "OKP",
            ["Cloud:TrustedKeys:0:crv"] = "Ed25519",
            ["Cloud:TrustedKeys:0:x"] = x,
            ["Devices:0:DeviceId"] = Device,
            ["Devices:0:Username"] = credentials.Username,
            ["Devices:0:Password"] = credentials.Password,
            ["Devices:0:Channels:0:Channel"] = "1",
            ["Devices:0:Channels:0:Main"] = main.ToString(),
            ["Devices:0:Channels:0:Sub"] = sub?.ToString(),
            ["Devices:0:Channels:1:Channel"] = "2",
            ["Devices:0:Channels:1:Main"] = main.ToString(),
        };
        foreach (var (key, value) in options.Settings)
        {
            values[key] = value;
        }
        if (options.TlsCertificate is { } certificate)
        {
            var pem = Path.Combine(stateDir, "rtsps.pem");
            File.WriteAllText(pem, certificate.ExportCertificatePem() + "\n" + (certificate.GetECDsaPrivateKey()?.ExportPkcs8PrivateKeyPem()
                ?? certificate.GetRSAPrivateKey()!.ExportPkcs8PrivateKeyPem()));
            certificate.Dispose(); // the harness owns it, as the server did; the gateway loads the file
            values["Rtsp:TlsCertificateFile"] = pem;
            values["Rtsp:TlsPort"] = PortAllocator.GetFreeTcpPort().ToString(CultureInfo.InvariantCulture);
        }
        var errors = new List<string>();
        var app = Features.Build(new ConfigurationBuilder().AddInMemoryCollection(values).Build(),
            new GatewayContext(false, CommandLine.Parse([]), DateTimeOffset.UtcNow), errors, builder =>
            {
                var services = builder.Services;
                services.AddSingleton(options.Relay);
                services.AddSingleton(UpstreamOptions.Default with { StallTimeout = TimeSpan.FromSeconds(3) });
                services.AddSingleton(new ViewerServerSettings(
                    new ConnectionLimits(options.MaxConnections, options.MaxUnauthenticated, options.MaxUnauthenticatedPerAddress, options.HandshakeTimeout)
                    { ReportInterval = options.LimitsReportInterval },
                    options.QueueLimits, options.IdleTimeout));
                services.AddSingleton<IAuditSink>(new RecordingAuditSink());
                if (options.ServerLogger is { } logger)
                {
                    services.AddSingleton(logger);
                }
                if (options.LoggerProvider is { } provider)
                {
                    services.AddSingleton<ILoggerFactory>(new LoggerFactory([provider]));
                }
                if (options.WrapAuthenticator is { } wrap)
                {
                    var inner = services.Last(d => d.ServiceType == typeof(IViewerAuthenticator));
                    services.AddSingleton(sp => wrap((IViewerAuthenticator)inner.ImplementationFactory!(sp)));
                }
            });
        Assert.True(app is not null, string.Join("\n", errors));
        return app!;
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
        await DisposeAppAsync();
        if (Camera is not null)
        {
            await Camera.DisposeAsync();
        }
    }

    /// <summary>Stops the RTSP service (viewers, then upstreams) and the container with the relay, registry and store.</summary>
    private async Task DisposeAppAsync()
    {
        await _rtsp.StopAsync(default);
        await _app.DisposeAsync();
        try
        {
            Directory.Delete(_stateDir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
