using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json.Nodes;
using HikShareGateway.Access.Grants;
using HikShareGateway.Access.Jose;
using HikShareGateway.Access.Tokens;
using HikShareGateway.Core.Access;
using HikShareGateway.Media;
using Microsoft.Extensions.Logging.Abstractions;

namespace HikShareGateway.Bench.Relay;

/// <summary>
/// <c>fanout</c>: one 4 Mbit/s H.264 camera (<see cref="BenchCamera"/>, in this process) relayed to N viewers
/// (<see cref="BenchViewer"/>, in this process) by the gateway and by gst-rtsp-server (bench/gst-relay.py), each
/// relay a child process started afresh for every row so that its CPU and memory are its own.
/// </summary>
/// <remarks>
/// Per row:
/// 1. start the relay (the gateway with a signed grants file in a fresh state directory and an allocation probe
///    loaded as a startup hook; or gst-rtsp-server with a shared rtspsrc ! rtph264depay ! rtph264pay factory);
/// 2. connect N viewers (DESCRIBE, SETUP interleaved TCP, PLAY; 32 at a time), then warm up;
/// 3. measuring window: viewer counters, relay CPU time (/proc/pid/stat), allocation probe and the camera's
///    own counters are read at both ends; latency samples are taken only inside the window;
/// 4. viewers TEARDOWN, the relay is stopped (SIGTERM).
/// </remarks>
public static partial class FanoutBench
{
    private const string Gw = "gw-bench";
    private const string Device = "cam-bench-1";
    private const string Owner = "owner@example.com";
    private const string Viewer = "viewer@example.com";

    private sealed record Options(int[] Viewers, int Seconds, int Warmup, string Relay, ViewerAuth Auth, bool Keep, bool GstNoSync, int Repeat, bool Tls, string Readers, IReadOnlyDictionary<string, string> GatewayEnvironment, bool CameraWritesPerPacket, string? GatewayBinary);

    private sealed class Row
    {
        public required string Relay { get; init; }
        public required int Viewers { get; init; }
        public int Round { get; init; }
        /// <summary>Latency over the direct row of the same viewer count and round (camera → the same N viewers, no relay).</summary>
        public double? AddedP50, AddedP99;
        public string? Error { get; set; }
        public int Playing, Failed, Closed;
        public double SetupSeconds, MbpsPerViewer, MbpsTotal, LossPct, DeliveredPct, P50, P99, Max, CpuPct, RssMb, PeakRssMb, AnonMb, BenchCpuPct, MachinePct;
        public long Packets, Stamps, Gen0, Gen2;
        public double? BytesPerPacket, AllocsPerPacket;
        public List<AllocationProbeClient.TypeSample> AllocTypes = [];
        public long? MetricsPackets;
    }

