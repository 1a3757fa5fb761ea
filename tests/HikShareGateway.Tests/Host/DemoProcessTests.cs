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
        var state = Path.Combine(Path.GetTempPath(), "hikshare-demo-test-" + Guid.NewGuid().ToString("N")[..8]);
        var camera = PortAllocator.GetFreeTcpPort();
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "hikshare-gateway.dll"));
        psi.ArgumentList.Add("demo");
        psi.Environment["HIKSHARE_Gateway__StateDirectory"] = state;
        psi.Environment["HIKSHARE_Rtsp__Port"] = PortAllocator.GetFreeTcpPort().ToString();
        psi.Environment["HIKSHARE_Http__Port"] = PortAllocator.GetFreeTcpPort().ToString();
        psi.Environment["HIKSHARE_Admin__Port"] = PortAllocator.GetFreeTcpPort().ToString();
        psi.Environment["HIKSHARE_Cloud__EmbeddedBrokerPort"] = PortAllocator.GetFreeTcpPort().ToString();
        psi.Environment["HIKSHARE_Devices__0__Channels__0__Main"] = $"rtsp://127.0.0.1:{camera}/Streaming/Channels/101";
        psi.Environment["HIKSHARE_Devices__0__Channels__0__Sub"] = $"rtsp://127.0.0.1:{camera}/Streaming/Channels/102";
        using var p = Process.Start(psi)!;
        var output = new StringBuilder();
        p.OutputDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        p.ErrorDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        string Out() { lock (output) { return output.ToString(); } }
        try
        {
            await Wait.UntilAsync(() => p.HasExited || (QueryUrl().IsMatch(Out()) && Out().Contains("RTSP server listening")),
                "a viewer URL and the RTSP server listening", 60_000);
            Assert.False(p.HasExited, "the demo exited; output:\n" + Out());
            var url = QueryUrl().Match(Out());
            var probe = await Ffprobe.CountPacketsAsync(url.Value, packets: 30, timeout: TimeSpan.FromSeconds(30));
            Assert.True(probe.VideoPackets >= 30, probe + "\n" + Out());
            Assert.Equal("h264", probe.CodecName);
            Assert.Equal(640, probe.Width);

            // A long-running viewer, then the revoke command the demo printed.
            long recorded = 0;
            var viewer = FfmpegRecord.RunAsync(url.Value, duration: TimeSpan.FromSeconds(60), timeout: TimeSpan.FromSeconds(90), onFrames: f => Interlocked.Exchange(ref recorded, f));
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
            await Wait.UntilAsync(() => Out().Contains("Revoked session"), "a revocation log line");
            Assert.DoesNotContain(DemoDefaultsPassword, Out());

            // SIGTERM: graceful shutdown, exit code 0.
            using (var kill = Process.Start("kill", ["-TERM", p.Id.ToString()]))
            {
                await kill.WaitForExitAsync();
            }
            await p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(20));
            Assert.True(p.ExitCode == 0, $"exit {p.ExitCode}\n{Out()}");
        }
        finally
        {
            if (!p.HasExited)
            {
                p.Kill(entireProcessTree: true);
                await p.WaitForExitAsync();
            }
            try
            {
                Directory.Delete(state, recursive: true);
            }
            catch (IOException)
            {
            }
        }

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

    [GeneratedRegex(@"rtsp://127\.0\.0\.1:\d+/live/demo-nvr-1/1/main\?token=[A-Za-z0-9_\-\.]+")]
    private static partial Regex QueryUrl();

    [GeneratedRegex(@"delta --key (?<key>\S+) --gateway \S+ --base (?<base>\d+) --version (?<version>\d+).*\n.*publish --broker (?<broker>\S+)")]
    private static partial Regex Revoke();
}
