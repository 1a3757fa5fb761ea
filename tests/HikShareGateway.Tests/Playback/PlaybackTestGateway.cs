using HikShareGateway.Access.Grants;
using HikShareGateway.Access.Tokens;
using HikShareGateway.Composition;
using HikShareGateway.Core.Access;
using HikShareGateway.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using static HikShareGateway.Tests.Access.AccessTestKit;

namespace HikShareGateway.Tests.Playback;

/// <summary>
/// The whole gateway as the host builds it (<see cref="Features.Build"/>), on loopback ports, with device <see cref="Nvr"/>
/// channel 1 playing back from <paramref name="playbackTemplate"/>, grants applied to the real store (signed snapshot),
/// and viewer tokens signed with the trusted test key.
/// </summary>
internal sealed class PlaybackTestGateway : IAsyncDisposable
{
    private readonly string _dir;

    private PlaybackTestGateway(WebApplication app, string dir, int rtspPort)
    {
        App = app;
        _dir = dir;
        RtspPort = rtspPort;
    }

    public WebApplication App { get; }
    public int RtspPort { get; }
    public GrantsStore Grants => (GrantsStore)App.Services.GetRequiredService<IAccessPolicy>();

    public static async Task<PlaybackTestGateway> StartAsync(string mainUrl, string? playbackTemplate, Action<Dictionary<string, string?>>? configure = null)
    {
        var dir = TempDirectory();
        var rtspPort = PortAllocator.GetFreeTcpPort();
        var values = new Dictionary<string, string?>
        {
            ["Gateway:Id"] = GatewayId,
            ["Gateway:StateDirectory"] = dir,
            ["Http:Port"] = "0",
            ["Admin:Port"] = PortAllocator.GetFreeTcpPort().ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Rtsp:Port"] = rtspPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Rtsp:BindAddress"] = "127.0.0.1",
            ["Rtsp:UpstreamTimeoutSeconds"] = "5",
            ["Discovery:Enabled"] = "false",
            ["Cloud:TrustedKeys:0:kid"] = Key.Public.Kid,
            ["Cloud:TrustedKeys:0:kty"] = "OKP",
            ["Cloud:TrustedKeys:0:crv"] = "Ed25519",
            ["Cloud:TrustedKeys:0:x"] = Key.Public.ToJson().Split("\"x\":\"")[1].TrimEnd('}', '"'),
            ["Devices:0:DeviceId"] = Nvr,
            ["Devices:0:Channels:0:Channel"] = "1",
            ["Devices:0:Channels:0:Main"] = mainUrl,
            ["Devices:0:Channels:0:Playback"] = playbackTemplate,
        };
        configure?.Invoke(values);
        var config = new ConfigurationBuilder().AddInMemoryCollection(values).Build();
        var errors = new List<string>();
        var app = Features.Build(config, new GatewayContext(false, CommandLine.Parse([]), DateTimeOffset.UtcNow), errors)
                  ?? throw new InvalidOperationException("configuration errors: " + string.Join("; ", errors));
        await app.StartAsync();
        return new PlaybackTestGateway(app, dir, rtspPort);
    }

    /// <summary>Bob gets <paramref name="privileges"/> on channel 1 of the NVR (a signed snapshot, version <paramref name="version"/>).</summary>
    public void Grant(Privilege privileges, long version = 1, string account = Bob)
    {
        var result = Grants.Apply(GrantMessageKind.Snapshot, Sign(Snapshot(version, [Share("sh-" + version, account, ShareState.Accepted, On(Nvr, privileges, 1))])));
        if (result.Outcome != GrantApplyOutcome.Applied)
        {
            throw new InvalidOperationException("grants not applied: " + result.Reason);
        }
    }

    public static string Token(string account = Bob) => ViewerTokens.Mint(Key, account, [GatewayId], TimeSpan.FromMinutes(10), DateTimeOffset.UtcNow);

    /// <summary><c>rtsp://127.0.0.1:port/playback/{Nvr}/1?start=…[&amp;end=…]&amp;token=…</c></summary>
    public string PlaybackUrl(string start = "20261125T100000Z", string? end = null, string? token = null, int channel = 1)
        => $"rtsp://127.0.0.1:{RtspPort}/playback/{Nvr}/{channel}?start={start}{(end is null ? "" : "&end=" + end)}&token={token ?? Token()}";

    public async ValueTask DisposeAsync()
    {
        await App.StopAsync();
        await App.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }
}
