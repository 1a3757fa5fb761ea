using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using HikShareGateway.Access.Grants;
using HikShareGateway.Access.Jose;
using HikShareGateway.Access.Tokens;
using HikShareGateway.Bench.Access;
using HikShareGateway.Bench.Relay;
using HikShareGateway.Core.Access;
using HikShareGateway.WebRtc.Dtls;
using HikShareGateway.WebRtc.Srtp;
using MQTTnet;
using MQTTnet.Protocol;

namespace HikShareGateway.Bench.WebRtc;

/// <summary>
/// <c>webrtc</c>: N WebRTC viewers (<see cref="WebRtcBenchViewer"/>: WHEP, ICE, DTLS-SRTP, all real, in this process)
/// of one 4 Mbit/s H.264 camera (<see cref="BenchCamera"/>) through the gateway, a separate process whose CPU and
/// memory are its own; then the revocation figure (sessions cut by one grants delta); then the SRTP cost alone.
/// </summary>
/// <remarks>
/// Per row:
/// 1. start mosquitto once, publish the signed grants snapshot (retained), start the gateway (WebRTC on, loopback
///    candidates, the allocation probe as a startup hook) linked to it;
/// 2. connect N viewers, 16 at a time; warm up;
/// 3. window: gateway utime/stime from /proc/PID/stat, RSS, the probe's allocated bytes, every viewer's packets and
///    sequence gaps, latency from the camera's send stamp to the viewer's decrypted packet;
/// 4. revocation rounds: grant, connect the sessions, publish one delta removing the share; measured are the
///    publish → the last viewer's DTLS close_notify (viewer clock) and the delta applied → the last "ended: revoked"
///    (the gateway's own log clock, ms resolution).
/// </remarks>
public static partial class WebRtcViewersBench
{
    private const string Gw = "gw-bench";
    private const string Device = "DS-7608NI-K2-BENCH001";
    private const string Owner = "owner@example.com";
    private const string Viewer = "viewer@example.com";
    private const string ShareId = "sh-webrtc-bench";
    private static readonly double TicksPerMs = Stopwatch.Frequency / 1000.0;
    private static int DecryptEvery = 10;
    private static string RtpMtu = "";

