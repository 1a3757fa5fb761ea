using System.Globalization;
using System.Net;
using HikShareGateway.Access.Grants;
using HikShareGateway.Access.Jose;
using HikShareGateway.Access.Sessions;
using HikShareGateway.Access.Tokens;
using HikShareGateway.Composition;
using HikShareGateway.Core.Access;
using HikShareGateway.Rtsp;
using HikShareGateway.Rtsp.Server;
using HikShareGateway.Rtsp.Talk;
using HikShareGateway.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using static HikShareGateway.Tests.Access.AccessTestKit;

namespace HikShareGateway.Tests.Talk;

/// <summary>
/// The whole gateway as the host builds it (<see cref="Features.Build"/>), with its RTSP server on 127.0.0.1 and one
/// configured device whose channel 1 is a real camera (gst-rtsp-server) or anything else. Grants are applied as signed
/// snapshots, viewer tokens minted with the same trusted test key. Only the services the RTSP path needs are started.
/// </summary>
internal sealed class TalkTestGateway : IAsyncDisposable
{
    public const string DeviceId = "cam-talk-1";

    private readonly WebApplication _app;
    private readonly RtspHostedService _rtsp;
    private readonly string _dir;
    private long _version;

    private TalkTestGateway(WebApplication app, string dir)
    {
        _app = app;
        _dir = dir;
        _rtsp = app.Services.GetServices<Microsoft.Extensions.Hosting.IHostedService>().OfType<RtspHostedService>().Single();
        Store = app.Services.GetRequiredService<GrantsStore>();
        _ = app.Services.GetRequiredService<SessionRegistry>(); // constructed now: it follows grant changes
    }

    public GrantsStore Store { get; }
    public IServiceProvider Services => _app.Services;
    public int Port => _app.Services.GetRequiredService<RtspServer>().Port;
    public TalkService Talk => _app.Services.GetRequiredService<TalkService>();

    public Uri LiveUrl(int channel = 1, string stream = "main") => new($"rtsp://127.0.0.1:{Port}/live/{DeviceId}/{channel}/{stream}");

    /// <param name="extra">More configuration (e.g. <c>Devices:0:IsapiUrl</c>).</param>
    public static async Task<TalkTestGateway> StartAsync(Uri cameraMain, IDictionary<string, string?>? extra = null, string? user = null, string? password = null)
    {
        var dir = TempDirectory();
        var x = Key.Public.ToJson().Split("\"x\":\"")[1].TrimEnd('}', '"');
        var values = new Dictionary<string, string?>
        {
            ["Gateway:Id"] = GatewayId,
            ["Gateway:StateDirectory"] = dir,
            ["Http:Port"] = "0",
            ["Admin:Port"] = PortAllocator.GetFreeTcpPort().ToString(CultureInfo.InvariantCulture),
            ["Discovery:Enabled"] = "false",
            ["Onvif:Events"] = "false",
            ["Rtsp:Port"] = PortAllocator.GetFreeTcpPort().ToString(CultureInfo.InvariantCulture),
            ["Rtsp:BindAddress"] = "127.0.0.1",
            ["Rtsp:UpstreamLingerSeconds"] = "1",
            ["Cloud:TrustedKeys:0:kid"] = Key.Public.Kid,
            ["Cloud:TrustedKeys:0:kty"] = "OKP",
            ["Cloud:TrustedKeys:0:crv"] = "Ed25519",
            ["Cloud:TrustedKeys:0:x"] = x,
            ["Devices:0:DeviceId"] = DeviceId,
            ["Devices:0:Username"] = user,
            ["Devices:0:Password"] = password,
            ["Devices:0:Channels:0:Channel"] = "1",
            ["Devices:0:Channels:0:Main"] = cameraMain.ToString(),
        };
        foreach (var (k, v) in extra ?? new Dictionary<string, string?>())
        {
            values[k] = v;
        }
        var config = new ConfigurationBuilder().AddInMemoryCollection(values).Build();
        var errors = new List<string>();
        var app = Features.Build(config, new GatewayContext(false, CommandLine.Parse([]), DateTimeOffset.UtcNow), errors);
        Assert.True(app is not null, string.Join("\n", errors));
        var gateway = new TalkTestGateway(app!, dir);
        await gateway._rtsp.StartAsync(default);
        return gateway;
    }

    /// <summary>Applies a signed snapshot: the device owned by <see cref="Owner"/>, shared as given.</summary>
    public void Grant(params (string Recipient, Privilege Privileges)[] shares)
    {
        var version = Interlocked.Increment(ref _version);
        var list = shares.Select((s, i) => Share("sh-" + i.ToString(CultureInfo.InvariantCulture), s.Recipient, ShareState.Accepted, On(DeviceId, s.Privileges, 1))).ToList();
        var result = Store.Apply(GrantMessageKind.Snapshot, Sign(Snapshot(version, list, [new GrantDevice(DeviceId, Owner)])));
        Assert.Equal(GrantApplyOutcome.Applied, result.Outcome);
    }

    public static string Token(string account) => ViewerTokens.Mint(Key, account, [GatewayId], TimeSpan.FromMinutes(10), DateTimeOffset.UtcNow);

    public static NetworkCredential Credential(string account) => new(account, Token(account));

    public async ValueTask DisposeAsync()
    {
        await _rtsp.StopAsync(default);
        await _app.DisposeAsync();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
