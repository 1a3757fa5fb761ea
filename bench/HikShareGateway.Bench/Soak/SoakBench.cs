using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using HikShareGateway.Access.Grants;
using HikShareGateway.Access.Jose;
using HikShareGateway.Access.Tokens;
using HikShareGateway.Bench.Relay;
using HikShareGateway.Bench.WebRtc;
using HikShareGateway.Core.Access;
using HikShareGateway.WebRtc.Dtls;
using Microsoft.Extensions.Logging.Abstractions;

namespace HikShareGateway.Bench.Soak;

/// <summary>
/// <c>soak</c>: viewer churn against the real gateway process for <c>--minutes</c> (60): <c>--viewers</c> (100)
/// concurrent viewer loops, each connecting, playing 5–30 s and leaving, then again; a share of them (<c>--mp4</c>,
/// 0.2) read the live fMP4 over HTTP, another (<c>--webrtc</c>, 0.2) are WebRTC viewers (<see cref="WebRtcBenchViewer"/>:
/// WHEP, ICE, DTLS, SRTP; leaving with the WHEP DELETE), the rest are RTSP (<see cref="BenchViewer"/>). The camera
/// (<see cref="BenchCamera"/>, in this process, on a fixed port) restarts every 10 minutes and the broker (a real
/// mosquitto, without persistence) every 20; both periods, and the sampling period (1 minute), scale with
/// <c>--minutes</c>/60 so that <c>--minutes 6</c> checks the bench in six minutes.
/// Sampled: the gateway's RSS, anonymous RSS, open FDs, threads (/proc) and GC heap (a startup hook,
/// <see cref="AllocationProbeClient"/>); printed with their least-squares slopes. Viewer-visible errors (a refused
/// set-up, a stream closed before the viewer left, 5 s without media) are counted apart when they fall within
/// <see cref="Grace"/> of a restart, or of a stall of the bench process itself (its camera and viewers, 1 s or more late
/// on a 100 ms timer: the machine, not the gateway).
/// </summary>
public static class SoakBench
{
    private const string Gw = "gw-soak";
    private const string Device = "cam-soak-1";
    private const string Owner = "owner@example.com";
    private const int Accounts = 10;
    private static readonly TimeSpan Grace = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan StallAfter = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan BenchStallAfter = TimeSpan.FromSeconds(1);

    private sealed record Sample(double Minutes, double Rss, double Anon, int Fds, int Threads, double HeapMiB, double InUseMiB, int Playing, long Sessions, long Errors);

