using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;

namespace HikShareGateway.Tests.Infrastructure;

/// <summary>
/// The real <c>hikshare-gateway demo</c> process on free ports, its stdout and stderr collected in order: what an
/// installer runs and reads. <see cref="StartAsync"/> returns once the viewer URL is printed and RTSP listens.
/// </summary>
public sealed partial class DemoGatewayProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly string _state;

    private DemoGatewayProcess(Process process, string state, int rtspPort, int httpPort)
    {
        _process = process;
        _state = state;
        RtspPort = rtspPort;
        HttpPort = httpPort;
    }

    public int RtspPort { get; }
    public int HttpPort { get; }
    public Process Process => _process;
    /// <summary>The printed viewer URL with its token (<c>?token=</c> form).</summary>
    public string ViewerUrl { get; private set; } = "";
    public string Token => ViewerUrl[(ViewerUrl.IndexOf("?token=", StringComparison.Ordinal) + 7)..];

    public string Output
    {
        get { lock (_output) { return _output.ToString(); } }
    }

    /// <param name="environment">More configuration as <c>HIKSHARE_Section__Key</c> variables.</param>
    /// <param name="demoCloud">
    /// False when <paramref name="environment"/> gives a <c>Cloud:Broker</c> (and trusted keys): the demo then prints no
    /// viewer URL, and this returns once RTSP listens and the grants the test published (retained) are applied.
    /// </param>
    /// <param name="networkNamespace">Run the process in this network namespace (<c>ip netns exec</c>, a <see cref="NetworkLab"/> site).</param>
    public static async Task<DemoGatewayProcess> StartAsync(IReadOnlyDictionary<string, string>? environment = null, bool demoCloud = true,
        string? networkNamespace = null)
    {
        var state = Path.Combine(Path.GetTempPath(), "hikshare-demo-test-" + Guid.NewGuid().ToString("N")[..8]);
        var camera = PortAllocator.GetFreeTcpPort();
        var rtsp = PortAllocator.GetFreeTcpPort();
        var http = PortAllocator.GetFreeTcpPort();
        var psi = new ProcessStartInfo(networkNamespace is null ? "dotnet" : "ip") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        if (networkNamespace is not null)
        {
            // ip netns exec execs the program: the process is the gateway itself.
            foreach (var a in (string[])["netns", "exec", networkNamespace, "dotnet"])
            {
                psi.ArgumentList.Add(a);
            }
        }
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "hikshare-gateway.dll"));
        psi.ArgumentList.Add("demo");
        psi.Environment["HIKSHARE_Gateway__StateDirectory"] = state;
        psi.Environment["HIKSHARE_Rtsp__Port"] = rtsp.ToString();
        psi.Environment["HIKSHARE_Http__Port"] = http.ToString();
        psi.Environment["HIKSHARE_Admin__Port"] = PortAllocator.GetFreeTcpPort().ToString();
        psi.Environment["HIKSHARE_WebRtc__UdpPort"] = "0"; // any free port: demos run in parallel
        psi.Environment["HIKSHARE_Cloud__EmbeddedBrokerPort"] = PortAllocator.GetFreeTcpPort().ToString();
        psi.Environment["HIKSHARE_Devices__0__Channels__0__Main"] = $"rtsp://127.0.0.1:{camera}/Streaming/Channels/101";
        psi.Environment["HIKSHARE_Devices__0__Channels__0__Sub"] = $"rtsp://127.0.0.1:{camera}/Streaming/Channels/102";
        foreach (var (k, v) in environment ?? new Dictionary<string, string>())
        {
            psi.Environment[k] = v;
        }
        var p = new DemoGatewayProcess(Process.Start(psi)!, state, rtsp, http);
        p._process.OutputDataReceived += (_, e) => p.Append(e.Data);
        p._process.ErrorDataReceived += (_, e) => p.Append(e.Data);
        p._process.BeginOutputReadLine();
        p._process.BeginErrorReadLine();
        try
        {
            // The URL is printed when the demo cloud has published its grants; the gateway applies them a moment later,
            // once its MQTT client has connected: wait for that too, or a first viewer may be refused.
            await Wait.UntilAsync(() => p._process.HasExited || ((!demoCloud || QueryUrl().IsMatch(p.Output)) && p.Output.Contains("RTSP server listening")
                && p.Output.Contains("Applied grants Snapshot")), "the demo's viewer URL, RTSP listening and the grants applied", 60_000);
            Assert.False(p._process.HasExited, "the demo exited; output:\n" + p.Output);
            // RTSP and the grants are logged, but Kestrel may bind the HTTP port a moment later: a test that connects
            // at once got "connection refused" (1 run in 6). Ready means the HTTP port accepts too.
            await Wait.UntilAsync(async () =>
            {
                if (networkNamespace is not null)
                {
                    // Inside the namespace: its own loopback.
                    var r = await ToolRunner.RunAsync("ip", ["netns", "exec", networkNamespace, "bash", "-c", $"exec 3<>/dev/tcp/127.0.0.1/{http}"], TimeSpan.FromSeconds(5));
                    return r.Succeeded || p._process.HasExited;
                }
                // From 127.0.0.3, so that the probe never counts against a test's per-address limit on 127.0.0.1.
                using var probe = new System.Net.Sockets.TcpClient(new System.Net.IPEndPoint(System.Net.IPAddress.Parse("127.0.0.3"), 0));
                try
                {
                    await probe.ConnectAsync(System.Net.IPAddress.Loopback, http);
                    return true;
                }
                catch (System.Net.Sockets.SocketException)
                {
                    return p._process.HasExited;
                }
            }, "the demo's HTTP port accepting", 30_000);
            Assert.False(p._process.HasExited, "the demo exited; output:\n" + p.Output);
            p.ViewerUrl = demoCloud ? QueryUrl().Match(p.Output).Value : "";
            return p;
        }
        catch (TimeoutException e)
        {
            // Say what the demo was doing: a bare "timed out" cannot be told from a slow machine or a demo stuck at start.
            var output = p.Output;
            await p.DisposeAsync();
            throw new TimeoutException($"{e.Message}; the demo's output (last 4000 characters):\n{output[Math.Max(0, output.Length - 4000)..]}", e);
        }
        catch
        {
            await p.DisposeAsync();
            throw;
        }
    }

    /// <summary>Waits until the output contains <paramref name="text"/>.</summary>
    public Task WaitForOutputAsync(string text, int timeoutMs = 10_000) =>
        Wait.UntilAsync(() => Output.Contains(text, StringComparison.Ordinal), $"\"{text}\" in the demo's output", timeoutMs);

    private void Append(string? line)
    {
        lock (_output)
        {
            _output.AppendLine(line);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
        try
        {
            Directory.Delete(_state, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    [GeneratedRegex(@"rtsp://127\.0\.0\.1:\d+/live/demo-nvr-1/1/main\?token=[A-Za-z0-9_\-\.]+")]
    private static partial Regex QueryUrl();
}