    public static async Task<int> RunAsync(string[] args)
    {
        var viewerCounts = Arg(args, "--viewers", "100,300").Split(',', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToArray();
        var seconds = int.Parse(Arg(args, "--seconds", "15"), CultureInfo.InvariantCulture);
        var warmup = int.Parse(Arg(args, "--warmup", "5"), CultureInfo.InvariantCulture);
        var revocationRounds = int.Parse(Arg(args, "--revocation-rounds", "10"), CultureInfo.InvariantCulture);
        var revocationSessions = int.Parse(Arg(args, "--revocation-sessions", "100"), CultureInfo.InvariantCulture);
        // Every Kth viewer decrypts every packet; the others only the latency stamps (see WebRtcBenchViewer).
        var decryptEvery = int.Parse(Arg(args, "--decrypt-every", "10"), CultureInfo.InvariantCulture);
        var rtpMtu = Arg(args, "--rtp-mtu", "");
        var command = $"dotnet run -c Release --project bench/HikShareGateway.Bench -- webrtc --viewers {string.Join(',', viewerCounts)} --seconds {seconds} --warmup {warmup} --revocation-rounds {revocationRounds} --revocation-sessions {revocationSessions} --decrypt-every {decryptEvery}" + (rtpMtu != "" ? $" --rtp-mtu {rtpMtu}" : "");
        DecryptEvery = Math.Max(1, decryptEvery);
        RtpMtu = rtpMtu;
        var repo = FindRepo();
        var gatewayDll = Path.Combine(repo, "src", "HikShareGateway", "bin", "Release", "net10.0", "hikshare-gateway.dll");
        if (!File.Exists(gatewayDll))
        {
            Console.Error.WriteLine($"build the gateway first: dotnet build src/HikShareGateway -c Release ({gatewayDll} is missing)");
            return 2;
        }
        var dir = Directory.CreateTempSubdirectory("hikshare-bench-webrtc").FullName;
        Console.WriteLine($"# {DateTime.UtcNow:yyyy-MM-ddTHH:mm:ssZ}, {Environment.ProcessorCount} cores, load average {ProcStats.LoadAverage()}");
        Console.WriteLine($"webrtc: one 4 Mbit/s H.264 camera to {string.Join(", ", viewerCounts)} WebRTC viewers (WHEP + ICE + DTLS 1.2 + SRTP, in the bench process); window {seconds} s after {warmup} s warm-up");
        Console.WriteLine($"  every {DecryptEvery}th viewer authenticates and decrypts every packet, the others the latency stamps only; gateway RtpMtu {(RtpMtu == "" ? "default (1200)" : RtpMtu)}");
        _ = SrtpGcmMicroseconds.Value; // measured before any gateway runs
        var clip = await H264Clip.EncodeAsync(dir);
        var packetsPerSecond = clip.Units.Sum(u => u.PacketCount) / clip.Seconds;
        Console.WriteLine($"  camera: {clip.Units.Count} access units, {clip.Mbps:F2} Mbit/s, {packetsPerSecond:F0} RTP packets/s in, IDR every {H264Clip.Fps} frames");
        await using var camera = new BenchCamera(clip);
        camera.Start();
        await using var mosquitto = await BenchMosquitto.StartAsync(noDelay: true);
        var certificate = DtlsCertificate.Create(TimeProvider.System, "bench-viewer");

        Console.WriteLine();
        Console.WriteLine($"{"viewers",7} {"playing",7} {"closed",6} {"setup s",7} {"Mbit/s/v",8} {"loss %",7} {"pps/v",6} {"lat p50",7} {"p99",7} {"max",7} {"CPU %",6} {"user",5} {"sys",5} {"RSS MB",6} {"anon",5} {"machine",7} {"B/pkt",6} {"pkts/s out",10} {"load",5}");
        var lastRate = (Viewers: 0, PacketsPerSecond: 0.0);
        foreach (var n in viewerCounts)
        {
            await using var gateway = await GatewayRig.StartAsync(dir, $"n{n}", camera, mosquitto, gatewayDll, n + 16);
            lastRate = (n, await MeasureAsync(gateway, n, seconds, warmup, certificate));
        }

        if (revocationRounds > 0)
        {
            await using var gateway = await GatewayRig.StartAsync(dir, "revocation", camera, mosquitto, gatewayDll, revocationSessions + 16);
            await RevocationAsync(gateway, revocationSessions, revocationRounds, certificate);
        }

        SrtpCost(lastRate.Viewers, lastRate.PacketsPerSecond);
        Console.WriteLine($"command: {command}");
        return 0;
    }

    /// <returns>Packets per second the viewers received in the window (0 when none connected).</returns>
    private static async Task<double> MeasureAsync(GatewayRig gateway, int n, int seconds, int warmup, DtlsCertificate certificate)
    {
        var histogram = new LatencyHistogram();
        var (viewers, setup, failures) = await ConnectAsync(gateway, n, certificate, histogram);
        try
        {
            var playing = viewers.Where(v => v.Playing).ToList();
            foreach (var (why, count) in failures.OrderByDescending(f => f.Value).Take(3))
            {
                Console.WriteLine($"          {count} x {why}");
            }
            if (playing.Count == 0)
            {
                Console.WriteLine($"{n,7} no viewer connected; gateway log:\n{gateway.Process.Tail()}");
                return 0;
            }
            await Task.Delay(TimeSpan.FromSeconds(warmup));
            // The set-up's DTLS handshakes can leave a backlog in the camera → gateway TCP connection (the gateway reads
            // slower while it handshakes): wait, bounded, for it to drain, so that the latency window measures what the
            // gateway adds, not a queue in front of it. Both ends of the window print the queue.
            var drainWatch = Stopwatch.StartNew();
            while (CameraSendQueue(gateway.Camera.Port) > 64 * 1024 && drainWatch.Elapsed < TimeSpan.FromSeconds(20))
            {
                await Task.Delay(100); // a bench's poll of /proc, not a test's synchronisation
            }
            var queueAtStart = CameraSendQueue(gateway.Camera.Port);

            using var probe = new AllocationProbeClient(gateway.ProbePath);
            probe.StartSampling();
            var v0 = playing.Select(v => (v.Packets, v.Bytes, v.Gaps)).ToArray();
            var a0 = probe.Read();
            var cpu0 = ProcStats.CpuSplit(gateway.Process.Pid);
            var bench0 = ProcStats.CpuSeconds(Environment.ProcessId);
            var m0 = ProcStats.Machine();
            var sent0 = gateway.Camera.RtpPacketsSent;
            var t0 = Stopwatch.GetTimestamp();
            histogram.Reset();
            histogram.Enabled = true;
            double peakRss = 0;
            for (var s = 0; s < seconds && !gateway.Process.HasExited; s++)
            {
                await Task.Delay(1000);
                peakRss = Math.Max(peakRss, ProcStats.Memory(gateway.Process.Pid).Rss);
            }
            histogram.Enabled = false;
            var elapsed = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            var sent = gateway.Camera.RtpPacketsSent - sent0;
            var m1 = ProcStats.Machine();
            var cpu1 = ProcStats.CpuSplit(gateway.Process.Pid);
            var a1 = probe.Read();
            var types = probe.StopSampling();
            var (rss, _, anon) = ProcStats.Memory(gateway.Process.Pid);
            var bench1 = ProcStats.CpuSeconds(Environment.ProcessId);
            var (backlog, socketDrops) = ViewerSockets(playing);
            var latencyStamps = histogram.Count;
            var upstreamQueue = CameraSendQueue(gateway.Camera.Port);

            long packets = 0, bytes = 0, gaps = 0;
            for (var i = 0; i < playing.Count; i++)
            {
                packets += playing[i].Packets - v0[i].Packets;
                bytes += playing[i].Bytes - v0[i].Bytes;
                gaps += playing[i].Gaps - v0[i].Gaps;
            }
            var closed = playing.Count(v => v.Closed);
            var loss = packets + gaps == 0 ? 0 : 100.0 * gaps / (packets + gaps);
            // Packets per viewer per second: the gateway re-packetizes to its MTU (1200 < the camera's 1400), so more go out
            // than the camera sends; every viewer should get the same number.
            var perViewerPps = packets / elapsed / playing.Count;
            var allocated = a1.AllocatedBytes - a0.AllocatedBytes - (a1.ProbeBytes - a0.ProbeBytes);
            var user = 100 * (cpu1.User - cpu0.User) / elapsed;
            var sys = 100 * (cpu1.System - cpu0.System) / elapsed;
            var machine = 100.0 * Environment.ProcessorCount * (m1.Busy - m0.Busy) / Math.Max(1, m1.Total - m0.Total);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{n,7} {playing.Count,7} {closed,6} {setup,7:F1} {bytes * 8 / elapsed / 1e6 / playing.Count,8:F2} {loss,7:F3} {perViewerPps,6:F0} {histogram.PercentileMs(0.5),7:F2} {histogram.PercentileMs(0.99),7:F2} {histogram.MaxMs,7:F1} {user + sys,6:F1} {user,5:F1} {sys,5:F1} {rss,6:F0} {anon,5:F0} {machine,7:F0} {(packets == 0 ? 0 : (double)allocated / packets),6:F3} {packets / elapsed,10:F0} {ProcStats.LoadAverage().Split(' ')[0],5}"));
            var sampled = types.Sum(t => t.Bytes);
            // Allocation count from the sampled types (as the fanout bench): each type's share of the bytes over its mean size.
            var allocs = sampled == 0 || packets == 0 ? (double?)null : types.Sum(t => allocated * ((double)t.Bytes / sampled) / Math.Max(24, t.MeanSize)) / packets;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"          allocations per packet out {(allocs is { } a ? a.ToString("F4", CultureInfo.InvariantCulture) : $"<= {(packets == 0 ? 0 : (double)allocated / packets / 24):F4} (no sample)")}; sampled types: {string.Join(", ", types.OrderByDescending(t => t.Bytes).Take(4).Select(t => $"{t.Type} {100.0 * t.Bytes / Math.Max(1, sampled):F0} %"))}"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"          bench process (the viewers) CPU {100 * (bench1 - bench0) / elapsed:F0} %; viewer sockets' receive queues at the end {backlog / 1024.0:F0} KiB, datagrams dropped by them (since start) {socketDrops}; camera → gateway TCP send queue {upstreamQueue / 1024.0:F0} KiB; camera {sent / elapsed:F0} packets/s in; stamps {histogram.Count}, SRTP auth failures {playing.Sum(v => v.AuthFailures)}, gen0 {a1.Gen0 - a0.Gen0} gen2 {a1.Gen2 - a0.Gen2}, peak RSS {peakRss:F0} MB, gateway CPU-µs per packet out {(packets == 0 ? 0 : (cpu1.User + cpu1.System - cpu0.User - cpu0.System) * 1e6 / packets):F2}"));
            var cpuPerPacket = packets == 0 ? 0 : (cpu1.User + cpu1.System - cpu0.User - cpu0.System) * 1e6 / packets;
            var userPerPacket = packets == 0 ? 0 : (cpu1.User - cpu0.User) * 1e6 / packets;
            var srtp = SrtpGcmMicroseconds.Value;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"          packets per camera packet {perViewerPps / Math.Max(1, sent / elapsed):F2} ({perViewerPps:F0} out per viewer for {sent / elapsed:F0} in); latency window after {drainWatch.Elapsed.TotalSeconds:F1} s of queue drain, camera → gateway queue {queueAtStart / 1024.0:F0} KiB at its start, {upstreamQueue / 1024.0:F0} KiB at its end, {latencyStamps} stamps; SRTP seal (AES-GCM, 1200 B, alone) {srtp:F2} µs of the gateway's {cpuPerPacket:F2} CPU-µs ({userPerPacket:F2} user) per packet out: {100 * srtp / Math.Max(0.001, cpuPerPacket):F0} %, the rest is the send (sendmsg, mostly sys) and the relay"));
            return packets / elapsed;
        }
        finally
        {
            // Each row has a gateway of its own, stopped after it: the sessions end with it.
            foreach (var v in viewers) v.Dispose();
        }
    }

    /// <summary>
    /// The viewers' UDP sockets in /proc/net/udp: bytes waiting in their receive queues (a backlog there is latency
    /// the bench's own readers add, not the gateway) and datagrams the kernel dropped because a queue was full.
    /// </summary>
    private static (long Backlog, long Drops) ViewerSockets(List<WebRtcBenchViewer> viewers)
    {
        var ports = viewers.Select(v => v.LocalPort.ToString("X4", CultureInfo.InvariantCulture)).ToHashSet(StringComparer.Ordinal);
        long backlog = 0, drops = 0;
        foreach (var line in File.ReadLines("/proc/net/udp").Skip(1))
        {
            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length < 13 || !f[1].StartsWith("0100007F:", StringComparison.Ordinal) || !ports.Contains(f[1][9..])) continue;
            backlog += long.Parse(f[4].Split(':')[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            drops += long.Parse(f[^1], CultureInfo.InvariantCulture);
        }
        return (backlog, drops);
    }

    /// <summary>Bytes the camera has written that the gateway has not yet read (tx_queue of the camera's TCP sockets).</summary>
    private static long CameraSendQueue(int cameraPort)
    {
        var port = ":" + cameraPort.ToString("X4", CultureInfo.InvariantCulture);
        long queued = 0;
        foreach (var line in File.ReadLines("/proc/net/tcp").Skip(1))
        {
            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length < 5 || !f[1].EndsWith(port, StringComparison.Ordinal) || f[3] != "01") continue;
            queued += long.Parse(f[4].Split(':')[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        }
        return queued;
    }

    private static async Task<(List<WebRtcBenchViewer> Viewers, double Setup, Dictionary<string, int> Failures)> ConnectAsync(
        GatewayRig gateway, int n, DtlsCertificate certificate, LatencyHistogram histogram)
    {
        var viewers = new List<WebRtcBenchViewer>();
        var failures = new Dictionary<string, int>();
        using var gate = new SemaphoreSlim(16);
        var watch = Stopwatch.StartNew();
        var setups = new List<Task>();
        for (var i = 0; i < n; i++)
        {
            var v = new WebRtcBenchViewer(certificate, histogram, decryptAll: i % DecryptEvery == 0);
            viewers.Add(v);
            setups.Add(Task.Run(async () =>
            {
                await gate.WaitAsync();
                try
                {
                    using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                    if (!await v.StartAsync(gateway.Http, $"/whep/live/{Device}/1/main", gateway.Token, cts.Token))
                    {
                        lock (failures) failures[v.Failure!] = failures.GetValueOrDefault(v.Failure!) + 1;
                    }
                }
                finally
                {
                    gate.Release();
                }
            }));
        }
        await Task.WhenAll(setups);
        return (viewers, watch.Elapsed.TotalSeconds, failures);
    }

    private static async Task RevocationAsync(GatewayRig gateway, int sessions, int rounds, DtlsCertificate certificate)
    {
        Console.WriteLine();
        Console.WriteLine($"revocation: {sessions} WebRTC sessions of one share cut by one signed grants delta (mosquitto), {rounds} rounds after 1 warm-up round");
        var publishToLast = new List<double>();
        var appliedToLast = new List<double>();
        for (var round = 0; round <= rounds; round++)
        {
            await gateway.GrantAsync();
            var (viewers, _, failures) = await ConnectAsync(gateway, sessions, certificate, new LatencyHistogram());
            try
            {
                var playing = viewers.Where(v => v.Playing).ToList();
                var ids = playing.Select(v => v.SessionLocation!["/whep/sessions/".Length..]).ToHashSet(StringComparer.Ordinal);
                if (playing.Count < sessions)
                {
                    Console.WriteLine($"  round {round}: only {playing.Count} of {sessions} connected ({string.Join("; ", failures.Select(f => $"{f.Value} x {f.Key}"))})");
                }
                var logStart = gateway.LogLength();
                var published = Stopwatch.GetTimestamp();
                await gateway.RevokeAsync();
                var deadline = Stopwatch.GetTimestamp() + 10 * Stopwatch.Frequency;
                while (playing.Any(v => !v.Closed) && Stopwatch.GetTimestamp() < deadline)
                {
                    await Task.Delay(5); // a bench's poll of the viewers' flags, not a test's synchronisation
                }
                var open = playing.Count(v => !v.Closed);
                var last = playing.Where(v => v.Closed).Select(v => v.ClosedAt).DefaultIfEmpty(published).Max();
                var e2e = (last - published) / TicksPerMs;
                // The gateway's own clock: "Applied grants Delta" → the last of these sessions' "ended: revoked".
                await Task.Delay(200); // let the log lines of the last closes reach the file
                var log = gateway.LogSince(logStart);
                // The "Applied" line follows the registry's pass (it may miss this slice): then the first "Revoked" line is the start.
                var applied = LogTimes(log, "Applied grants Delta").DefaultIfEmpty(TimeSpan.MaxValue).Min();
                var revoked = LogTimes(log, "Revoked session").DefaultIfEmpty(TimeSpan.MaxValue).Min();
                if (revoked < applied) applied = revoked;
                var ends = EndedRevoked().Matches(log).Where(m => ids.Contains(m.Groups["id"].Value)).Select(m => Time(m.Groups["t"].Value)).ToList();
                var gw = ends.Count > 0 ? (ends.Max() - applied).TotalMilliseconds : double.NaN;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  round {round,2}{(round == 0 ? " (warm-up)" : "")}: {playing.Count} sessions, {open} still open after 10 s; publish → last close_notify at the viewer {e2e,7:F1} ms; applied → last ended (gateway log, {ends.Count} lines) {gw,5:F0} ms"));
                if (round > 0)
                {
                    publishToLast.Add(e2e);
                    if (!double.IsNaN(gw)) appliedToLast.Add(gw);
                }
            }
            finally
            {
                foreach (var v in viewers) v.Dispose();
            }
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  publish → last closed (viewer): p50 {Percentile(publishToLast, 0.5):F1} ms, p99 {Percentile(publishToLast, 0.99):F1} ms, max {publishToLast.DefaultIfEmpty(0).Max():F1} ms over {publishToLast.Count} rounds"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  applied → last closed (gateway log): p50 {Percentile(appliedToLast, 0.5):F0} ms, p99 {Percentile(appliedToLast, 0.99):F0} ms, max {appliedToLast.DefaultIfEmpty(0).Max():F0} ms; target p99 < 100 ms; load average {ProcStats.LoadAverage()}"));
    }

    /// <summary>SRTP protect alone, per packet of the sizes the gateway sends (1200-byte MTU), both profiles.</summary>
    /// <summary>
    /// One AES-GCM seal of a 1200-byte packet alone, CPU-µs (this process's CPU time over 200,000 seals, so that a loaded
    /// machine's waits are not counted), for the per-row SRTP share.
    /// </summary>
    private static readonly Lazy<double> SrtpGcmMicroseconds = new(() =>
    {
        using var context = new SrtpContext(SrtpProfile.AeadAes128Gcm, RandomNumberGenerator.GetBytes(16), RandomNumberGenerator.GetBytes(12));
        var packet = new byte[1500];
        packet[0] = 0x80;
        packet[1] = 96;
        const int count = 200_000;
        for (var i = 0; i < 20_000; i++) Seal(i);
        var cpu0 = ProcStats.CpuSeconds(Environment.ProcessId);
        for (var i = 20_000; i < 20_000 + count; i++) Seal(i);
        return (ProcStats.CpuSeconds(Environment.ProcessId) - cpu0) * 1e6 / count;

        void Seal(int i)
        {
            packet[2] = (byte)(i >> 8);
            packet[3] = (byte)i;
            context.ProtectRtp(packet, 1200);
        }
    });

    private static void SrtpCost(int viewers, double packetsPerSecondOut)
    {
        Console.WriteLine();
        Console.WriteLine("srtp: SrtpContext.ProtectRtp of one 1200-byte RTP packet (12-byte header), one thread, CPU time");
        var key = RandomNumberGenerator.GetBytes(16);
        var salt = RandomNumberGenerator.GetBytes(14);
        foreach (var profile in new[] { SrtpProfile.AeadAes128Gcm, SrtpProfile.AesCm128HmacSha1_80 })
        {
            using var context = new SrtpContext(profile, key, profile == SrtpProfile.AeadAes128Gcm ? salt[..12] : salt);
            var packet = new byte[1500];
            packet[0] = 0x80;
            packet[1] = 96;
            packet[8] = 1;
            const int count = 200_000;
            for (var i = 0; i < 20_000; i++) Protect(context, packet, i);
            var before = GC.GetAllocatedBytesForCurrentThread();
            var cpu0 = ProcStats.CpuSeconds(Environment.ProcessId);
            for (var i = 20_000; i < 20_000 + count; i++) Protect(context, packet, i);
            // CPU time, not wall time: on a loaded machine the wall clock counts the waits for a core too.
            var ns = (ProcStats.CpuSeconds(Environment.ProcessId) - cpu0) * 1e9 / count;
            var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {profile,-20} {ns,7:F0} ns/packet  {(double)allocated / count,5:F2} B/packet; × the {packetsPerSecondOut:F0} packets/s the {viewers} viewers received ≈ {ns * packetsPerSecondOut / 1e7:F0} % of one core"));
        }

        static void Protect(SrtpContext context, byte[] packet, int i)
        {
            packet[2] = (byte)(i >> 8);
            packet[3] = (byte)i;
            context.ProtectRtp(packet, 1200);
        }
    }

    private static double Percentile(List<double> values, double p)
    {
        if (values.Count == 0) return double.NaN;
        var sorted = values.Order().ToList();
        return sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p * sorted.Count) - 1)];
    }

    private static IEnumerable<TimeSpan> LogTimes(string log, string text) =>
        log.Split('\n').Where(l => l.StartsWith('[') && l.Length > 13 && l.Contains(text, StringComparison.Ordinal)).Select(l => Time(l[1..13]));

    private static TimeSpan Time(string hhmmssfff) => TimeSpan.ParseExact(hhmmssfff, @"hh\:mm\:ss\.fff", CultureInfo.InvariantCulture);

    [GeneratedRegex(@"\[(?<t>\d\d:\d\d:\d\d\.\d{3}) [A-Z]{3}\][^\n]*WebRTC session (?<id>[0-9a-f]+) ended: revoked")]
    private static partial Regex EndedRevoked();

    private static string Arg(string[] args, string name, string fallback)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
    }

    private static string FindRepo()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            if (File.Exists(Path.Combine(d.FullName, "HikShareGateway.sln")))
            {
                return d.FullName;
            }
        }
        return Directory.GetCurrentDirectory();
    }

    /// <summary>
    /// The gateway under test: its own process (<c>hikshare-gateway run --config</c>), linked to mosquitto for its
    /// grants (a signed snapshot retained before it starts; deltas to grant and revoke), WebRTC on one UDP port with
    /// loopback host candidates, and the allocation probe of the fanout bench as a startup hook.
    /// </summary>
    internal sealed class GatewayRig : IAsyncDisposable
    {
        private readonly Ed25519SigningKey _key;
        private readonly IMqttClient _cloud;
        private long _version = 1;
        private bool _granted = true;

        private GatewayRig(RelayProcess process, BenchCamera camera, Ed25519SigningKey key, IMqttClient cloud, int httpPort, string probePath)
        {
            Process = process;
            Camera = camera;
            _key = key;
            _cloud = cloud;
            ProbePath = probePath;
            Http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}"), Timeout = TimeSpan.FromSeconds(30) };
            Token = ViewerTokens.Mint(key, Viewer, [Gw], TimeSpan.FromHours(2), DateTimeOffset.UtcNow);
        }

        public RelayProcess Process { get; }
        public BenchCamera Camera { get; }
        public HttpClient Http { get; }
        public string Token { get; }
        public string ProbePath { get; }

        public static async Task<GatewayRig> StartAsync(string dir, string name, BenchCamera camera, BenchMosquitto mosquitto, string gatewayDll, int maxSessions)
        {
            var runDir = Directory.CreateDirectory(Path.Combine(dir, name)).FullName;
            var key = Ed25519SigningKey.Generate("bench-cloud-" + name);
            var cloud = new MqttClientFactory().CreateMqttClient();
            await cloud.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", mosquitto.Port).WithClientId("bench-cloud-" + name).Build());
            var snapshot = new GrantsSnapshot(Gw, 1, DateTimeOffset.UtcNow, [new GrantDevice(Device, Owner)], [Share()]);
            await Publish(cloud, key, "grants", GrantsJson.Write(snapshot), retain: true);
            var httpPort = RelayProcess.FreePort();
            var jwk = JsonNode.Parse(key.Public.ToJson())!;
            var config = new JsonObject
            {
                ["Gateway"] = new JsonObject { ["Id"] = Gw, ["StateDirectory"] = Directory.CreateDirectory(Path.Combine(runDir, "state")).FullName },
                ["Rtsp"] = new JsonObject { ["Port"] = RelayProcess.FreePort() },
                ["Http"] = new JsonObject { ["Port"] = httpPort, ["BindAddress"] = "127.0.0.1" },
                ["Admin"] = new JsonObject { ["Port"] = RelayProcess.FreePort() },
                ["Cloud"] = new JsonObject { ["Broker"] = $"mqtt://127.0.0.1:{mosquitto.Port}", ["TrustedKeys"] = new JsonArray(jwk) },
                ["Discovery"] = new JsonObject { ["Enabled"] = false },
                ["Onvif"] = new JsonObject { ["Events"] = false },
                ["WebRtc"] = new JsonObject
                {
                    ["Enabled"] = true, ["UdpPort"] = 0, ["IncludeLoopback"] = true,
                    ["MaxSessions"] = maxSessions, ["MaxSessionsPerAccount"] = maxSessions,
                },
                // --rtp-mtu: the gateway cuts each camera FU-A fragment to fit; above the camera's 1400 it sends one per fragment.
                ["Devices"] = new JsonArray(new JsonObject
                {
                    ["DeviceId"] = Device,
                    ["Channels"] = new JsonArray(new JsonObject { ["Channel"] = 1, ["Name"] = "bench", ["Main"] = camera.Url }),
                }),
            };
            if (RtpMtu != "") config["WebRtc"]!["RtpMtu"] = int.Parse(RtpMtu, CultureInfo.InvariantCulture);
            var configPath = Path.Combine(runDir, "gw.json");
            await File.WriteAllTextAsync(configPath, config.ToJsonString());
            var probePath = Path.Combine(runDir, "alloc.sock");
            var environment = new Dictionary<string, string>
            {
                ["DOTNET_STARTUP_HOOKS"] = AllocationProbeClient.HookAssembly,
                [AllocationProbeClient.SocketVariable] = probePath,
            };
            var process = RelayProcess.Start("gateway", $"dotnet '{gatewayDll}' run --config '{configPath}'", Path.Combine(runDir, "gateway.log"), environment);
            var rig = new GatewayRig(process, camera, key, cloud, httpPort, probePath);
            var ready = Stopwatch.StartNew();
            while (!(rig.LogSince(0).Contains("Applied grants Snapshot", StringComparison.Ordinal) && await process.WaitListeningAsync(httpPort, TimeSpan.FromSeconds(1))))
            {
                if (process.HasExited || ready.Elapsed > TimeSpan.FromSeconds(60))
                {
                    throw new InvalidOperationException("the gateway did not start:\n" + process.Tail());
                }
                await Task.Delay(50);
            }
            return rig;
        }

        private static Share Share() => new(ShareId, Owner, Viewer, null, ShareState.Accepted, null, [new ShareDevice(Device, [], Privilege.LiveView)]);

        public async Task GrantAsync()
        {
            if (_granted) return;
            await ApplyDeltaAsync(new GrantsDelta(Gw, _version, _version + 1, DateTimeOffset.UtcNow, [], [], [Share()], []));
            _granted = true;
        }

        /// <summary>Publishes the delta removing the share (returns once published; the caller measures).</summary>
        public async Task RevokeAsync()
        {
            var delta = new GrantsDelta(Gw, _version, _version + 1, DateTimeOffset.UtcNow, [], [], [], [ShareId]);
            _version++;
            _granted = false;
            await Publish(_cloud, _key, "grants/delta", GrantsJson.Write(delta), retain: false);
        }

        private async Task ApplyDeltaAsync(GrantsDelta delta)
        {
            var before = Count(LogSince(0), "Applied grants Delta");
            _version = delta.Version;
            await Publish(_cloud, _key, "grants/delta", GrantsJson.Write(delta), retain: false);
            var watch = Stopwatch.StartNew();
            while (Count(LogSince(0), "Applied grants Delta") == before && watch.Elapsed < TimeSpan.FromSeconds(10))
            {
                await Task.Delay(20);
            }
        }

        public long LogLength() => File.Exists(Process.Log) ? new FileInfo(Process.Log).Length : 0;

        public string LogSince(long offset)
        {
            if (!File.Exists(Process.Log)) return "";
            using var stream = new FileStream(Process.Log, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            stream.Seek(Math.Min(offset, stream.Length), SeekOrigin.Begin);
            return new StreamReader(stream).ReadToEnd();
        }

        private static int Count(string text, string what)
        {
            var count = 0;
            for (var i = text.IndexOf(what, StringComparison.Ordinal); i >= 0; i = text.IndexOf(what, i + what.Length, StringComparison.Ordinal)) count++;
            return count;
        }

        private static Task Publish(IMqttClient cloud, Ed25519SigningKey key, string sub, byte[] payload, bool retain) =>
            cloud.PublishAsync(new MqttApplicationMessageBuilder().WithTopic($"hikshare/v1/gateways/{Gw}/{sub}")
                .WithPayload(Encoding.ASCII.GetBytes(Jws.Sign(payload, key))).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).WithRetainFlag(retain).Build());

        public async ValueTask DisposeAsync()
        {
            Http.Dispose();
            await Process.DisposeAsync();
            _cloud.Dispose();
        }
    }
}
