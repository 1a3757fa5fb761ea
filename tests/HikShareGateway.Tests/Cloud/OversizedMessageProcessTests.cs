using System.Text.Json;
using HikShareGateway.Access.Grants;
using HikShareGateway.Core.Access;
using HikShareGateway.Tests.Infrastructure;
using static HikShareGateway.Tests.Access.AccessTestKit;

namespace HikShareGateway.Tests.Cloud;

/// <summary>
/// Issue 17 point 5 as reported: a 100 MB message on the delta topic of a real gateway process (through a real
/// mosquitto) took its RSS to 488 MB and never gave it back. Now the packet is skipped on the socket unread.
/// </summary>
[Trait("Category", "Integration")]
public sealed class OversizedMessageProcessTests : IAsyncLifetime
{
    private const string GatewayId = HikShareGateway.Composition.DemoDefaults.GatewayId;
    private const string Prefix = "hikshare/v1/gateways/" + GatewayId;
    private MosquittoBroker _broker = null!;

    public async Task InitializeAsync() => _broker = await MosquittoBroker.StartAsync();
    public async Task DisposeAsync() => await _broker.DisposeAsync();

    [Fact]
    public async Task HundredMegabyteDelta_DoesNotRaiseTheGatewaysPeakMemory_AndIsReportedToTheCloud()
    {
        await using var cloud = await MosquittoTestClient.ConnectAsync(_broker.Port);
        await cloud.SubscribeAsync(Prefix + "/status");
        var bob = Share("sh-1", Bob, ShareState.Accepted, On(Nvr, Privilege.LiveView, 1));
        await cloud.PublishAsync(Prefix + "/grants", Sign(Snapshot(5, [bob], gatewayId: GatewayId)), retain: true);
        await using var gw = await DemoGatewayProcess.StartAsync(new Dictionary<string, string>
        {
            ["HIKSHARE_Cloud__Broker"] = _broker.Url,
            ["HIKSHARE_Cloud__TrustedKeys__0__kid"] = Key.Public.Kid,
            ["HIKSHARE_Cloud__TrustedKeys__0__kty"] = "OKP",
            ["HIKSHARE_Cloud__TrustedKeys__0__crv"] = "Ed25519",
            ["HIKSHARE_Cloud__TrustedKeys__0__x"] = HikShareGateway.Access.Jose.Base64UrlStrict.Encode(Key.Public.PublicKey),
        }, demoCloud: false);
        var before = Memory(gw.Process.Id);

        // mosquitto_pub, as in the report (and with no client-side timeout on a loaded machine).
        var file = Path.Combine(Path.GetTempPath(), "hikshare-100mb-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            await using (var f = File.Create(file))
            {
                f.SetLength(100 * 1024 * 1024);
            }
            var pub = System.Diagnostics.Process.Start("mosquitto_pub", ["-h", "127.0.0.1", "-p", _broker.Port.ToString(), "-q", "1", "-t", Prefix + "/grants/delta", "-f", file])!;
            await pub.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(120));
            Assert.Equal(0, pub.ExitCode);
        }
        finally
        {
            File.Delete(file);
        }

        var status = await cloud.WaitForAsync(Prefix + "/status", p => p.Contains("grantsRejected"), 60_000);
        using (var doc = JsonDocument.Parse(status.Payload))
        {
            Assert.Equal("too-large", doc.RootElement.GetProperty("grantsRejected").GetProperty("reason").GetString());
            Assert.Equal(5, doc.RootElement.GetProperty("grantsVersion").GetInt64());
        }
        var after = Memory(gw.Process.Id);
        // The peak (VmHWM) can only rise: had the 100 MB been buffered even once, it would be 100 MB above the RSS before.
        Assert.True(after.PeakKb - before.RssKb < 40 * 1024,
            $"peak RSS {after.PeakKb / 1024} MB after a 100 MB message, RSS before {before.RssKb / 1024} MB (peak before {before.PeakKb / 1024} MB)");
        Assert.False(gw.Process.HasExited);
        await gw.WaitForOutputAsync("its payload was skipped unread");
    }

    private static (long RssKb, long PeakKb) Memory(int pid)
    {
        long rss = 0, peak = 0;
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                rss = long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]);
            }
            else if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
            {
                peak = long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]);
            }
        }
        return (rss, peak);
    }
}