    public static async Task<int> RunAsync(string[] args)
    {
        var o = new Options(
            ArgString(args, "--viewers", "100,500,1000").Split(',', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToArray(),
            ArgInt(args, "--seconds", 15),
            ArgInt(args, "--warmup", 5),
            ArgString(args, "--relay", "both"),
            Enum.Parse<ViewerAuth>(ArgString(args, "--auth", "bearer"), ignoreCase: true),
            args.Contains("--keep"),
            args.Contains("--gst-nosync"),
            Math.Max(1, ArgInt(args, "--repeat", 1)),
            args.Contains("--tls"),
            ArgString(args, "--readers", "bench"),
            ParseEnvironment(ArgString(args, "--gateway-env", "")),
            ArgString(args, "--camera-writes", "unit") == "packet",
            ArgString(args, "--gateway-binary", "") is { Length: > 0 } binary ? Path.GetFullPath(binary) : null);
        if (o.GatewayBinary is { } gb && !File.Exists(gb))
        {
            Console.Error.WriteLine($"--gateway-binary {gb}: no such file (dotnet publish src/HikShareGateway -c Release -r linux-x64 -p:PublishAot=true -o DIR)");
            return 2;
        }
        if (o.Relay is not ("gateway" or "gst" or "both"))
        {
            Console.Error.WriteLine("--relay must be gateway, gst or both");
            return 2;
        }
        if (o.Readers is not ("bench" or "ffmpeg"))
        {
            Console.Error.WriteLine("--readers must be bench or ffmpeg");
            return 2;
        }
        var command = $"dotnet run -c Release --project bench/HikShareGateway.Bench -- fanout --viewers {string.Join(',', o.Viewers)} --seconds {o.Seconds} --warmup {o.Warmup} --relay {o.Relay}"
            + (o.Auth != ViewerAuth.Bearer ? $" --auth {o.Auth.ToString().ToLowerInvariant()}" : "")
            + (o.GstNoSync ? " --gst-nosync" : "")
            + (o.Repeat > 1 ? $" --repeat {o.Repeat}" : "")
            + (o.Tls ? " --tls" : "")
            + (o.CameraWritesPerPacket ? " --camera-writes packet" : "")
            + (o.GatewayEnvironment.Count > 0 ? " --gateway-env " + string.Join(',', o.GatewayEnvironment.Select(e => e.Key + "=" + e.Value)) : "")
            + (o.GatewayBinary is { } g ? $" --gateway-binary {g}" : "");
        var repo = FindRepo();
        if (o.Readers == "ffmpeg")
        {
            return await RunFfmpegAsync(o, command + " --readers ffmpeg", repo);
        }
        var dir = Directory.CreateTempSubdirectory("hikshare-bench-fanout").FullName;
        try
        {
            Console.WriteLine($"fanout: one 4 Mbit/s H.264 camera relayed to {string.Join(", ", o.Viewers)} viewers; {Environment.ProcessorCount} cores; window {o.Seconds} s after {o.Warmup} s warm-up");
            var clip = await H264Clip.EncodeAsync(dir);
            var packetsPerSecond = clip.Units.Sum(u => u.PacketCount) / clip.Seconds;
            Console.WriteLine($"  camera: ffmpeg {H264Clip.FfmpegArguments("clip.h264", 10, 4000)}");
            Console.WriteLine($"          {clip.Units.Count} access units, {clip.Mbps:F2} Mbit/s of H.264 + stamps, {packetsPerSecond:F0} RTP packets/s, MTU payload {H264Clip.MaxPayload}, IDR every {H264Clip.Fps} frames");
            await using var camera = new BenchCamera(clip, o.CameraWritesPerPacket);
            camera.Start();

            var rows = new List<Row>();
            string? gatewayDll = null;
            if (o.Relay is "gateway" or "both")
            {
                gatewayDll = o.GatewayBinary ?? await EnsureGatewayBuiltAsync(repo);
            }
            var relays = new List<string>();
            if (gatewayDll is not null)
            {
                relays.Add("gateway");
                if (o.Tls)
                {
                    // The same gateway with its viewers on RTSPS (rtsps://, TLS 1.3 with a P-256 certificate).
                    relays.Add("gw-tls");
                }
            }
            if (o.Relay is "gst" or "both")
            {
                relays.Add("gst");
            }
            // Each round measures, per viewer count, the camera serving the viewers itself ("direct"), then each
            // relay: a relay's added latency is its figure minus the direct one of the same round.
            for (var round = 1; round <= o.Repeat; round++)
            {
                if (o.Repeat > 1)
                {
                    Console.WriteLine($"  round {round} of {o.Repeat}");
                }
                foreach (var n in o.Viewers)
                {
                    var direct = await MeasureAsync("direct", n, round, o, camera, dir, repo, null);
                    rows.Add(direct);
                    Print(direct);
                    foreach (var relay in relays)
                    {
                        var row = await MeasureAsync(relay, n, round, o, camera, dir, repo, relay is "gateway" or "gw-tls" ? gatewayDll : null);
                        if (row.Error is null && direct.Error is null)
                        {
                            row.AddedP50 = row.P50 - direct.P50;
                            row.AddedP99 = row.P99 - direct.P99;
                        }
                        rows.Add(row);
                        Print(row);
                    }
                }
            }
            PrintTable(rows, o, command);
            return rows.Any(r => r.Error is not null) ? 1 : 0;
        }
        finally
        {
            if (o.Keep)
            {
                Console.WriteLine($"  kept: {dir}");
            }
            else
            {
                Directory.Delete(dir, recursive: true);
            }
        }
    }

    private static async Task<Row> MeasureAsync(string relay, int n, int round, Options o, BenchCamera camera, string dir, string repo, string? gatewayDll)
    {
        var row = new Row { Relay = relay, Viewers = n, Round = round };
        var runDir = Directory.CreateDirectory(Path.Combine(dir, $"{relay}-{n}-{round}")).FullName;
        var log = Path.Combine(runDir, relay + ".log");
        var (process, url, token, auth, probePath, httpPort, listenPort) = StartRelay(relay, o, camera, dir, repo, runDir, log, gatewayDll, probe: true);
        var viewers = new List<BenchViewer>();
        var loops = new List<Task>();
        using var stopKeepAlive = new CancellationTokenSource();
        await using (process)
        {
            try
            {
                if (process is not null && !await process.WaitListeningAsync(listenPort, TimeSpan.FromSeconds(30)))
                {
                    row.Error = process.HasExited ? "the relay exited at start" : $"nothing listens on the RTSP port {listenPort} after 30 s";
                    PrintFailure(row, process);
                    return row;
                }

                // :: Connect the viewers, 32 setups at a time.
                var histogram = new LatencyHistogram();
                var failures = new Dictionary<string, int>();
                using var gate = new SemaphoreSlim(32);
                var setups = new List<Task>();
                var connectWatch = Stopwatch.StartNew();
                for (var i = 0; i < n; i++)
                {
                    var v = new BenchViewer(url, token, auth, histogram);
                    viewers.Add(v);
                    setups.Add(Task.Run(async () =>
                    {
                        await gate.WaitAsync();
                        try
                        {
                            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
                            if (await v.StartAsync(cts.Token))
                            {
                                lock (loops)
                                {
                                    loops.Add(Task.Run(v.ReadLoopAsync));
                                }
                            }
                            else
                            {
                                lock (failures)
                                {
                                    failures[v.Failure!] = failures.GetValueOrDefault(v.Failure!) + 1;
                                }
                            }
                        }
                        finally
                        {
                            gate.Release();
                        }
                    }));
                }
                await Task.WhenAll(setups);
                row.SetupSeconds = connectWatch.Elapsed.TotalSeconds;
                row.Playing = viewers.Count(v => v.Playing);
                row.Failed = n - row.Playing;
                Console.WriteLine($"  {relay,-7} {n,5} viewers: {row.Playing} playing after {connectWatch.Elapsed.TotalSeconds:F1} s" + (row.Failed > 0 ? $", {row.Failed} failed" : ""));
                foreach (var (why, count) in failures.OrderByDescending(f => f.Value).Take(3))
                {
                    Console.WriteLine($"          {count} x {why}");
                }
                if (row.Playing == 0)
                {
                    row.Error = "no viewer could play: " + failures.Keys.FirstOrDefault();
                    PrintFailure(row, process);
                    return row;
                }
                var keepAlivesHeld = new StrongBox<bool>(false);
                _ = KeepAliveAsync(viewers, keepAlivesHeld, stopKeepAlive.Token);

                // :: Warm up (JIT tiering, socket buffers), then the measuring window.
                await Task.Delay(TimeSpan.FromSeconds(o.Warmup));
                using var probe = probePath is not null ? new AllocationProbeClient(probePath) : null;
                // The window measures the packet path: the viewers' RTSP keep-alives (every 20 s each, a parse and a
                // response of a few KiB apiece: the control path) wait until it is over; 20 s + the window stays far
                // inside the 60 s session timeout.
                Volatile.Write(ref keepAlivesHeld.Value, true);
                var metricsBefore = httpPort is { } hp ? await ScrapeMetricsAsync(hp) : default;
                probe?.StartSampling();
                var v0 = viewers.Select(v => (v.RtpBytes, v.RtpPackets, v.Gaps)).ToArray();
                var a0 = probe?.Read();
                var cpu0 = process is null ? 0 : ProcStats.CpuSeconds(process.Pid);
                var bench0 = ProcStats.CpuSeconds(Environment.ProcessId);
                var m0 = ProcStats.Machine();
                var sent0 = camera.RtpPacketsSent;
                var t0 = Stopwatch.GetTimestamp();
                histogram.Reset();
                histogram.Enabled = true;
                for (var s = 0; s < o.Seconds; s++)
                {
                    await Task.Delay(1000);
                    if (process is null)
                    {
                        continue;
                    }
                    if (process.HasExited)
                    {
                        break;
                    }
                    row.PeakRssMb = Math.Max(row.PeakRssMb, ProcStats.Memory(process.Pid).Rss);
                }
                histogram.Enabled = false;
                var elapsed = Stopwatch.GetElapsedTime(t0).TotalSeconds;
                if (process is { HasExited: true })
                {
                    row.Error = "the relay exited during the window";
                    PrintFailure(row, process);
                    return row;
                }
                var sent = camera.RtpPacketsSent - sent0;
                var m1 = ProcStats.Machine();
                var bench1 = ProcStats.CpuSeconds(Environment.ProcessId);
                var cpu1 = process is null ? 0 : ProcStats.CpuSeconds(process.Pid);
                var a1 = probe?.Read();
                var types = probe?.StopSampling();
                var metricsAfter = httpPort is { } hp2 ? await ScrapeMetricsAsync(hp2) : default;
                // Back to back: what one scrape allocates (the window holds one, split between its ends).
                var metricsAgain = httpPort is { } hp3 ? await ScrapeMetricsAsync(hp3) : default;
                Volatile.Write(ref keepAlivesHeld.Value, false);
                var (rss, peak, anon) = process is null ? (0, 0, 0) : ProcStats.Memory(process.Pid);

                // :: Figures.
                long bytes = 0, packets = 0, gaps = 0;
                var perViewerMbps = new List<double>();
                for (var i = 0; i < viewers.Count; i++)
                {
                    var v = viewers[i];
                    if (!v.Playing)
                    {
                        continue;
                    }
                    var b = v.RtpBytes - v0[i].RtpBytes;
                    bytes += b;
                    packets += v.RtpPackets - v0[i].RtpPackets;
                    gaps += v.Gaps - v0[i].Gaps;
                    perViewerMbps.Add(b * 8 / elapsed / 1e6);
                }
                row.Closed = viewers.Count(v => v.Playing && v.Closed);
                row.Packets = packets;
                row.MbpsTotal = bytes * 8 / elapsed / 1e6;
                row.MbpsPerViewer = perViewerMbps.Average();
                row.LossPct = packets + gaps == 0 ? 0 : 100.0 * gaps / (packets + gaps);
                row.DeliveredPct = sent == 0 ? 0 : 100.0 * packets / ((double)sent * row.Playing);
                row.Stamps = histogram.Count;
                row.P50 = histogram.PercentileMs(0.50);
                row.P99 = histogram.PercentileMs(0.99);
                row.Max = histogram.MaxMs;
                row.CpuPct = 100 * (cpu1 - cpu0) / elapsed;
                row.BenchCpuPct = 100 * (bench1 - bench0) / elapsed;
                row.MachinePct = 100.0 * Environment.ProcessorCount * (m1.Busy - m0.Busy) / Math.Max(1, m1.Total - m0.Total);
                row.RssMb = rss;
                row.AnonMb = anon;
                row.PeakRssMb = Math.Max(row.PeakRssMb, peak);
                if (a0 is { } x0 && a1 is { } x1 && packets > 0)
                {
                    var allocated = x1.AllocatedBytes - x0.AllocatedBytes - (x1.ProbeBytes - x0.ProbeBytes);
                    row.BytesPerPacket = (double)allocated / packets;
                    // Allocation count from the sampled types: each type's share of the bytes over its mean object size.
                    var sampledBytes = types!.Sum(t => t.Bytes);
                    row.AllocTypes = types!;
                    // No tick in the window (under ~100 KB allocated): only the bound B/packet / 24 is known.
                    row.AllocsPerPacket = sampledBytes == 0 ? null : types!.Sum(t => allocated * ((double)t.Bytes / sampledBytes) / Math.Max(24, t.MeanSize)) / packets;
                    row.Gen0 = x1.Gen0 - x0.Gen0;
                    row.Gen2 = x1.Gen2 - x0.Gen2;
                }
                if (metricsBefore.RelayedPackets is { } mb && metricsAfter.RelayedPackets is { } ma)
                {
                    row.MetricsPackets = ma - mb;
                }
                // The NativeAOT binary has no startup hook: its own counter of allocated bytes (/metrics) gives B/packet,
                // and the count is bounded by B/packet / 24 (no type samples).
                if (row.BytesPerPacket is null && metricsBefore.AllocatedBytes is { } ab && metricsAfter.AllocatedBytes is { } aa && packets > 0)
                {
                    var scrape = metricsAgain.AllocatedBytes is { } ag ? Math.Max(0, ag - aa) : 0;
                    row.BytesPerPacket = (double)Math.Max(0, aa - ab - scrape) / packets;
                }
                return row;
            }
            finally
            {
                await stopKeepAlive.CancelAsync();
                foreach (var v in viewers)
                {
                    v.Dispose();
                }
                Task[] pending;
                lock (loops)
                {
                    pending = [.. loops];
                }
                await Task.WhenAll(pending);
            }
        }
    }

    /// <summary>A started relay (null process: <c>direct</c>, the camera itself) and how viewers reach it.</summary>
    private sealed record RelayStart(RelayProcess? Process, string Url, string? Token, ViewerAuth Auth, string? ProbePath, int? HttpPort, int ListenPort);

    /// <summary>Starts the relay of a row: the gateway (plain or RTSPS), gst-rtsp-server, or nothing for <c>direct</c>.</summary>
    private static RelayStart StartRelay(string relay, Options o, BenchCamera camera, string dir, string repo, string runDir, string log, string? gatewayDll, bool probe)
    {
        var rtspPort = RelayProcess.FreePort();
        string url;
        string? token = null;
        var auth = ViewerAuth.None;
        RelayProcess? process;
        string? probePath = null;
        int? httpPort = null;
        var listenPort = rtspPort;
        if (relay is "gateway" or "gw-tls")
        {
            var key = Ed25519SigningKey.Generate("bench-cloud");
            httpPort = RelayProcess.FreePort();
            int? tlsPort = null;
            (string, string, int)? tls = null;
            if (relay == "gw-tls")
            {
                tlsPort = RelayProcess.FreePort();
                var (certificate, keyFile) = WriteCertificate(dir);
                tls = (certificate, keyFile, tlsPort.Value);
            }
            var config = WriteGatewayConfig(runDir, key, rtspPort, httpPort.Value, RelayProcess.FreePort(), camera.Url, tls);
            var environment = new Dictionary<string, string>(o.GatewayEnvironment);
            // The allocation probe is a startup hook: the JIT build only (a NativeAOT binary has no hooks).
            if (probe && o.GatewayBinary is null)
            {
                probePath = Path.Combine(runDir, "alloc.sock");
                environment["DOTNET_STARTUP_HOOKS"] = AllocationProbeClient.HookAssembly;
                environment[AllocationProbeClient.SocketVariable] = probePath;
            }
            var launch = o.GatewayBinary is { } binary ? $"'{binary}'" : $"dotnet '{gatewayDll}'";
            process = RelayProcess.Start("gateway", $"{launch} run --config '{config}'", log, environment);
            token = ViewerTokens.Mint(key, Viewer, [Gw], TimeSpan.FromHours(1), DateTimeOffset.UtcNow);
            auth = o.Auth;
            url = tlsPort is { } tp ? $"rtsps://127.0.0.1:{tp}/live/{Device}/1/main" : $"rtsp://127.0.0.1:{rtspPort}/live/{Device}/1/main";
            listenPort = tlsPort ?? rtspPort;
        }
        else if (relay == "direct")
        {
            // No relay: the camera serves the N viewers itself. The floor a relay's latency is compared with.
            process = null;
            url = camera.Url;
        }
        else
        {
            process = RelayProcess.Start("gst", $"/usr/bin/python3 '{Path.Combine(repo, "bench", "gst-relay.py")}' --port {rtspPort} --source '{camera.Url}'" + (o.GstNoSync ? " --nosync" : ""), log);
            url = $"rtsp://127.0.0.1:{rtspPort}/relay";
        }
        return new RelayStart(process, url, token, auth, probePath, httpPort, listenPort);
    }

    /// <summary>GET_PARAMETER on every session every 20 s, spread over the 20 s.</summary>
    private static async Task KeepAliveAsync(List<BenchViewer> viewers, StrongBox<bool> held, CancellationToken ct)
    {
        try
        {
            for (var tick = 0; ; tick++)
            {
                await Task.Delay(1000, ct);
                while (Volatile.Read(ref held.Value))
                {
                    await Task.Delay(100, ct); // the measuring window: this second's viewers go right after it
                }
                for (var i = tick % 20; i < viewers.Count; i += 20)
                {
                    viewers[i].SendKeepAlive();
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    internal readonly record struct MetricsScrape(long? RelayedPackets, long? AllocatedBytes);

    /// <summary>
    /// The gateway's <c>/metrics</c>: RTP/RTCP packets written to viewers (summed over label sets) and the bytes its
    /// managed heap allocated since start (<c>hikshare_process_allocated_bytes_total</c>). A scrape allocates ~55 KiB of
    /// its own (the exposition text); the benches scrape once more right after the window and subtract that.
    /// </summary>
    internal static async Task<MetricsScrape> ScrapeMetricsAsync(int port)
    {
        try
        {
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
            var text = await http.GetStringAsync($"http://127.0.0.1:{port}/metrics");
            double packets = 0;
            long? allocated = null;
            var found = false;
            foreach (var line in text.Split('\n'))
            {
                if (line.StartsWith("hikshare_relayed_packets_total", StringComparison.Ordinal) && line.Length > 30 && line[30] is ' ' or '{')
                {
                    packets += double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture);
                    found = true;
                }
                else if (line.StartsWith("hikshare_process_allocated_bytes_total ", StringComparison.Ordinal))
                {
                    allocated = (long)double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture);
                }
            }
            return new MetricsScrape(found ? (long)packets : null, allocated);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or FormatException)
        {
            return default;
        }
    }

    /// <summary>
    /// The gateway's configuration (contract §9) and its grants: a signed snapshot applied to a
    /// <see cref="GrantsStore"/> on the state directory, which persists it as the gateway would have.
    /// </summary>
    /// <summary>A self-signed P-256 certificate for 127.0.0.1 as PEM files in <paramref name="dir"/> (written once).</summary>
    private static (string Certificate, string Key) WriteCertificate(string dir)
    {
        var cert = Path.Combine(dir, "rtsps.crt");
        var keyFile = Path.Combine(dir, "rtsps.key");
        if (!File.Exists(cert))
        {
            using var key = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
            var request = new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=hikshare bench", key, System.Security.Cryptography.HashAlgorithmName.SHA256);
            using var c = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
            File.WriteAllText(cert, c.ExportCertificatePem() + "\n");
            File.WriteAllText(keyFile, key.ExportPkcs8PrivateKeyPem() + "\n");
        }
        return (cert, keyFile);
    }

    private static string WriteGatewayConfig(string runDir, Ed25519SigningKey key, int rtspPort, int httpPort, int adminPort, string cameraUrl, (string Certificate, string Key, int Port)? tls = null)
    {
        var state = Directory.CreateDirectory(Path.Combine(runDir, "state")).FullName;
        using (var store = new GrantsStore(new GrantsStoreSettings(Gw, state), new TrustedKeySet([key.Public]), TimeProvider.System, NullLogger<GrantsStore>.Instance))
        {
            var share = new Share("sh-bench", Owner, Viewer, null, ShareState.Accepted, null, [new ShareDevice(Device, [], Privilege.LiveView)]);
            var snapshot = new GrantsSnapshot(Gw, 1, DateTimeOffset.UtcNow, [new GrantDevice(Device, Owner)], [share]);
            var result = store.Apply(GrantMessageKind.Snapshot, Encoding.ASCII.GetBytes(Jws.Sign(GrantsJson.Write(snapshot), key)));
            if (result.Outcome != GrantApplyOutcome.Applied || !File.Exists(Path.Combine(state, GrantsStoreSettings.StateFileName)))
            {
                throw new InvalidOperationException($"the grants could not be written: {result.Outcome} {result.Reason}");
            }
        }
        var jwk = JsonNode.Parse(key.Public.ToJson())!;
        var config = new JsonObject
        {
            ["Gateway"] = new JsonObject { ["Id"] = Gw, ["StateDirectory"] = state },
            ["Rtsp"] = tls is { } t
                ? new JsonObject { ["Port"] = rtspPort, ["TlsPort"] = t.Port, ["TlsCertificateFile"] = t.Certificate, ["TlsKeyFile"] = t.Key }
                : new JsonObject { ["Port"] = rtspPort },
            // /metrics is scraped outside the measuring window only (hikshare_relayed_packets, a cross-check).
            ["Http"] = new JsonObject { ["Port"] = httpPort, ["BindAddress"] = "127.0.0.1" },
            ["Admin"] = new JsonObject { ["Port"] = adminPort },
            ["Cloud"] = new JsonObject { ["TrustedKeys"] = new JsonArray(jwk) },
            ["Discovery"] = new JsonObject { ["Enabled"] = false },
            ["Onvif"] = new JsonObject { ["Events"] = false },
            ["Devices"] = new JsonArray(new JsonObject
            {
                ["DeviceId"] = Device,
                ["Channels"] = new JsonArray(new JsonObject { ["Channel"] = 1, ["Name"] = "bench", ["Main"] = cameraUrl }),
            }),
        };
        var path = Path.Combine(runDir, "gw.json");
        File.WriteAllText(path, config.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
        return path;
    }

    internal static async Task<string> EnsureGatewayBuiltAsync(string repo)
    {
        var dll = Path.Combine(repo, "src", "HikShareGateway", "bin", "Release", "net10.0", "hikshare-gateway.dll");
        if (!File.Exists(dll))
        {
            Console.WriteLine("  building the gateway: dotnet build src/HikShareGateway -c Release");
            using var p = Process.Start(new ProcessStartInfo("dotnet", $"build \"{Path.Combine(repo, "src", "HikShareGateway")}\" -c Release -v quiet") { UseShellExecute = false })!;
            await p.WaitForExitAsync();
            if (p.ExitCode != 0 || !File.Exists(dll))
            {
                throw new InvalidOperationException("the gateway did not build");
            }
        }
        return dll;
    }

    internal static string FindRepo()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            if (File.Exists(Path.Combine(d.FullName, "bench", "gst-relay.py")) && Directory.Exists(Path.Combine(d.FullName, "src", "HikShareGateway")))
            {
                return d.FullName;
            }
        }
        return Directory.GetCurrentDirectory();
    }

    private static void PrintFailure(Row row, RelayProcess? process)
    {
        Console.WriteLine($"  {row.Relay} with {row.Viewers} viewers FAILED: {row.Error}");
        if (process is null)
        {
            return;
        }
        Console.WriteLine($"  --- last lines of {process.Log} ---");
        foreach (var line in process.Tail().Split('\n'))
        {
            Console.WriteLine("  | " + line);
        }
    }

    private static void Print(Row r)
    {
        if (r.Error is null)
        {
            var cost = r.Relay == "direct"
                ? "camera in the bench process"
                : $"CPU {r.CpuPct:F0} %, RSS {r.RssMb:F0} MB (not file-backed {r.AnonMb:F0} MB)" + (r.BytesPerPacket is { } b ? $", {b:F2} B/packet (gen0 {r.Gen0}, gen2 {r.Gen2})" : "");
            Console.WriteLine($"  {r.Relay,-7} {r.Viewers,5} viewers: {r.MbpsPerViewer:F2} Mbit/s each, loss {r.LossPct:F3} %, delivered {r.DeliveredPct:F1} %, "
                + $"latency p50 {r.P50:F2} p99 {r.P99:F2} max {r.Max:F1} ms"
                + (r.AddedP99 is { } a ? $" (added p50 {r.AddedP50:F2} p99 {a:F2})" : "")
                + $", {cost}; bench {r.BenchCpuPct:F0} %, machine {r.MachinePct:F0} % of {Environment.ProcessorCount * 100} %");
            var sampled = r.AllocTypes.Sum(t => t.Bytes);
            if (sampled > 0)
            {
                Console.WriteLine($"          allocated types (GCAllocationTick samples): {string.Join("; ", r.AllocTypes.Take(5).Select(t => $"{t.Type} {100.0 * t.Bytes / sampled:F0} % ({t.Samples} ticks, ~{t.MeanSize:F0} B each)"))}");
            }
        }
    }

    private static string Added(double? v, int width) => v is { } x ? x.ToString("F2", CultureInfo.InvariantCulture).PadLeft(width) : "-".PadLeft(width);

    /// <summary>One relay at one viewer count over all rounds: medians, and the worst case where a target needs every round.</summary>
    private sealed record Summary(string Relay, int Viewers, int Rounds, double P50, double P99, double? AddedP50, double? AddedP99,
        double CpuPct, double RssMb, double AnonMb, double MbpsTotal, double WorstLossPct, double WorstDeliveredPct, int WorstPlaying, int WorstClosed,
        double? WorstBytesPerPacket, double? WorstAllocsPerPacket);

    private static Summary? Summarize(List<Row> rows, string relay, int n)
    {
        var ok = rows.Where(r => r.Relay == relay && r.Viewers == n && r.Error is null).ToList();
        if (ok.Count == 0 || ok.Count < rows.Count(r => r.Relay == relay && r.Viewers == n))
        {
            return null; // a failed round fails the whole summary
        }
        static double? MedianOrNull(IEnumerable<double?> xs) => xs.All(x => x is not null) ? Median(xs.Select(x => x!.Value)) : null;
        return new Summary(relay, n, ok.Count, Median(ok.Select(r => r.P50)), Median(ok.Select(r => r.P99)),
            MedianOrNull(ok.Select(r => r.AddedP50)), MedianOrNull(ok.Select(r => r.AddedP99)),
            Median(ok.Select(r => r.CpuPct)), Median(ok.Select(r => r.RssMb)), Median(ok.Select(r => r.AnonMb)), Median(ok.Select(r => r.MbpsTotal)),
            ok.Max(r => r.LossPct), ok.Min(r => r.DeliveredPct), ok.Min(r => r.Playing), ok.Max(r => r.Closed),
            ok.All(r => r.BytesPerPacket is not null) ? ok.Max(r => r.BytesPerPacket!.Value) : null,
            ok.All(r => r.BytesPerPacket is not null) ? ok.Max(r => r.AllocsPerPacket ?? r.BytesPerPacket!.Value / MinObjectBytes) : null);
    }

    private static double Median(IEnumerable<double> values)
    {
        var v = values.Order().ToArray();
        return v.Length == 0 ? double.NaN : v.Length % 2 == 1 ? v[v.Length / 2] : (v[v.Length / 2 - 1] + v[v.Length / 2]) / 2;
    }

    private static void PrintTable(List<Row> rows, Options o, string command)
    {
        Console.WriteLine();
        Console.WriteLine("relay     viewers  round  playing  setup s  closed  Mbit/s/viewer  Mbit/s total  loss %   deliv %  lat p50 ms  p99 ms   max ms  added p50  p99   CPU %  RSS MB  peak MB  anon MB  machine %  B/packet  allocs/packet");
        foreach (var r in rows)
        {
            if (r.Error is not null)
            {
                Console.WriteLine($"{r.Relay,-9} {r.Viewers,7}  {r.Round,5}  FAILED: {r.Error}");
                continue;
            }
            var bpp = r.BytesPerPacket is { } b ? $"{b,8:F2}  {(r.AllocsPerPacket is { } a ? a.ToString("F4", CultureInfo.InvariantCulture) : "<=" + (b / MinObjectBytes).ToString("F4", CultureInfo.InvariantCulture)),13}" : $"{"-",8}  {"-",13}";
            var cost = r.Relay == "direct" ? $"{"-",5}  {"-",6}  {"-",7}  {"-",7}" : $"{r.CpuPct,5:F0}  {r.RssMb,6:F0}  {r.PeakRssMb,7:F0}  {r.AnonMb,7:F0}";
            Console.WriteLine($"{r.Relay,-9} {r.Viewers,7}  {r.Round,5}  {r.Playing,7}  {r.SetupSeconds,7:F1}  {r.Closed,6}  {r.MbpsPerViewer,13:F2}  {r.MbpsTotal,12:F0}  {r.LossPct,6:F3}  {r.DeliveredPct,7:F1}  {r.P50,10:F2}  {r.P99,6:F2}  {r.Max,7:F1}  {Added(r.AddedP50, 9)}  {Added(r.AddedP99, 5)}  {cost}  {r.MachinePct,9:F0}  {bpp}");
        }
        var relays = rows.Select(r => r.Relay).Distinct().ToList();
        var summaries = o.Viewers.SelectMany(n => relays.Select(relay => Summarize(rows, relay, n))).Where(s => s is not null).Select(s => s!).ToList();
        if (o.Repeat > 1)
        {
            Console.WriteLine();
            Console.WriteLine($"medians over {o.Repeat} rounds   viewers  lat p50 ms  p99 ms  added p50  p99   CPU %  RSS MB  anon MB");
            foreach (var s in summaries)
            {
                var cost = s.Relay == "direct" ? $"{"-",5}  {"-",6}  {"-",7}" : $"{s.CpuPct,5:F0}  {s.RssMb,6:F0}  {s.AnonMb,7:F0}";
                Console.WriteLine($"{s.Relay,-27} {s.Viewers,8}  {s.P50,10:F2}  {s.P99,6:F2}  {Added(s.AddedP50, 9)}  {Added(s.AddedP99, 5)}  {cost}");
            }
        }
        var ratios = o.Viewers.Select(n => (n, g: summaries.FirstOrDefault(s => s.Relay == "gateway" && s.Viewers == n),
            s: summaries.FirstOrDefault(s => s.Relay == "gst" && s.Viewers == n))).Where(x => x.g is not null && x.s is not null).ToList();
        if (ratios.Count > 0)
        {
            Console.WriteLine();
            Console.WriteLine("gateway / gst-rtsp-server   viewers  delivered  lat p50  lat p99   CPU    RSS   anon" + (o.Repeat > 1 ? "   (of the medians)" : ""));
            foreach (var (n, g, s) in ratios)
            {
                Console.WriteLine($"{"",26} {n,8}  {g!.MbpsTotal / s!.MbpsTotal,9:F2}  {g.P50 / s.P50,7:F2}  {g.P99 / s.P99,7:F2}  {g.CpuPct / s.CpuPct,5:F2}  {g.RssMb / s.RssMb,5:F2}  {g.AnonMb / s.AnonMb,5:F2}");
            }
        }
        if (relays.Contains("gateway"))
        {
            Console.WriteLine();
            Console.WriteLine("targets (gateway" + (o.Repeat > 1 ? $"; medians over {o.Repeat} rounds, loss and allocations in the worst round" : "") + "):");
            var at500 = summaries.FirstOrDefault(s => s.Relay == "gateway" && s.Viewers == 500);
            Target("500 viewers, no loss", o.Viewers.Contains(500), at500, s => s.WorstPlaying == 500 && s.WorstClosed == 0 && s.WorstLossPct == 0 && s.WorstDeliveredPct > 99.5,
                s => $"playing {s.WorstPlaying}, closed {s.WorstClosed}, loss {s.WorstLossPct:F3} %, delivered {s.WorstDeliveredPct:F1} %");
            var at100 = summaries.FirstOrDefault(s => s.Relay == "gateway" && s.Viewers == 100);
            var direct100 = summaries.FirstOrDefault(s => s.Relay == "direct" && s.Viewers == 100);
            Target("p99 added latency < 5 ms at 100 viewers", o.Viewers.Contains(100), at100, s => s.AddedP99 < 5,
                s => $"added p99 {Added(s.AddedP99, 0)} ms (gateway p99 {s.P99:F2} ms, direct p99 {direct100?.P99:F2} ms)");
            foreach (var s in summaries.Where(s => s.Relay == "gateway" && s.WorstBytesPerPacket is not null))
            {
                // Issue 16: below 0.01 per packet. Without type samples (the NativeAOT binary) only the bound is known.
                Target($"< 0.01 allocation per packet (steady state), {s.Viewers} viewers", true, s, s => s.WorstAllocsPerPacket < 0.01,
                    s => $"~{s.WorstAllocsPerPacket:F4} allocations/packet ({s.WorstBytesPerPacket:F3} B/packet; at most {s.WorstBytesPerPacket / MinObjectBytes:F4} even if every allocation were {MinObjectBytes} B;"
                        + " without type samples, as with the NativeAOT binary, the estimate is that bound)");
            }
            // Issue 16's targets at 1000 bench readers (medians; loss in the worst round).
            var at1000 = summaries.FirstOrDefault(s => s.Relay == "gateway" && s.Viewers == 1000);
            var gst1000 = summaries.FirstOrDefault(s => s.Relay == "gst" && s.Viewers == 1000);
            Target("1000 viewers: CPU <= 0.5 x gst-rtsp-server's", o.Viewers.Contains(1000) && relays.Contains("gst"), at1000 is not null && gst1000 is not null ? at1000 : null,
                s => s.CpuPct <= 0.5 * gst1000!.CpuPct, s => $"{s.CpuPct:F0} % vs {gst1000!.CpuPct:F0} % = {s.CpuPct / gst1000.CpuPct:F2}");
            Target("1000 viewers: no loss", o.Viewers.Contains(1000), at1000, s => s.WorstPlaying == 1000 && s.WorstClosed == 0 && s.WorstLossPct == 0,
                s => $"playing {s.WorstPlaying}, closed {s.WorstClosed}, loss {s.WorstLossPct:F3} %, delivered {s.WorstDeliveredPct:F1} %");
            var direct1000 = summaries.FirstOrDefault(s => s.Relay == "direct" && s.Viewers == 1000);
            Target("1000 viewers: p99 added latency < 5 ms", o.Viewers.Contains(1000), at1000, s => s.AddedP99 < 5,
                s => $"added p99 {Added(s.AddedP99, 0)} ms (gateway p99 {s.P99:F2} ms, direct p99 {direct1000?.P99:F2} ms)");
            Target("1000 viewers: RSS <= 80 MB", o.Viewers.Contains(1000), at1000, s => s.RssMb <= 80, s => $"{s.RssMb:F0} MB");
            var gst100 = summaries.FirstOrDefault(s => s.Relay == "gst" && s.Viewers == 100);
            Target("CPU below gst-rtsp-server's at 100 viewers", o.Viewers.Contains(100) && relays.Contains("gst"), at100 is not null && gst100 is not null ? at100 : null,
                s => s.CpuPct < gst100!.CpuPct, s => $"{s.CpuPct:F0} % vs {gst100!.CpuPct:F0} %");
        }
        Console.WriteLine();
        Console.WriteLine("  Mbit/s counts RTP headers and payloads; loss = RTP sequence gaps / (received + gaps); deliv = RTP packets received / (camera packets x viewers);");
        Console.WriteLine("  latency = viewer receive time - camera send time of each access unit's SEI stamp (includes the readers' own scheduling on this machine);");
        Console.WriteLine("  direct = the camera serves the same N viewers itself, no relay; added = a relay's latency percentile minus the direct one of the same N and round;");
        Console.WriteLine("  CPU % of one core and RSS of the relay process only; anon = RssAnon + RssShmem, the resident memory not backed by a file (RSS minus mapped program and library files);");
        Console.WriteLine("  machine % = all processes (of 100 x cores); B/packet = gateway GC.GetTotalAllocatedBytes delta / RTP packets delivered (JIT: the startup-hook probe; NativeAOT: hikshare_process_allocated_bytes_total of /metrics, less one scrape measured back to back);");
        Console.WriteLine("  allocs/packet = those bytes split by GCAllocationTick type samples, each share over its mean object size (an estimate; B/packet / 24 bounds it).");
        Console.WriteLine($"  command: {command}");
    }

    /// <summary>The smallest .NET object on 64-bit (header, method table, one field): bytes/24 bounds the allocation count.</summary>
    private const double MinObjectBytes = 24;

    private static void Target(string what, bool measured, Summary? r, Func<Summary, bool> ok, Func<Summary, string> detail)
    {
        if (!measured)
        {
            Console.WriteLine($"  [ -- ] {what}: not measured");
            return;
        }
        if (r is null)
        {
            Console.WriteLine($"  [FAIL] {what}: a round failed");
            return;
        }
        Console.WriteLine($"  [{(ok(r) ? " ok " : "FAIL")}] {what}: {detail(r)}");
    }

    /// <summary><c>--gateway-env A=1,B=2</c>: extra environment for the gateway process (runtime knobs to compare).</summary>
    private static Dictionary<string, string> ParseEnvironment(string spec) => spec.Split(',', StringSplitOptions.RemoveEmptyEntries)
        .Select(kv => kv.Split('=', 2)).ToDictionary(kv => kv[0], kv => kv.Length > 1 ? kv[1] : "");

    private static string ArgString(string[] args, string name, string fallback)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
    }

    private static int ArgInt(string[] args, string name, int fallback) => Access.AccessCheckBench.ArgInt(args, name, fallback);
}
