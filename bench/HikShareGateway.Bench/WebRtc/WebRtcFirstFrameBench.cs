using System.Globalization;
using System.Text.Json;
using HikShareGateway.Bench.Access;
using HikShareGateway.Bench.Relay;
using Microsoft.Playwright;

namespace HikShareGateway.Bench.WebRtc;

/// <summary>
/// <c>webrtc-first-frame</c>: WHEP POST → first decoded frame in Debian's headless Chromium on loopback, p50 over
/// <c>--runs</c> sessions, each in a fresh page, against the gateway process of the <c>webrtc</c> bench (its camera:
/// 720p25 H.264 Main profile at 4 Mbit/s, one IDR per second). Each run also gives the steps on the page's clock: the answer,
/// ICE connected, DTLS connected (connectionState), first frame (<c>requestVideoFrameCallback</c>).
/// </summary>
public static class WebRtcFirstFrameBench
{
    private const string Device = "DS-7608NI-K2-BENCH001";

    // Runs on a page of the gateway's own origin (no CORS): one recvonly video session, timed step by step.
    private const string Session = """
        async ({ path, token }) => {
          const t = {};
          const pc = new RTCPeerConnection();
          window.pc = pc;
          pc.addTransceiver('video', { direction: 'recvonly' });
          const video = document.createElement('video');
          video.muted = true; video.autoplay = true; video.playsInline = true;
          document.body.appendChild(video);
          const media = new MediaStream();
          video.srcObject = media;
          pc.ontrack = e => media.addTrack(e.track);
          pc.oniceconnectionstatechange = () => { if (pc.iceConnectionState === 'connected' && t.ice === undefined) t.ice = performance.now() - t0; };
          pc.onconnectionstatechange = () => { if (pc.connectionState === 'connected' && t.dtls === undefined) t.dtls = performance.now() - t0; };
          await pc.setLocalDescription(await pc.createOffer());
          const t0 = performance.now();
          const response = await fetch('/whep' + path, { method: 'POST',
            headers: { 'Content-Type': 'application/sdp', 'Authorization': 'Bearer ' + token }, body: pc.localDescription.sdp });
          if (response.status !== 201) return { error: 'WHEP ' + response.status + ' ' + await response.text() };
          t.location = response.headers.get('Location');
          const answer = await response.text();
          t.answer = performance.now() - t0;
          const frame = new Promise(resolve => video.requestVideoFrameCallback(() => resolve(performance.now() - t0)));
          await pc.setRemoteDescription({ type: 'answer', sdp: answer });
          t.frame = await Promise.race([frame, new Promise(resolve => setTimeout(() => resolve(null), 15000))]);
          await fetch(t.location, { method: 'DELETE', headers: { 'Authorization': 'Bearer ' + token } });
          pc.close();
          return t;
        }
        """;

    public static async Task<int> RunAsync(string[] args)
    {
        var runs = Access.AccessCheckBench.ArgInt(args, "--runs", 20);
        var command = $"dotnet run -c Release --project bench/HikShareGateway.Bench -- webrtc-first-frame --runs {runs}";
        var repo = FindRepo();
        var gatewayDll = Path.Combine(repo, "src", "HikShareGateway", "bin", "Release", "net10.0", "hikshare-gateway.dll");
        if (!File.Exists(gatewayDll))
        {
            Console.Error.WriteLine($"build the gateway first: dotnet build src/HikShareGateway -c Release ({gatewayDll} is missing)");
            return 2;
        }
        var dir = Directory.CreateTempSubdirectory("hikshare-bench-first-frame").FullName;
        Console.WriteLine($"# {DateTime.UtcNow:yyyy-MM-ddTHH:mm:ssZ}, {Environment.ProcessorCount} cores, load average {ProcStats.LoadAverage()}");
        Console.WriteLine($"webrtc-first-frame: WHEP POST → first decoded frame in headless Chromium (/usr/bin/chromium), loopback, {runs} runs, each a fresh page");
        // Main profile: Debian's Chromium here offers no High profile H.264 (the gateway answers 422 to a High source).
        var clip = await H264Clip.EncodeAsync(dir, profile: "main");
        await using var camera = new BenchCamera(clip);
        camera.Start();
        await using var mosquitto = await BenchMosquitto.StartAsync(noDelay: true);
        await using var gateway = await WebRtcViewersBench.GatewayRig.StartAsync(dir, "first-frame", camera, mosquitto, gatewayDll, 32);

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = "/usr/bin/chromium",
            Headless = true,
            Args = ["--allow-loopback-in-peer-connection", "--no-sandbox", "--autoplay-policy=no-user-gesture-required"],
        });
        var steps = new Dictionary<string, List<double>> { ["answer"] = [], ["ice"] = [], ["dtls"] = [], ["frame"] = [] };
        Console.WriteLine($"  {"run",3} {"answer",7} {"ICE",7} {"DTLS",7} {"frame",7}  ms from the POST (page clock)");
        for (var run = 0; run <= runs; run++) // run 0 warms up (JIT of the gateway's WHEP path, Chromium's codecs)
        {
            var page = await browser.NewPageAsync();
            try
            {
                await page.GotoAsync($"{gateway.Http.BaseAddress}webrtc-demo.html");
                var result = await page.EvaluateAsync<JsonElement>(Session, new { path = $"/live/{Device}/1/main", token = gateway.Token });
                if (result.TryGetProperty("error", out var error))
                {
                    Console.WriteLine($"  {run,3} {error.GetString()}");
                    continue;
                }
                double? Get(string name) => result.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : null;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  {run,3} {Get("answer"),7:F0} {Get("ice"),7:F0} {Get("dtls"),7:F0} {Get("frame"),7:F0}{(run == 0 ? "  (warm-up)" : "")}"));
                if (run == 0) continue;
                foreach (var (name, list) in steps)
                {
                    if (Get(name) is { } ms) list.Add(ms);
                }
            }
            finally
            {
                await page.CloseAsync();
            }
        }
        foreach (var (name, list) in steps)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {name,-6} p50 {Percentile(list, 0.5),6:F0} ms  p90 {Percentile(list, 0.9),6:F0} ms  max {list.DefaultIfEmpty(double.NaN).Max(),6:F0} ms  ({list.Count} runs)"));
        }
        Console.WriteLine($"  target: first frame p50 < 500 ms; load average {ProcStats.LoadAverage()}");
        Console.WriteLine($"command: {command}");
        return 0;
    }

    private static double Percentile(List<double> values, double p)
    {
        if (values.Count == 0) return double.NaN;
        var sorted = values.Order().ToList();
        return sorted[Math.Min(sorted.Count - 1, Math.Max(0, (int)Math.Ceiling(p * sorted.Count) - 1))];
    }

    private static string FindRepo()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            if (File.Exists(Path.Combine(d.FullName, "HikShareGateway.sln"))) return d.FullName;
        }
        return Directory.GetCurrentDirectory();
    }
}
