using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using HikShareCloud;
using HikShareGateway.Composition;
using HikShareGateway.Tests.Infrastructure;

namespace HikShareGateway.Tests.Host;

/// <summary>
/// The README's main job, as a newcomer runs it: the real <c>hikshare-gateway demo</c> process (demo recorder,
/// embedded broker, demo cloud key and share) prints a viewer URL; ffprobe plays it; the printed revoke
/// command cuts the running viewer; SIGTERM stops the daemon cleanly.
/// </summary>
[Trait("Category", "Integration")]
public sealed partial class DemoProcessTests
{
    [Fact]
    public async Task Demo_PrintedUrlPlaysInFfmpeg_RevokeCutsTheViewer_SigtermExitsZero()
    {
        await using var demo = await DemoGatewayProcess.StartAsync();
        var p = demo.Process;
        string Out() => demo.Output;
        var url = demo.ViewerUrl;
        var probe = await Ffprobe.CountPacketsAsync(url, packets: 30, timeout: TimeSpan.FromSeconds(30));
        Assert.True(probe.VideoPackets >= 30, probe + "\n" + Out());
        Assert.Equal("h264", probe.CodecName);
        Assert.Equal(640, probe.Width);
        // Contract §6: the upstream's address never reaches a log (the Info line names the path only).
        await demo.WaitForOutputAsync("playing:");
        var upstreamLines = Out().Split('\n').Where(l => l.Contains("Upstream rtsp://", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(upstreamLines);
        Assert.All(upstreamLines, l => Assert.DoesNotContain("127.0.0.1", l));

        // A long-running viewer, then the revoke command the demo printed.
        long recorded = 0;
        var viewer = FfmpegRecord.RunAsync(url, duration: TimeSpan.FromSeconds(60), timeout: TimeSpan.FromSeconds(90), onFrames: f => Interlocked.Exchange(ref recorded, f));
        await Wait.UntilAsync(() => Interlocked.Read(ref recorded) > 0 || viewer.IsCompleted, "the viewer records frames", 30_000);
        Assert.False(viewer.IsCompleted, "the viewer ended before the revocation");
        var revoke = Revoke().Match(Out());
        Assert.True(revoke.Success, Out());
        var delta = new StringWriter();
        Assert.Equal(0, await CloudTool.RunAsync(["delta", "--key", revoke.Groups["key"].Value, "--gateway", DemoDefaults.GatewayId, "--base", revoke.Groups["base"].Value,
            "--version", revoke.Groups["version"].Value, "--remove-share", DemoCloud.ShareId], delta, TextWriter.Null, TextReader.Null));
        var revokedAt = Stopwatch.StartNew();
        Assert.Equal(0, await CloudTool.RunAsync(["publish", "--broker", revoke.Groups["broker"].Value, "--gateway", DemoDefaults.GatewayId, "--delta", "-"],
            TextWriter.Null, TextWriter.Null, new StringReader(delta.ToString())));
        var ended = await viewer.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.True(revokedAt.Elapsed < TimeSpan.FromSeconds(10), $"viewer ended {revokedAt.Elapsed} after the revoke");
        Assert.True(ended.Frames > 0, ended.ToString());
        await demo.WaitForOutputAsync("Revoked session");
        Assert.DoesNotContain(DemoDefaultsPassword, Out());

        // SIGTERM: graceful shutdown, exit code 0.
        using (var kill = Process.Start("kill", ["-TERM", p.Id.ToString()]))
        {
            await kill.WaitForExitAsync();
        }
        await p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(20));
        Assert.True(p.ExitCode == 0, $"exit {p.ExitCode}\n{Out()}");
    }

    [Fact]
    public async Task RtspPortInUse_OneClearLine_ExitCode69()
    {
        using var taken = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Any, 0);
        taken.Start();
        var port = ((System.Net.IPEndPoint)taken.LocalEndpoint).Port;
        var dir = Path.Combine(Path.GetTempPath(), "hikshare-port-test-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        var config = Path.Combine(dir, "gateway.json");
        File.WriteAllText(config, $$"""
            { "Gateway": { "Id": "gw-port", "StateDirectory": "{{dir}}" }, "Rtsp": { "Port": {{port}}, "BindAddress": "0.0.0.0" },
              "Http": { "Port": 0 }, "Admin": { "Port": {{PortAllocator.GetFreeTcpPort()}} }, "Discovery": { "Enabled": false } }
            """);
        var run = await ToolRunner.RunAsync("dotnet", [Path.Combine(AppContext.BaseDirectory, "hikshare-gateway.dll"), "--config", config], TimeSpan.FromSeconds(60));
        Directory.Delete(dir, recursive: true);
        Assert.Equal(69, run.ExitCode);
        Assert.Contains($"hikshare-gateway: cannot start: Rtsp:Port {port}: cannot listen (AddressAlreadyInUse)", run.Stderr);
        Assert.DoesNotContain("   at ", run.Stdout + run.Stderr); // no stack trace for an installer's mistake
    }

    private const string DemoDefaultsPassword = "demo-password";

    [GeneratedRegex(@"delta --key (?<key>\S+) --gateway \S+ --base (?<base>\d+) --version (?<version>\d+).*\n.*publish --broker (?<broker>\S+)")]
    private static partial Regex Revoke();
}
