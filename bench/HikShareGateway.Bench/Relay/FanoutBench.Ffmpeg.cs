using System.Diagnostics;
using System.Globalization;

namespace HikShareGateway.Bench.Relay;

/// <summary>
/// <c>fanout --readers ffmpeg</c>: the same camera and relays, but every viewer is a real player, an
/// <see cref="FfmpegReader"/> process. Measured per relay process over the window: user and system CPU seconds,
/// voluntary and non-voluntary context switches (all threads), idle RSS (before the first viewer), peak and final
/// RSS, time from start to listening; per viewer the frames ffmpeg read against the camera's, and the RTP sequence
/// gaps ffmpeg itself reports ("RTP: missed N packets"). The relays of one round run one after the other, their
/// order rotated every round, so that a burst of load from the rest of the machine does not always hit the same one.
/// </summary>
public static partial class FanoutBench
{
    private sealed class FfmpegRow
    {
        public required string Relay { get; init; }
        public required int Viewers { get; init; }
        public int Round { get; init; }
        public string? Error { get; set; }
        public int Playing, Exited;
        public double ListenMs, IdleRssMb, UserS, SysS, PeakRssMb, RssMb, AnonMb, DeliveredPct, ReadersCpuPct, MachinePct, Seconds;
        public long Voluntary, NonVoluntary, MissedPackets, MinFrames, ExpectedFrames;
        public int Threads;
        /// <summary>Bytes the gateway's managed heap allocated over the window per RTP/RTCP packet it wrote (its /metrics); null for gst.</summary>
        /// <summary>The window's allocations less one /metrics scrape's (<see cref="ScrapeBytes"/>), per packet relayed.</summary>
        public double? BytesPerPacket;
        public double? RawBytesPerPacket;
        public long ScrapeBytes;
        public string Load = "";
        public double CpuS => UserS + SysS;
    }

