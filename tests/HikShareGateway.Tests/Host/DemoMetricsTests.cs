using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using HikShareGateway.Tests.Infrastructure;

namespace HikShareGateway.Tests.Host;

/// <summary>
/// The metrics of the real composition: the <c>hikshare-gateway demo</c> process, a real viewer (ffprobe) through its
/// relay, then <c>/metrics</c> over HTTP — the features record into the host's injected meter and the exporter reads it.
/// </summary>
[Trait("Category", "Integration")]
public sealed partial class DemoMetricsTests
{
    [Fact]
    public async Task Metrics_RealViewerThroughTheDemo_CountsRelayedBytesDecisionsAndSessionDuration()
    {
        var state = Path.Combine(Path.GetTempPath(), "hikshare-demo-metrics-" + Guid.NewGuid().ToString("N")[..8]);
        var camera = PortAllocator.GetFreeTcpPort();
        var httpPort = PortAllocator.GetFreeTcpPort();
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "hikshare-gateway.dll"));
        psi.ArgumentList.Add("demo");
        psi.Environment["HIKSHARE_Gateway__StateDirectory"] = state;
        psi.Environment["HIKSHARE_WebRtc__UdpPort"] = "0";
        psi.Environment["HIKSHARE_Rtsp__Port"] = PortAllocator.GetFreeTcpPort().ToString(CultureInfo.InvariantCulture);
        psi.Environment["HIKSHARE_Http__Port"] = httpPort.ToString(CultureInfo.InvariantCulture);
        psi.Environment["HIKSHARE_Admin__Port"] = PortAllocator.GetFreeTcpPort().ToString(CultureInfo.InvariantCulture);
        psi.Environment["HIKSHARE_Cloud__EmbeddedBrokerPort"] = PortAllocator.GetFreeTcpPort().ToString(CultureInfo.InvariantCulture);
        psi.Environment["HIKSHARE_Devices__0__Channels__0__Main"] = $"rtsp://127.0.0.1:{camera}/Streaming/Channels/101";
        psi.Environment["HIKSHARE_Devices__0__Channels__0__Sub"] = $"rtsp://127.0.0.1:{camera}/Streaming/Channels/102";
        using var p = Process.Start(psi)!;
        var output = new StringBuilder();
        p.OutputDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        p.ErrorDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        string Out() { lock (output) { return output.ToString(); } }
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}"), Timeout = TimeSpan.FromSeconds(10) };
        try
        {
            // The URL is printed when the demo cloud has published its grants; the gateway applies them a moment later:
            // wait for that too, or the viewer is refused (403) — as DemoGatewayProcess does.
            await Wait.UntilAsync(() => p.HasExited || (QueryUrl().IsMatch(Out()) && Out().Contains("RTSP server listening")
                && Out().Contains("Applied grants Snapshot")), "the demo's viewer URL and the grants applied", 60_000);
            Assert.False(p.HasExited, Out());
            var url = QueryUrl().Match(Out()).Value;

            var probe = await Ffprobe.CountPacketsAsync(url, packets: 30, timeout: TimeSpan.FromSeconds(30));
            Assert.True(probe.VideoPackets >= 30, probe + "\n" + Out());

            // ffprobe has gone: the session ends, the registry records its duration.
            var text = "";
            await Wait.UntilAsync(() =>
            {
                using var response = http.Send(new HttpRequestMessage(HttpMethod.Get, "/metrics"));
                text = new StreamReader(response.Content.ReadAsStream()).ReadToEnd();
                return text.Contains("hikshare_session_duration_seconds_count{action=\"liveView\"} 1\n", StringComparison.Ordinal);
            }, "the ended session's duration on /metrics", 20_000);
            Assert.True(Sample(text, "hikshare_relayed_bytes_total") > 30 * 100, text);
            Assert.True(Sample(text, "hikshare_relayed_packets_total") >= 30, text);
            Assert.Equal(1, Sample(text, "hikshare_access_decisions_total{action=\"liveView\",decision=\"allow\"}"));
            Assert.Equal(0, Sample(text, "hikshare_viewer_sessions{action=\"liveView\"}"));
            Assert.Equal(1, Sample(text, "hikshare_upstream_sessions"));
            Assert.Contains("# TYPE hikshare_relayed_bytes_total counter\n", text);
            Assert.DoesNotContain("viewer@example.com", text); // no account label by default
        }
        finally
        {
            if (!p.HasExited)
            {
                p.Kill(entireProcessTree: true);
            }
            await p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(20));
            try
            {
                Directory.Delete(state, recursive: true);
            }
            catch (DirectoryNotFoundException)
            {
            }
        }
    }

    private static double Sample(string text, string series)
    {
        var at = text.IndexOf("\n" + series + " ", StringComparison.Ordinal);
        Assert.True(at >= 0, $"no {series} in\n{text}");
        var start = at + series.Length + 2;
        var end = text.IndexOf('\n', start);
        return double.Parse(text[start..end], CultureInfo.InvariantCulture);
    }

    [GeneratedRegex(@"rtsp://127\.0\.0\.1:\d+/live/demo-nvr-1/1/main\?token=[A-Za-z0-9_\-\.]+")]
    private static partial Regex QueryUrl();
}