    public static async Task<int> RunAsync(string[] args)
    {
        var minutes = double.Parse(Arg(args, "--minutes", "60"), CultureInfo.InvariantCulture);
        var viewers = int.Parse(Arg(args, "--viewers", "100"), CultureInfo.InvariantCulture);
        var mp4Share = double.Parse(Arg(args, "--mp4", "0.2"), CultureInfo.InvariantCulture);
        var webRtcShare = double.Parse(Arg(args, "--webrtc", "0.2"), CultureInfo.InvariantCulture);
        var kbps = int.Parse(Arg(args, "--kbps", "1000"), CultureInfo.InvariantCulture);
        var scale = minutes / 60;
        var cameraPeriod = TimeSpan.FromMinutes(10 * scale);
        var brokerPeriod = TimeSpan.FromMinutes(20 * scale);
        var samplePeriod = TimeSpan.FromMinutes(scale);
        var command = $"dotnet run -c Release --project bench/HikShareGateway.Bench -- soak --minutes {minutes.ToString(CultureInfo.InvariantCulture)} --viewers {viewers} --mp4 {mp4Share.ToString(CultureInfo.InvariantCulture)} --webrtc {webRtcShare.ToString(CultureInfo.InvariantCulture)} --kbps {kbps}";
        Console.WriteLine($"soak: {viewers} concurrent viewers ({(int)Math.Round(viewers * mp4Share)} fMP4 over HTTP, {(int)Math.Round(viewers * webRtcShare)} WebRTC over WHEP, the rest RTSP) churning (play 5-30 s, leave, again) for {minutes} min;");
        Console.WriteLine($"      the camera restarts every {cameraPeriod.TotalSeconds:F0} s, the broker every {brokerPeriod.TotalSeconds:F0} s; sampled every {samplePeriod.TotalSeconds:F0} s");
        Console.WriteLine($"      {Environment.ProcessorCount} cores, load average {ProcStats.LoadAverage()} at start, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC");
        Console.WriteLine($"      command: {command}");

        var repo = FanoutBench.FindRepo();
        var builtDll = await FanoutBench.EnsureGatewayBuiltAsync(repo);
        var dir = Directory.CreateTempSubdirectory("hikshare-soak").FullName;
        // The gateway runs from a copy: a rebuild of the tree during a long run must not replace files under it.
        var gatewayDir = Path.Combine(dir, "gateway");
        CopyDirectory(Path.GetDirectoryName(builtDll)!, gatewayDir);
        var gatewayDll = Path.Combine(gatewayDir, Path.GetFileName(builtDll));
        var clip = await H264Clip.EncodeAsync(dir, seconds: 10, kbps: kbps);

        var cameraPort = RelayProcess.FreePort();
        var camera = new BenchCamera(clip, writePerPacket: true, port: cameraPort);
        camera.Start();
        var broker = new SoakBroker(RelayProcess.FreePort(), dir);
        await broker.StartAsync();

        var key = Ed25519SigningKey.Generate("soak-cloud");
        var (config, snapshotFile) = WriteGatewayConfig(dir, key, camera.Url, broker.Port, out var rtspPort, out var httpPort);
        await broker.PublishRetainedAsync($"hikshare/v1/gateways/{Gw}/grants", snapshotFile);
        var probePath = Path.Combine(dir, "probe.sock");
        var log = Path.Combine(dir, "gateway.log");
        var environment = new Dictionary<string, string>
        {
            ["DOTNET_STARTUP_HOOKS"] = AllocationProbeClient.HookAssembly,
            [AllocationProbeClient.SocketVariable] = probePath,
        };
        var events = new SoakEvents();
        await using var gateway = RelayProcess.Start("gateway", $"dotnet '{gatewayDll}' run --config '{config}'", log, environment);
        if (!await gateway.WaitListeningAsync(rtspPort, TimeSpan.FromSeconds(60)) || !await gateway.WaitListeningAsync(httpPort, TimeSpan.FromSeconds(30)))
        {
            Console.WriteLine("the gateway did not start:\n" + gateway.Tail());
            return 1;
        }
        using var probe = new AllocationProbeClient(probePath);
        var tokens = Enumerable.Range(0, Accounts).Select(a => ViewerTokens.Mint(key, Account(a), [Gw], TimeSpan.FromHours(minutes / 60 + 2), DateTimeOffset.UtcNow)).ToArray();
        var rtspUrl = $"rtsp://127.0.0.1:{rtspPort}/live/{Device}/1/main";
        var mp4Url = $"http://127.0.0.1:{httpPort}/api/v1/live/{Device}/1/main.mp4";
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 10_000, PooledConnectionLifetime = TimeSpan.FromMinutes(1) }) { Timeout = Timeout.InfiniteTimeSpan };
        using var whep = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}"), Timeout = TimeSpan.FromSeconds(15) };
        var whepPath = $"/whep/live/{Device}/1/main";
        var dtlsCertificate = DtlsCertificate.Create(TimeProvider.System, "soak-viewer");

        var duration = TimeSpan.FromMinutes(minutes);
        using var stop = new CancellationTokenSource();
        var clock = Stopwatch.StartNew();
        var mp4Loops = (int)Math.Round(viewers * mp4Share);
        var webRtcLoops = mp4Loops + (int)Math.Round(viewers * webRtcShare);
        var loops = new List<Task>();
        for (var i = 0; i < viewers; i++)
        {
            var id = i;
            var token = tokens[i % Accounts];
            loops.Add(Task.Run(async () =>
            {
                var random = new Random(id);
                // Spread the first connections over 5 s; the loops desynchronise through their random play times.
                await Task.Delay(id * 5000 / Math.Max(1, viewers));
                while (!stop.IsCancellationRequested)
                {
                    var play = TimeSpan.FromSeconds(5 + random.NextDouble() * 25);
                    if (id < mp4Loops)
                    {
                        await Mp4SessionAsync(http, mp4Url, token, play, events, clock, stop.Token);
                    }
                    else if (id < webRtcLoops)
                    {
                        await WebRtcSessionAsync(whep, whepPath, dtlsCertificate, token, play, events, clock, stop.Token);
                    }
                    else
                    {
                        await RtspSessionAsync(rtspUrl, token, play, events, clock, stop.Token);
                    }
                }
            }));
        }

        // The bench's own scheduling lag: its camera and its 100 viewers share this process, so when the machine starves
        // it (builds at load 70 on 2 cores) the camera stops sending and the viewers stop reading. Errors right after
        // such a stall are counted apart, as after a restart, with the stall's length.
        var lagProbe = Task.Run(async () =>
        {
            var tick = TimeSpan.FromMilliseconds(100);
            while (!stop.IsCancellationRequested)
            {
                var before = clock.Elapsed;
                try
                {
                    await Task.Delay(tick, stop.Token);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                var late = clock.Elapsed - before - tick;
                if (late >= BenchStallAfter)
                {
                    events.BenchStall(clock.Elapsed, late);
                }
            }
        });

        var restarts = Task.Run(async () =>
        {
            var nextCamera = cameraPeriod;
            var nextBroker = brokerPeriod;
            while (!stop.IsCancellationRequested)
            {
                var next = nextCamera < nextBroker ? nextCamera : nextBroker;
                if (next >= duration)
                {
                    return;
                }
                var wait = next - clock.Elapsed;
                if (wait > TimeSpan.Zero)
                {
                    try
                    {
                        await Task.Delay(wait, stop.Token);
                    }
                    catch (OperationCanceledException)
                    {
                        return;
                    }
                }
                if (next == nextCamera)
                {
                    events.Restart(clock.Elapsed, "camera");
                    await camera.DisposeAsync();
                    await Task.Delay(2000);
                    camera = await StartCameraAsync(clip, cameraPort);
                    Console.WriteLine($"  {clock.Elapsed.TotalMinutes,6:F2} min  camera restarted (down 2 s)");
                    nextCamera += cameraPeriod;
                }
                else
                {
                    events.Restart(clock.Elapsed, "broker");
                    await broker.StopAsync();
                    await Task.Delay(2000);
                    await broker.StartAsync();
                    // The cloud republishes its retained snapshot when it reconnects (the broker kept nothing).
                    await broker.PublishRetainedAsync($"hikshare/v1/gateways/{Gw}/grants", snapshotFile);
                    Console.WriteLine($"  {clock.Elapsed.TotalMinutes,6:F2} min  broker restarted (down 2 s, no persistence; snapshot republished)");
                    nextBroker += brokerPeriod;
                }
            }
        });

        var samples = new List<Sample>();
        Console.WriteLine();
        Console.WriteLine("   min   RSS MiB  anon MiB   FDs  threads  GC heap MiB  in use MiB  playing  sessions  errors");
        for (var n = 0; ; n++)
        {
            var due = samplePeriod * n;
            var wait = due - clock.Elapsed;
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait);
            }
            if (gateway.HasExited)
            {
                Console.WriteLine("the gateway exited:\n" + gateway.Tail());
                stop.Cancel();
                return 1;
            }
            var (rss, _, anon) = ProcStats.Memory(gateway.Pid);
            var (heap, inUse) = probe.ReadHeap();
            var s = new Sample(clock.Elapsed.TotalMinutes, rss, anon, Directory.GetFiles($"/proc/{gateway.Pid}/fd").Length, ProcStats.Threads(gateway.Pid),
                heap / 1048576.0, inUse / 1048576.0, events.Playing, events.Sessions, events.ErrorCount);
            samples.Add(s);
            Console.WriteLine($"  {s.Minutes,5:F1}  {s.Rss,8:F1}  {s.Anon,8:F1}  {s.Fds,4}  {s.Threads,7}  {s.HeapMiB,11:F1}  {s.InUseMiB,10:F1}  {s.Playing,7}  {s.Sessions,8}  {s.Errors,6}");
            if (clock.Elapsed >= duration)
            {
                break;
            }
        }
        stop.Cancel();
        await restarts;
        await lagProbe;
        await Task.WhenAll(loops);
        await camera.DisposeAsync();
        await broker.StopAsync();

        Console.WriteLine();
        Console.WriteLine($"sessions: {events.Sessions} ({events.RtspSessions} RTSP, {events.Mp4Sessions} fMP4, {events.WebRtcSessions} WebRTC), {events.Bytes / 1048576.0:F0} MiB received; restarts: {events.CameraRestarts} camera, {events.BrokerRestarts} broker");
        Console.WriteLine("slopes (least squares, per hour)   all samples      after the first 10 % (warm-up)");
        var warm = samples.Skip(Math.Max(1, samples.Count / 10)).ToList();
        PrintSlope("RSS MiB", samples, warm, x => x.Rss);
        PrintSlope("anon RSS MiB", samples, warm, x => x.Anon);
        PrintSlope("FDs", samples, warm, x => x.Fds);
        PrintSlope("threads", samples, warm, x => x.Threads);
        PrintSlope("GC heap MiB", samples, warm, x => x.HeapMiB);
        PrintSlope("GC in use MiB", samples, warm, x => x.InUseMiB);
        var (stalls, longest) = events.BenchStalls();
        Console.WriteLine($"bench stalls (this process {BenchStallAfter.TotalSeconds:F0} s or more late on a 100 ms timer): {stalls}, longest {longest.TotalSeconds:F1} s");
        Console.WriteLine("viewer-visible errors (within 20 s of a restart or of a bench stall are counted apart):");
        foreach (var (window, reasons) in events.Errors())
        {
            Console.WriteLine($"  {window,-16} {reasons.Values.Sum(),5}" + (reasons.Count > 0 ? "  (" + string.Join(", ", reasons.OrderByDescending(r => r.Value).Take(4).Select(r => $"{r.Value} x {r.Key}")) + ")" : ""));
        }
        Console.WriteLine($"gateway log: {log} ({CountLines(log, " WRN]")} WRN, {CountLines(log, " ERR]")} ERR, {CountLines(log, " CRT]") + CountLines(log, " FTL]")} CRT lines); load average {ProcStats.LoadAverage()} at the end");
        Console.WriteLine($"gateway's connection limits (summed from its warnings): {SumCounts(log, @"(\d+) closed without a complete request")} closed by the handshake budget, "
            + $"{SumCounts(log, @"(\d+) closed idle without playing")} idle closes, {SumCounts(log, @"(\d+) connections refused")} refused");
        return 0;
    }

    private static async Task<BenchCamera> StartCameraAsync(H264Clip clip, int port)
    {
        for (var attempt = 0; ; attempt++)
        {
            var c = new BenchCamera(clip, writePerPacket: true, port: port);
            try
            {
                c.Start();
                return c;
            }
            catch (SocketException) when (attempt < 50)
            {
                await Task.Delay(200);
            }
        }
    }

    private static async Task RtspSessionAsync(string url, string token, TimeSpan play, SoakEvents events, Stopwatch clock, CancellationToken stop)
    {
        using var v = new BenchViewer(url, token, ViewerAuth.Bearer, new LatencyHistogram());
        bool ok;
        using (var setup = CancellationTokenSource.CreateLinkedTokenSource(stop))
        {
            setup.CancelAfter(TimeSpan.FromSeconds(15));
            try
            {
                ok = await v.StartAsync(setup.Token);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
        }
        if (!ok)
        {
            if (!stop.IsCancellationRequested)
            {
                events.Error(clock.Elapsed, "rtsp set-up: " + Short(v.Failure));
                await Task.Delay(1000);
            }
            return;
        }
        var read = Task.Run(v.ReadLoopAsync);
        await WatchAsync("rtsp", read, () => Interlocked.Read(ref v.RtpBytes), play, events, clock, stop);
        events.Done("rtsp", Interlocked.Read(ref v.RtpBytes));
        v.Dispose();
        await read;
    }

    private static async Task Mp4SessionAsync(HttpClient http, string url, string token, TimeSpan play, SoakEvents events, Stopwatch clock, CancellationToken stop)
    {
        using var session = CancellationTokenSource.CreateLinkedTokenSource(stop);
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        HttpResponseMessage response;
        try
        {
            session.CancelAfter(TimeSpan.FromSeconds(15));
            response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, session.Token);
            session.CancelAfter(Timeout.InfiniteTimeSpan);
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException)
        {
            if (!stop.IsCancellationRequested)
            {
                events.Error(clock.Elapsed, "mp4 request: " + e.GetType().Name);
                await Task.Delay(1000);
            }
            return;
        }
        using (response)
        {
            if (response.StatusCode != HttpStatusCode.OK)
            {
                events.Error(clock.Elapsed, $"mp4 status {(int)response.StatusCode}");
                await Task.Delay(1000);
                return;
            }
            long bytes = 0;
            var body = await response.Content.ReadAsStreamAsync(session.Token);
            var read = Task.Run(async () =>
            {
                var buffer = new byte[64 * 1024];
                try
                {
                    int n;
                    while ((n = await body.ReadAsync(buffer, session.Token)) > 0)
                    {
                        Interlocked.Add(ref bytes, n);
                    }
                }
                catch (Exception e) when (e is IOException or OperationCanceledException or HttpRequestException)
                {
                }
            });
            await WatchAsync("mp4", read, () => Interlocked.Read(ref bytes), play, events, clock, stop);
            session.Cancel();
            await read;
            events.Done("mp4", Interlocked.Read(ref bytes));
        }
    }

    /// <summary>
    /// One WebRTC session: WHEP offer, ICE, DTLS, SRTP (the viewer decrypts only its latency stamps, see
    /// <see cref="WebRtcBenchViewer"/>), media counted per SRTP packet; the gateway's DTLS alert before the viewer
    /// leaves is a stream closed early; the viewer leaves with the WHEP DELETE of its session (RFC 9725 §4.3).
    /// </summary>
    private static async Task WebRtcSessionAsync(HttpClient whep, string path, DtlsCertificate certificate, string token, TimeSpan play, SoakEvents events, Stopwatch clock, CancellationToken stop)
    {
        using var v = new WebRtcBenchViewer(certificate, new LatencyHistogram(), decryptAll: false);
        bool ok;
        using (var setup = CancellationTokenSource.CreateLinkedTokenSource(stop))
        {
            setup.CancelAfter(TimeSpan.FromSeconds(15));
            ok = await v.StartAsync(whep, path, token, setup.Token);
        }
        if (!ok)
        {
            if (!stop.IsCancellationRequested)
            {
                events.Error(clock.Elapsed, "webrtc set-up: " + Short(v.Failure));
                await Task.Delay(1000);
            }
            return;
        }
        using var leave = CancellationTokenSource.CreateLinkedTokenSource(stop);
        // The stream is over when the gateway's DTLS alert arrives (or the viewer's socket closes).
        var closed = Task.Run(async () =>
        {
            while (!v.Closed && v.ReceiveLoop is { IsCompleted: false } && !leave.IsCancellationRequested)
            {
                await Task.Delay(200, CancellationToken.None);
            }
        });
        await WatchAsync("webrtc", closed, () => Interlocked.Read(ref v.Packets), play, events, clock, stop);
        leave.Cancel();
        await closed;
        if (v.SessionLocation is { } location && !stop.IsCancellationRequested)
        {
            using var delete = new HttpRequestMessage(HttpMethod.Delete, location);
            delete.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            try
            {
                using var response = await whep.SendAsync(delete, stop);
                if (!response.IsSuccessStatusCode && !v.Closed)
                {
                    events.Error(clock.Elapsed, $"webrtc DELETE {(int)response.StatusCode}");
                }
            }
            catch (Exception e) when (e is HttpRequestException or OperationCanceledException)
            {
                if (!stop.IsCancellationRequested)
                {
                    events.Error(clock.Elapsed, "webrtc DELETE: " + e.GetType().Name);
                }
            }
        }
        events.Done("webrtc", Interlocked.Read(ref v.Bytes));
    }

    /// <summary>Watches a playing session once a second until it has played <paramref name="play"/>: closed early and stalls are errors.</summary>
    private static async Task WatchAsync(string kind, Task reading, Func<long> received, TimeSpan play, SoakEvents events, Stopwatch clock, CancellationToken stop)
    {
        events.Started();
        try
        {
            var until = clock.Elapsed + play;
            var last = received();
            var progress = clock.Elapsed;
            var stalled = false;
            while (clock.Elapsed < until && !stop.IsCancellationRequested)
            {
                await Task.WhenAny(reading, Task.Delay(1000));
                if (reading.IsCompleted)
                {
                    if (stop.IsCancellationRequested)
                    {
                        return; // the run ended, not the stream
                    }
                    events.Error(clock.Elapsed, kind + " closed before the viewer left");
                    return;
                }
                var now = received();
                if (now != last)
                {
                    last = now;
                    progress = clock.Elapsed;
                }
                else if (!stalled && clock.Elapsed - progress > StallAfter)
                {
                    stalled = true;
                    events.Error(clock.Elapsed, kind + " no media for 5 s");
                }
            }
        }
        finally
        {
            events.Stopped();
        }
    }

    private static void PrintSlope(string name, List<Sample> all, List<Sample> warm, Func<Sample, double> y)
    {
        Console.WriteLine($"  {name,-16} {Slope(all, y),12:+0.00;-0.00}   {Slope(warm, y),12:+0.00;-0.00}      (first {y(all[0]):F1}, last {y(all[^1]):F1})");
    }

    /// <summary>Least-squares slope of <paramref name="y"/> against time, per hour.</summary>
    private static double Slope(List<Sample> s, Func<Sample, double> y)
    {
        if (s.Count < 2)
        {
            return double.NaN;
        }
        double mx = s.Average(x => x.Minutes / 60), my = s.Average(y), sxy = 0, sxx = 0;
        foreach (var x in s)
        {
            var dx = x.Minutes / 60 - mx;
            sxy += dx * (y(x) - my);
            sxx += dx * dx;
        }
        return sxx == 0 ? double.NaN : sxy / sxx;
    }

    private static string Account(int a) => $"viewer{a}@example.com";

    private static string Short(string? failure) => failure is null ? "?" : failure.Length > 60 ? failure[..60] : failure;

    private static long SumCounts(string path, string pattern)
    {
        if (!File.Exists(path))
        {
            return 0;
        }
        var regex = new System.Text.RegularExpressions.Regex(pattern);
        long sum = 0;
        foreach (var line in File.ReadLines(path))
        {
            var m = regex.Match(line);
            if (m.Success)
            {
                sum += long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
            }
        }
        return sum;
    }

    private static long CountLines(string path, string marker)
    {
        try
        {
            return File.ReadLines(path).LongCount(l => l.Contains(marker, StringComparison.Ordinal));
        }
        catch (IOException)
        {
            return -1;
        }
    }

    private static void CopyDirectory(string from, string to)
    {
        foreach (var d in Directory.EnumerateDirectories(from, "*", SearchOption.AllDirectories))
        {
            Directory.CreateDirectory(Path.Combine(to, Path.GetRelativePath(from, d)));
        }
        Directory.CreateDirectory(to);
        foreach (var f in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            File.Copy(f, Path.Combine(to, Path.GetRelativePath(from, f)), overwrite: true);
        }
    }

    /// <summary>
    /// The gateway's configuration: mosquitto as broker, the key as trusted, and its grants (one share of the camera
    /// per viewer account) persisted in the state directory so that it plays before the broker answers; the signed
    /// snapshot is also returned as a file for mosquitto_pub.
    /// </summary>
    private static (string Config, string Snapshot) WriteGatewayConfig(string dir, Ed25519SigningKey key, string cameraUrl, int brokerPort, out int rtspPort, out int httpPort)
    {
        var state = Directory.CreateDirectory(Path.Combine(dir, "state")).FullName;
        var shares = Enumerable.Range(0, Accounts)
            .Select(a => new Share($"sh-soak-{a}", Owner, Account(a), null, ShareState.Accepted, null, [new ShareDevice(Device, [], Privilege.LiveView)]))
            .ToList();
        var jws = Jws.Sign(GrantsJson.Write(new GrantsSnapshot(Gw, 1, DateTimeOffset.UtcNow, [new GrantDevice(Device, Owner)], shares)), key);
        using (var store = new GrantsStore(new GrantsStoreSettings(Gw, state), new TrustedKeySet([key.Public]), TimeProvider.System, NullLogger<GrantsStore>.Instance))
        {
            var result = store.Apply(GrantMessageKind.Snapshot, Encoding.ASCII.GetBytes(jws));
            if (result.Outcome != GrantApplyOutcome.Applied)
            {
                throw new InvalidOperationException($"the grants could not be written: {result.Outcome} {result.Reason}");
            }
        }
        var snapshot = Path.Combine(dir, "snapshot.jws");
        File.WriteAllText(snapshot, jws);
        rtspPort = RelayProcess.FreePort();
        httpPort = RelayProcess.FreePort();
        var config = new JsonObject
        {
            ["Gateway"] = new JsonObject { ["Id"] = Gw, ["StateDirectory"] = state },
            ["Rtsp"] = new JsonObject { ["Port"] = rtspPort },
            ["Http"] = new JsonObject { ["Port"] = httpPort, ["BindAddress"] = "127.0.0.1" },
            ["Admin"] = new JsonObject { ["Port"] = RelayProcess.FreePort() },
            ["Cloud"] = new JsonObject { ["Broker"] = $"mqtt://127.0.0.1:{brokerPort}", ["TrustedKeys"] = new JsonArray(JsonNode.Parse(key.Public.ToJson())) },
            ["Discovery"] = new JsonObject { ["Enabled"] = false },
            ["Onvif"] = new JsonObject { ["Events"] = false },
            ["WebRtc"] = new JsonObject { ["Enabled"] = true, ["UdpPort"] = 0, ["IncludeLoopback"] = true },
            ["Devices"] = new JsonArray(new JsonObject
            {
                ["DeviceId"] = Device,
                ["Channels"] = new JsonArray(new JsonObject { ["Channel"] = 1, ["Name"] = "soak", ["Main"] = cameraUrl }),
            }),
        };
        var path = Path.Combine(dir, "gw.json");
        File.WriteAllText(path, config.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
        return (path, snapshot);
    }

    private static string Arg(string[] args, string name, string fallback)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
    }

    /// <summary>Counters shared by the viewer loops; errors keep their time so that restarts can be told apart.</summary>
    private sealed class SoakEvents
    {
        private readonly Lock _lock = new();
        private readonly List<(TimeSpan At, string What)> _restarts = [];
        private readonly List<(TimeSpan At, string Reason)> _errors = [];
        private int _playing;
        private long _rtsp, _mp4, _webRtc, _bytes;

        public int Playing => Volatile.Read(ref _playing);
        public long RtspSessions => Interlocked.Read(ref _rtsp);
        public long Mp4Sessions => Interlocked.Read(ref _mp4);
        public long WebRtcSessions => Interlocked.Read(ref _webRtc);
        public long Sessions => RtspSessions + Mp4Sessions + WebRtcSessions;
        public long Bytes => Interlocked.Read(ref _bytes);
        public long ErrorCount { get { lock (_lock) { return _errors.Count; } } }
        public int CameraRestarts { get { lock (_lock) { return _restarts.Count(r => r.What == "camera"); } } }
        public int BrokerRestarts { get { lock (_lock) { return _restarts.Count(r => r.What == "broker"); } } }

        public void Started() => Interlocked.Increment(ref _playing);
        public void Stopped() => Interlocked.Decrement(ref _playing);

        public void Done(string kind, long bytes)
        {
            Interlocked.Increment(ref kind == "rtsp" ? ref _rtsp : ref kind == "mp4" ? ref _mp4 : ref _webRtc);
            Interlocked.Add(ref _bytes, bytes);
        }

        public void Restart(TimeSpan at, string what)
        {
            lock (_lock)
            {
                _restarts.Add((at, what));
            }
        }

        private readonly List<(TimeSpan At, TimeSpan Late)> _stalls = [];

        /// <summary>The bench process woke <paramref name="late"/> late at <paramref name="at"/>.</summary>
        public void BenchStall(TimeSpan at, TimeSpan late)
        {
            lock (_lock)
            {
                _stalls.Add((at, late));
            }
        }

        public (int Count, TimeSpan Longest) BenchStalls()
        {
            lock (_lock)
            {
                return (_stalls.Count, _stalls.Count == 0 ? TimeSpan.Zero : _stalls.Max(x => x.Late));
            }
        }

        public void Error(TimeSpan at, string reason)
        {
            lock (_lock)
            {
                _errors.Add((at, reason));
            }
        }

        /// <summary>
        /// Errors by window: after a camera restart, after a broker restart, after the bench itself stalled (a stall
        /// that began — its end minus its length — within <see cref="Grace"/> before the error), or elsewhere (the ones
        /// that count).
        /// </summary>
        public List<(string Window, Dictionary<string, int> Reasons)> Errors()
        {
            var windows = new List<(string, Dictionary<string, int>)> { ("camera restart", []), ("broker restart", []), ("bench stalled", []), ("other (counted)", []) };
            lock (_lock)
            {
                foreach (var (at, reason) in _errors)
                {
                    var near = _restarts.Where(r => at >= r.At && at <= r.At + Grace).Select(r => r.What).FirstOrDefault()
                        ?? (_stalls.Any(x => at >= x.At - x.Late && at <= x.At + Grace) ? "bench" : null);
                    var bucket = windows[near switch { "camera" => 0, "broker" => 1, "bench" => 2, _ => 3 }].Item2;
                    bucket[reason] = bucket.GetValueOrDefault(reason) + 1;
                }
            }
            return windows;
        }
    }

    /// <summary>mosquitto on a fixed loopback port, without persistence, that can be stopped and started again.</summary>
    private sealed class SoakBroker(int port, string dir)
    {
        private Process? _process;
        public int Port => port;

        public async Task StartAsync()
        {
            var conf = Path.Combine(dir, "mosquitto.conf");
            await File.WriteAllTextAsync(conf, $"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest none\n"
                + (Environment.UserName == "root" ? "user root\n" : ""));
            var exe = new[] { "/usr/sbin/mosquitto", "/usr/bin/mosquitto" }.FirstOrDefault(File.Exists)
                ?? throw new InvalidOperationException("mosquitto is not installed (scripts/prereqs.sh)");
            for (var attempt = 0; attempt < 50; attempt++)
            {
                _process = Process.Start(new ProcessStartInfo(exe, $"-c {conf}") { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true })!;
                for (var i = 0; i < 100 && !_process.HasExited; i++)
                {
                    try
                    {
                        using var c = new TcpClient();
                        await c.ConnectAsync(IPAddress.Loopback, port);
                        return;
                    }
                    catch (SocketException)
                    {
                        await Task.Delay(50);
                    }
                }
                _process.Dispose();
                await Task.Delay(200); // the port may still be held a moment after the last stop
            }
            throw new TimeoutException("mosquitto did not start");
        }

        public async Task PublishRetainedAsync(string topic, string file)
        {
            using var p = Process.Start(new ProcessStartInfo("mosquitto_pub", $"-h 127.0.0.1 -p {port} -q 1 -r -t {topic} -f {file}") { UseShellExecute = false })!;
            await p.WaitForExitAsync();
        }

        public async Task StopAsync()
        {
            if (_process is { HasExited: false })
            {
                _ = RelayProcess.Signal(_process.Id, 15);
                await _process.WaitForExitAsync();
            }
            _process?.Dispose();
            _process = null;
        }
    }
}
