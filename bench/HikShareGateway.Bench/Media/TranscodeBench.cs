using System.Diagnostics;
using System.Globalization;
using HikShareGateway.Core.Devices;
using HikShareGateway.Ffmpeg;
using HikShareGateway.Ffmpeg.Transcoding;
using HikShareGateway.Ffmpeg.Video;
using HikShareGateway.Media;
using Microsoft.Extensions.Logging.Abstractions;
using VideoCodec = HikShareGateway.Ffmpeg.Video.VideoCodec;

namespace HikShareGateway.Bench.Media;

/// <summary>
/// <c>transcode</c>: one derived H.264 stream (<see cref="TranscodedStreams"/>) of a 1080p25 H.265 stream
/// (<see cref="ClipSource"/>, in process, 2 s GOP). Per target: CPU % of one core (process CPU over the window minus
/// the same window without the transcoder), added latency p50/p99 (the source handing over an access unit's last
/// packet → the derived stream's subscriber receiving the transcoded access unit's last packet, matched by RTP
/// timestamp, which the transcoder keeps), memory of one transcoder (process RSS with it minus without).
/// </summary>
public static class TranscodeBench
{
    public static async Task<int> RunAsync(string[] args)
    {
        int seconds = MediaBench.ArgInt(args, "--seconds", 10);
        if (!FfmpegLibraries.Availability.IsAvailable)
        {
            Console.Error.WriteLine("transcode: " + FfmpegAvailability.OffMessage);
            return 1;
        }
        Console.WriteLine($"transcode: {FfmpegLibraries.Availability.Description}; {Environment.ProcessorCount} cores; load average {File.ReadAllText("/proc/loadavg").Split(' ')[0]}");
        var dir = Directory.CreateTempSubdirectory("hikshare-transcode-bench-").FullName;
        try
        {
            var clip = await MediaBench.ClipAsync(dir, VideoCodec.H265, 10);
            foreach (var (width, kbps) in new[] { (1920, 4000), (1280, 2000) })
            {
                var source = new ClipSource(clip, VideoCodec.H265);
                await using var relay = new LiveRelay(source, new RelayOptions { UpstreamLinger = TimeSpan.Zero }, TimeProvider.System, NullLoggerFactory.Instance);
                using var hold = relay.Acquire("bench", 1, StreamKind.Main);
                await hold.Stream.WaitReadyAsync(TimeSpan.FromSeconds(10), CancellationToken.None);
                await Task.Delay(2000);
                var baseCpu = await CpuOverAsync(seconds);
                var rssBefore = Rss();

                var limiter = new TranscoderLimiter(new MediaTranscodingOptions { MaxTranscoders = 1 });
                await using var derived = new TranscodedStreams(relay, limiter, new VideoTranscoderOptions { MaxWidth = width, BitrateKbps = kbps },
                    TimeSpan.FromSeconds(10), TimeProvider.System, NullLoggerFactory.Instance);
                if (!derived.TryAcquire("bench", 1, StreamKind.Main, DerivedFormat.H264, out var lease, out var reason))
                {
                    Console.Error.WriteLine("transcode: refused: " + reason);
                    return 1;
                }
                using (lease)
                {
                    var media = await lease!.Stream.WaitReadyAsync(TimeSpan.FromSeconds(10), CancellationToken.None);
                    var probe = new LatencyProbe(source, media.VideoTrack);
                    lease.Stream.Subscribe(probe);
                    await Task.Delay(3000); // warm-up: JIT, x264 start
                    probe.Reset();
                    var cpu = await CpuOverAsync(seconds);
                    var rssAfter = Rss();
                    lease.Stream.Unsubscribe(probe);
                    var lat = probe.Latencies();
                    double P(double q) => lat.Length == 0 ? double.NaN : lat[Math.Min(lat.Length - 1, (int)Math.Ceiling(q * lat.Length) - 1)];
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"transcode H.265 1920x1080p25 -> H.264 max {width} wide {kbps} kbit/s: {(cpu - baseCpu) / seconds * 100:0}% of one core "
                        + $"(source+relay alone {baseCpu / seconds * 100:0}%), added latency p50 {P(0.5):0.0} ms p99 {P(0.99):0.0} ms over {lat.Length} AUs "
                        + $"({lat.Length / (double)seconds:0.0} fps out), transcoder memory {(rssAfter - rssBefore) / 1048576.0:0} MiB RSS"));
                }
            }
            Console.WriteLine($"command: dotnet run -c Release --project bench/HikShareGateway.Bench -- transcode --seconds {seconds}");
            return 0;
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static async Task<double> CpuOverAsync(int seconds)
    {
        var c0 = Process.GetCurrentProcess().TotalProcessorTime;
        await Task.Delay(TimeSpan.FromSeconds(seconds)); // the measuring window
        return (Process.GetCurrentProcess().TotalProcessorTime - c0).TotalSeconds;
    }

    private static long Rss()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
            }
        }
        return 0;
    }

    /// <summary>Receives the derived stream; per access unit (marker packet) the time since the source sent that timestamp.</summary>
    private sealed class LatencyProbe(ClipSource source, int videoTrack) : IMediaSubscriber
    {
        private readonly Lock _gate = new();
        private readonly List<double> _ms = new(4096);

        public void Reset() { lock (_gate) { _ms.Clear(); } }

        public double[] Latencies() { lock (_gate) { return [.. _ms.Order()]; } }

        public void WaitForKeyframe(bool hasVideo)
        {
        }

        public void Enqueue(RtpBuffer buffer, long now)
        {
            if (buffer.Track != videoTrack || !RtpPacket.TryParse(buffer.PacketSpan, out var rtp) || !rtp.Marker)
            {
                return;
            }
            if (source.SentAt.TryGetValue(rtp.Timestamp, out var sent))
            {
                lock (_gate) { _ms.Add(Stopwatch.GetElapsedTime(sent).TotalMilliseconds); }
            }
        }

        public void Flush()
        {
        }
    }
}