    private static async Task<int> RunFfmpegAsync(Options o, string command, string repo)
    {
        var dir = Directory.CreateTempSubdirectory("hikshare-bench-fanout").FullName;
        try
        {
            Console.WriteLine($"fanout --readers ffmpeg: one 4 Mbit/s H.264 camera relayed to {string.Join(", ", o.Viewers)} ffmpeg processes; {Environment.ProcessorCount} cores; window {o.Seconds} s after {o.Warmup} s warm-up; load average {ProcStats.LoadAverage()}");
            Console.WriteLine($"  each viewer: ffmpeg {FfmpegReader.Arguments("URL")}");
            var clip = await H264Clip.EncodeAsync(dir);
            Console.WriteLine($"  camera: ffmpeg {H264Clip.FfmpegArguments("clip.h264", 10, 4000)}; one send per {(o.CameraWritesPerPacket ? "RTP packet" : "access unit")}");
            await using var camera = new BenchCamera(clip, o.CameraWritesPerPacket);
            camera.Start();
            string? gatewayDll = null;
            var relays = new List<string>();
            if (o.Relay is "gateway" or "both")
            {
                gatewayDll = o.GatewayBinary ?? await EnsureGatewayBuiltAsync(repo);
                relays.Add("gateway");
                if (o.Tls)
                {
                    relays.Add("gw-tls");
                }
            }
            if (o.Relay is "gst" or "both")
            {
                relays.Add("gst");
            }
            var rows = new List<FfmpegRow>();
            for (var round = 1; round <= o.Repeat; round++)
            {
                foreach (var n in o.Viewers)
                {
                    for (var k = 0; k < relays.Count; k++)
                    {
                        var relay = relays[(k + round - 1) % relays.Count];
                        var row = await MeasureFfmpegAsync(relay, n, round, o, camera, dir, repo, relay is "gst" ? null : gatewayDll);
                        rows.Add(row);
                        PrintFfmpeg(row);
                    }
                }
            }
            PrintFfmpegTable(rows, o, relays, command);
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

    private static async Task<FfmpegRow> MeasureFfmpegAsync(string relay, int n, int round, Options o, BenchCamera camera, string dir, string repo, string? gatewayDll)
    {
        var row = new FfmpegRow { Relay = relay, Viewers = n, Round = round };
        var runDir = Directory.CreateDirectory(Path.Combine(dir, $"ffmpeg-{relay}-{n}-{round}")).FullName;
        var log = Path.Combine(runDir, relay + ".log");
        var started = Stopwatch.StartNew();
        // No allocation probe here: the gateway runs exactly as installed (the probe's EventListener has threads of its own).
        var (process, url, token, _, _, httpPort, listenPort) = StartRelay(relay, o with { Auth = ViewerAuth.Query }, camera, dir, repo, runDir, log, gatewayDll, probe: false);
        var readers = new List<FfmpegReader>();
        await using (process)
        {
            try
            {
                if (!await process!.WaitListeningAsync(listenPort, TimeSpan.FromSeconds(30)))
                {
                    row.Error = process.HasExited ? "the relay exited at start" : $"nothing listens on port {listenPort} after 30 s";
                    PrintFfmpegFailure(row, process, readers);
                    return row;
                }
                row.ListenMs = started.Elapsed.TotalMilliseconds;
                // Idle: listening, nothing connected (the gateway starts its upstream at the first DESCRIBE).
                await Task.Delay(2000);
                row.IdleRssMb = ProcStats.Memory(process.Pid).Rss;

                // ffmpeg cuts URL passwords at 127 bytes: the token goes in the query (contract §4).
                var viewerUrl = token is null ? url : url + "?token=" + token;
                for (var i = 0; i < n; i++)
                {
                    readers.Add(FfmpegReader.Start(viewerUrl));
                }
                var connect = Stopwatch.StartNew();
                while (connect.Elapsed < TimeSpan.FromSeconds(30) && readers.Any(r => r.Frames <= 0 && !r.HasExited))
                {
                    await Task.Delay(100);
                }
                row.Playing = readers.Count(r => r.Frames > 0 && !r.HasExited);
                Console.WriteLine($"  {relay,-7} {n,5} ffmpeg: {row.Playing} playing after {connect.Elapsed.TotalSeconds:F1} s");
                if (row.Playing == 0)
                {
                    row.Error = "no ffmpeg could play";
                    PrintFfmpegFailure(row, process, readers);
                    return row;
                }
                await Task.Delay(TimeSpan.FromSeconds(o.Warmup));
                // Players that fell behind while 100 ffmpeg processes started read a backlog faster than real time:
                // the window opens once the readers together take at most 105 % of the camera's rate (20 s at most).
                for (var wait = 0; wait < 20; wait++)
                {
                    var before = readers.Sum(r => Math.Max(0, r.Frames));
                    var unitsBefore = camera.UnitsSent;
                    await Task.Delay(1000);
                    var rate = (double)(readers.Sum(r => Math.Max(0, r.Frames)) - before) / Math.Max(1, (camera.UnitsSent - unitsBefore) * row.Playing);
                    if (rate <= 1.05)
                    {
                        break;
                    }
                    Console.WriteLine($"          readers catching up ({100 * rate:F0} % of real time)");
                }

                // :: The window.
                var f0 = readers.Select(r => r.Frames).ToArray();
                var missed0 = readers.Sum(r => r.MissedPackets);
                var r0 = ReadersCpu(readers);
                var (u0, s0) = ProcStats.CpuSplit(process.Pid);
                var (v0, nv0) = ProcStats.ContextSwitches(process.Pid);
                var metrics0 = httpPort is { } hp0 ? await ScrapeMetricsAsync(hp0) : default;
                var m0 = ProcStats.Machine();
                var units0 = camera.UnitsSent;
                var t0 = Stopwatch.GetTimestamp();
                for (var s = 0; s < o.Seconds && !process.HasExited; s++)
                {
                    await Task.Delay(1000);
                    if (!process.HasExited)
                    {
                        row.PeakRssMb = Math.Max(row.PeakRssMb, ProcStats.Memory(process.Pid).Rss);
                    }
                }
                if (process.HasExited)
                {
                    row.Error = "the relay exited during the window";
                    PrintFfmpegFailure(row, process, readers);
                    return row;
                }
                var (u1, s1) = ProcStats.CpuSplit(process.Pid);
                var (v1, nv1) = ProcStats.ContextSwitches(process.Pid);
                var metrics1 = httpPort is { } hp1 ? await ScrapeMetricsAsync(hp1) : default;
                // A second scrape right after: what one scrape allocates (the window holds one, split between its ends).
                var metrics2 = httpPort is { } hp2 ? await ScrapeMetricsAsync(hp2) : default;
                var m1 = ProcStats.Machine();
                var units1 = camera.UnitsSent;
                var r1 = ReadersCpu(readers);
                row.Seconds = Stopwatch.GetElapsedTime(t0).TotalSeconds;
                row.Threads = ProcStats.Threads(process.Pid);
                var (rss, peak, anon) = ProcStats.Memory(process.Pid);
                row.RssMb = rss;
                row.AnonMb = anon;
                row.PeakRssMb = Math.Max(row.PeakRssMb, peak);
                row.UserS = u1 - u0;
                row.SysS = s1 - s0;
                row.Voluntary = v1 - v0;
                row.NonVoluntary = nv1 - nv0;
                row.MachinePct = 100.0 * Environment.ProcessorCount * (m1.Busy - m0.Busy) / Math.Max(1, m1.Total - m0.Total);
                row.ReadersCpuPct = 100 * (r1 - r0) / row.Seconds;
                row.Load = ProcStats.LoadAverage();
                if (metrics0 is { RelayedPackets: { } p0, AllocatedBytes: { } b0 } && metrics1 is { RelayedPackets: { } p1, AllocatedBytes: { } b1 } && p1 > p0)
                {
                    row.ScrapeBytes = metrics2.AllocatedBytes is { } b2 ? Math.Max(0, b2 - b1) : 0;
                    row.RawBytesPerPacket = (double)(b1 - b0) / (p1 - p0);
                    row.BytesPerPacket = (double)Math.Max(0, b1 - b0 - row.ScrapeBytes) / (p1 - p0);
                }

                // Frames: ffmpeg reports its count every 0.1 s, so a viewer's window is within ±3 frames of the camera's.
                row.ExpectedFrames = units1 - units0;
                long frames = 0, playing = 0, min = long.MaxValue;
                for (var i = 0; i < readers.Count; i++)
                {
                    if (f0[i] <= 0)
                    {
                        continue;
                    }
                    var got = readers[i].Frames - f0[i];
                    frames += got;
                    playing++;
                    min = Math.Min(min, got);
                }
                row.MinFrames = playing == 0 ? 0 : min;
                row.DeliveredPct = row.ExpectedFrames == 0 || playing == 0 ? 0 : 100.0 * frames / (row.ExpectedFrames * playing);
                row.MissedPackets = readers.Sum(r => r.MissedPackets) - missed0;
                row.Exited = readers.Count(r => r.HasExited);
                foreach (var e in readers.Where(r => r.HasExited || r.Frames <= 0).Select(r => r.Errors).Distinct().Take(3))
                {
                    Console.WriteLine($"          a viewer that stopped or never played: {(e.Length > 0 ? e : "(no output)")}");
                }
                return row;
            }
            finally
            {
                await Task.WhenAll(readers.Select(r => r.DisposeAsync().AsTask()));
            }
        }
    }

    private static double ReadersCpu(List<FfmpegReader> readers)
    {
        var sum = 0.0;
        foreach (var r in readers)
        {
            try
            {
                sum += ProcStats.CpuSeconds(r.Pid);
            }
            catch (IOException)
            {
                // Exited: its CPU is gone with it (counted in Exited).
            }
        }
        return sum;
    }

    private static void PrintFfmpegFailure(FfmpegRow row, RelayProcess? process, List<FfmpegReader> readers)
    {
        Console.WriteLine($"  {row.Relay} with {row.Viewers} ffmpeg FAILED: {row.Error}");
        foreach (var e in readers.Select(r => r.Errors).Where(e => e.Length > 0).Distinct().Take(3))
        {
            Console.WriteLine("  ffmpeg: " + e);
        }
        if (process is not null)
        {
            Console.WriteLine($"  --- last lines of {process.Log} ---");
            foreach (var line in process.Tail().Split('\n'))
            {
                Console.WriteLine("  | " + line);
            }
        }
    }

    private static void PrintFfmpeg(FfmpegRow r)
    {
        if (r.Error is not null)
        {
            return;
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  {r.Relay,-7} {r.Viewers,5} ffmpeg: CPU {r.CpuS:F2} s (user {r.UserS:F2}, sys {r.SysS:F2}) in {r.Seconds:F1} s, cs vol {r.Voluntary} nonvol {r.NonVoluntary}, {r.Threads} threads, "
            + $"RSS idle {r.IdleRssMb:F0} peak {r.PeakRssMb:F0} end {r.RssMb:F0} MB, listening after {r.ListenMs:F0} ms; frames {r.DeliveredPct:F1} % (min {r.MinFrames} of {r.ExpectedFrames}), missed RTP {r.MissedPackets}, "
            + $"exited {r.Exited}; readers {r.ReadersCpuPct:F0} %, machine {r.MachinePct:F0} %, load {r.Load}{(r.BytesPerPacket is { } b ? string.Create(CultureInfo.InvariantCulture, $"; allocated {b:F3} B/packet without the window's /metrics scrape ({r.ScrapeBytes / 1024.0:F0} KiB; with it {r.RawBytesPerPacket:F3})") : "")}"));
    }

    private static void PrintFfmpegTable(List<FfmpegRow> rows, Options o, List<string> relays, string command)
    {
        var inv = CultureInfo.InvariantCulture;
        Console.WriteLine();
        Console.WriteLine("relay     viewers  round  playing  CPU s  user s  sys s   vol cs  nonvol cs  threads  idle MB  peak MB  end MB  anon MB  listen ms  frames %  missed  exited  readers %  machine %  load");
        foreach (var r in rows)
        {
            if (r.Error is not null)
            {
                Console.WriteLine($"{r.Relay,-9} {r.Viewers,7}  {r.Round,5}  FAILED: {r.Error}");
                continue;
            }
            Console.WriteLine(string.Create(inv, $"{r.Relay,-9} {r.Viewers,7}  {r.Round,5}  {r.Playing,7}  {r.CpuS,5:F2}  {r.UserS,6:F2}  {r.SysS,5:F2}  {r.Voluntary,7}  {r.NonVoluntary,9}  {r.Threads,7}  {r.IdleRssMb,7:F0}  {r.PeakRssMb,7:F0}  {r.RssMb,6:F0}  {r.AnonMb,7:F0}  {r.ListenMs,9:F0}  {r.DeliveredPct,8:F1}  {r.MissedPackets,6}  {r.Exited,6}  {r.ReadersCpuPct,9:F0}  {r.MachinePct,9:F0}  {r.Load}"));
        }
        Console.WriteLine();
        Console.WriteLine($"medians over {o.Repeat} round(s)  viewers  CPU s  user s  sys s   vol cs  nonvol cs  idle MB  peak MB  listen ms  frames % (worst)  missed (worst)");
        var medians = new Dictionary<(string, int), FfmpegRow>();
        foreach (var n in o.Viewers)
        {
            foreach (var relay in relays)
            {
                var ok = rows.Where(r => r.Relay == relay && r.Viewers == n && r.Error is null).ToList();
                if (ok.Count == 0)
                {
                    continue;
                }
                var m = new FfmpegRow
                {
                    Relay = relay, Viewers = n,
                    UserS = Median(ok.Select(r => r.UserS)), SysS = Median(ok.Select(r => r.SysS)),
                    Voluntary = (long)Median(ok.Select(r => (double)r.Voluntary)), NonVoluntary = (long)Median(ok.Select(r => (double)r.NonVoluntary)),
                    IdleRssMb = Median(ok.Select(r => r.IdleRssMb)), PeakRssMb = Median(ok.Select(r => r.PeakRssMb)), ListenMs = Median(ok.Select(r => r.ListenMs)),
                    DeliveredPct = ok.Min(r => r.DeliveredPct), MissedPackets = ok.Max(r => r.MissedPackets),
                    Playing = ok.Count == rows.Count(r => r.Relay == relay && r.Viewers == n) ? ok.Min(r => r.Playing) : -1,
                    Exited = ok.Max(r => r.Exited),
                    BytesPerPacket = ok.All(r => r.BytesPerPacket is not null) ? ok.Max(r => r.BytesPerPacket!.Value) : null,
                };
                // CPU s: the median of the rounds' totals, not the sum of the user and sys medians.
                var cpu = Median(ok.Select(r => r.CpuS));
                medians[(relay, n)] = m;
                Console.WriteLine(string.Create(inv, $"{relay,-26} {n,8}  {cpu,5:F2}  {m.UserS,6:F2}  {m.SysS,5:F2}  {m.Voluntary,7}  {m.NonVoluntary,9}  {m.IdleRssMb,7:F0}  {m.PeakRssMb,7:F0}  {m.ListenMs,9:F0}  {m.DeliveredPct,16:F1}  {m.MissedPackets,14}"));
                m.Seconds = cpu; // carries the CPU median into the ratios below
            }
        }
        Console.WriteLine();
        Console.WriteLine("ratios of the medians         viewers  CPU    user   sys    nonvol cs  peak RSS  idle RSS");
        foreach (var n in o.Viewers)
        {
            if (!medians.TryGetValue(("gst", n), out var s))
            {
                continue;
            }
            foreach (var relay in relays.Where(r => r != "gst"))
            {
                if (medians.TryGetValue((relay, n), out var g))
                {
                    Console.WriteLine(string.Create(inv, $"{relay + " / gst",-28} {n,8}  {g.Seconds / s.Seconds,5:F2}  {g.UserS / s.UserS,5:F2}  {g.SysS / s.SysS,5:F2}  {(double)g.NonVoluntary / Math.Max(1, s.NonVoluntary),9:F2}  {g.PeakRssMb / s.PeakRssMb,8:F2}  {g.IdleRssMb / s.IdleRssMb,8:F2}"));
                }
            }
            if (medians.TryGetValue(("gw-tls", n), out var t) && medians.TryGetValue(("gateway", n), out var p))
            {
                Console.WriteLine(string.Create(inv, $"{"gw-tls / gateway",-28} {n,8}  {t.Seconds / p.Seconds,5:F2}  {t.UserS / p.UserS,5:F2}  {t.SysS / p.SysS,5:F2}  {(double)t.NonVoluntary / Math.Max(1, p.NonVoluntary),9:F2}  {t.PeakRssMb / p.PeakRssMb,8:F2}"));
            }
        }
        if (medians.TryGetValue(("gateway", 100), out var g100))
        {
            Console.WriteLine();
            Console.WriteLine($"targets of issue 16 measurable with ffmpeg viewers (medians over {o.Repeat} round(s); frames and gaps in the worst round):");
            var s100 = medians.GetValueOrDefault(("gst", 100));
            FfTarget("100 ffmpeg: gateway CPU <= 0.5 x gst's", s100 is not null, () => g100.Seconds <= 0.5 * s100!.Seconds, () => string.Create(inv, $"{g100.Seconds:F2} s vs {s100!.Seconds:F2} s = {g100.Seconds / s100.Seconds:F2}"));
            FfTarget("100 ffmpeg: non-voluntary context switches <= 2 x gst's", s100 is not null, () => g100.NonVoluntary <= 2 * s100!.NonVoluntary, () => $"{g100.NonVoluntary} vs {s100!.NonVoluntary}");
            FfTarget("100 ffmpeg: zero loss", true, () => g100.Playing == 100 && g100.Exited == 0 && g100.MissedPackets == 0 && g100.DeliveredPct >= 98.5,
                () => string.Create(inv, $"playing {g100.Playing}, exited {g100.Exited}, missed RTP {g100.MissedPackets}, frames {g100.DeliveredPct:F1} % (±1.5 % is the window edge)"));
            FfTarget("idle RSS <= 40 MB", true, () => g100.IdleRssMb <= 40, () => string.Create(inv, $"{g100.IdleRssMb:F0} MB"));
            FfTarget("start to listening < 200 ms", true, () => g100.ListenMs < 200, () => string.Create(inv, $"{g100.ListenMs:F0} ms (process start to the first accepted TCP connect, polled every 5 ms)"));
            if (g100.BytesPerPacket is { } bpp)
            {
                // GC.GetTotalAllocatedBytes through /metrics (the NativeAOT binary has no startup hook for type samples):
                // every allocation is at least 24 B, so B/packet / 24 bounds the allocations per packet.
                FfTarget("allocations on the packet path < 0.01 per packet", true, () => bpp / MinObjectBytes < 0.01,
                    () => string.Create(inv, $"{bpp:F3} B/packet in the worst round (hikshare_process_allocated_bytes_total over hikshare_relayed_packets_total, less the one /metrics scrape in the window, measured back to back after it): at most {bpp / MinObjectBytes:F4} allocations/packet"));
            }
            if (medians.TryGetValue(("gw-tls", 100), out var t100))
            {
                FfTarget("RTSPS at 100 viewers <= 1.5 x plain RTSP CPU", true, () => t100.Seconds <= 1.5 * g100.Seconds, () => string.Create(inv, $"{t100.Seconds:F2} s vs {g100.Seconds:F2} s = {t100.Seconds / g100.Seconds:F2}"));
            }
        }
        Console.WriteLine();
        Console.WriteLine("  CPU s = relay process utime + stime over the window (/proc/PID/stat); cs = context switches summed over /proc/PID/task/*/status;");
        Console.WriteLine("  idle MB = VmRSS 2 s after listening, before any viewer; peak = VmHWM; frames % = frames ffmpeg read / camera access units x playing;");
        Console.WriteLine("  missed = RTP sequence gaps ffmpeg reported; readers % = the ffmpeg processes' CPU (of one core); load = /proc/loadavg at the end of the window.");
        Console.WriteLine($"  load average at the end: {ProcStats.LoadAverage()}");
        Console.WriteLine($"  command: {command}");
    }

    private static void FfTarget(string what, bool measured, Func<bool> ok, Func<string> detail)
    {
        if (!measured)
        {
            Console.WriteLine($"  [ -- ] {what}: not measured");
            return;
        }
        Console.WriteLine($"  [{(ok() ? " ok " : "FAIL")}] {what}: {detail()}");
    }
}
