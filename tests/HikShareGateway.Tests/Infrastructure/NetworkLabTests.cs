using System.Text.RegularExpressions;

namespace HikShareGateway.Tests.Infrastructure;

/// <summary>The NAT lab itself, with coturn's own STUN client: what remote viewing tests stand on.</summary>
[Trait("Category", "Integration")]
public sealed partial class NetworkLabTests
{
    [Fact]
    public async Task GatewayBehindNat_SeesItsRoutersPublicAddress_ThroughStun_AndTheViewerSiteCannotReachIt()
    {
        await using var lab = await NetworkLab.CreateAsync();
        var turn = await CoturnServer.StartAsync(lab);

        var fromGateway = await lab.Exec(lab.Gateway, "turnutils_stunclient", "-p", CoturnServer.Port.ToString(), NetworkLab.WanA);
        Assert.Contains(NetworkLab.NatAPublic, Reflexive().Match(fromGateway.Stdout).Value);
        var fromViewer = await lab.Exec(lab.Viewer, "turnutils_stunclient", "-p", CoturnServer.Port.ToString(), NetworkLab.WanA);
        Assert.Contains(NetworkLab.NatBPublic, Reflexive().Match(fromViewer.Stdout).Value);

        // Unsolicited traffic from the internet does not reach a LAN: the viewer cannot ping the gateway's router's
        // LAN side or the gateway itself.
        var ping = await ToolRunner.RunAsync("ip", ["netns", "exec", lab.Viewer, "ping", "-c", "1", "-W", "1", NetworkLab.GatewayAddress], TimeSpan.FromSeconds(10));
        Assert.NotEqual(0, ping.ExitCode);
        Assert.Contains("hikshare.test", turn.Log);
    }

    [GeneratedRegex(@"UDP reflexive addr: (\S+)")]
    private static partial Regex Reflexive();
}
