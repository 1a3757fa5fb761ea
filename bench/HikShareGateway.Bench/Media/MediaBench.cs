using System.Diagnostics;
using System.Globalization;
using HikShareGateway.Ffmpeg;
using HikShareGateway.Ffmpeg.Video;

namespace HikShareGateway.Bench.Media;

/// <summary>
/// FFmpeg cost on this machine: CPU-ms per 1080p JPEG snapshot (keyframe only, and the last picture of a 2 s GOP),
/// and the CPU share of one core an H.265 1080p25 → H.264 transcoder needs to keep up in real time.
/// Clips are encoded at the start with the ffmpeg CLI (commands printed). CPU is the process's user+system time, so
/// x264's own threads count.
/// </summary>
public static class MediaBench
{
    private const int Fps = 25;

    public static async Task<int> RunAsync(string[] args)
    {
        int seconds = ArgInt(args, "--seconds", 10);
        int rounds = ArgInt(args, "--rounds", 20);
        var a = FfmpegLibraries.Availability;
        if (!a.IsAvailable)
        {
            Console.Error.WriteLine($"media: {FfmpegAvailability.OffMessage} ({a.Description})");
            return 1;
        }
        Console.WriteLine($"media: {a.Description}; {Environment.ProcessorCount} cores");
        string dir = Path.Combine(Path.GetTempPath(), "hikshare-media-bench-" + Environment.ProcessId);
        Directory.CreateDirectory(dir);
        try
        {
            var h264 = await ClipAsync(dir, VideoCodec.H264, seconds);
            var h265 = await ClipAsync(dir, VideoCodec.H265, seconds);
            Snapshots(h264, VideoCodec.H264, rounds);
            Snapshots(h265, VideoCodec.H265, rounds);
            Transcode(h265, seconds, maxWidth: 1920, kbps: 4000);
            Transcode(h265, seconds, maxWidth: 1280, kbps: 2000);
            Console.WriteLine($"command: dotnet run -c Release --project bench/HikShareGateway.Bench -- media --seconds {seconds} --rounds {rounds}");
            return 0;
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static void Snapshots(List<ReadOnlyMemory<byte>> clip, VideoCodec codec, int rounds)
    {
        var encoder = new SnapshotEncoder();
        var keyframe = clip.Take(1).ToList();
        var gop = clip.Take(2 * Fps).ToList();
        foreach (var (name, units) in new[] { ("keyframe only", keyframe), ($"GOP of {gop.Count}", gop) })
        {
            foreach (int width in new[] { 1920, 640 })
            {
                int bytes = encoder.Encode(codec, [], units, width).Length;   // warm-up
                var cpu = new double[rounds];
                var wall = new double[rounds];
                for (int i = 0; i < rounds; i++)
                {
                    var c0 = Process.GetCurrentProcess().TotalProcessorTime;
                    long t0 = Stopwatch.GetTimestamp();
                    encoder.Encode(codec, [], units, width);
                    wall[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
                    cpu[i] = (Process.GetCurrentProcess().TotalProcessorTime - c0).TotalMilliseconds;
                }
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"snapshot {codec} 1920x1080 {name,-13} -> JPEG {width,4} wide: median {Median(cpu),6:0.0} CPU-ms, {Median(wall),6:0.0} ms wall, {bytes / 1024} KiB"));
            }
        }
    }

    private static void Transcode(List<ReadOnlyMemory<byte>> clip, int seconds, int maxWidth, int kbps)
    {
        var options = new VideoTranscoderOptions { MaxWidth = maxWidth, BitrateKbps = kbps, KeyframeInterval = 2 * Fps };
        long outBytes = 0;
        int outUnits = 0;
        void On(ReadOnlySpan<byte> unit, long pts, bool key)
        {
            outBytes += unit.Length;
            outUnits++;
        }
        using var transcoder = new VideoTranscoder(VideoCodec.H265, options);
        var c0 = Process.GetCurrentProcess().TotalProcessorTime;
        long t0 = Stopwatch.GetTimestamp();
        for (int i = 0; i < clip.Count; i++)
        {
            transcoder.Push(clip[i].Span, i * (90_000L / Fps), On);
        }
        transcoder.Flush(On);
        double wall = Stopwatch.GetElapsedTime(t0).TotalSeconds;
        double cpu = (Process.GetCurrentProcess().TotalProcessorTime - c0).TotalSeconds;
        double content = clip.Count / (double)Fps;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"transcode H.265 1920x1080p25 -> H.264 {transcoder.OutputWidth}x{transcoder.OutputHeight} {kbps} kbit/s (veryfast, zerolatency, {transcoder.DecodeErrors} decode errors): "
            + $"{cpu / content * 100:0}% of one core in real time ({cpu:0.0} CPU-s for {content:0.0} s), {clip.Count / wall:0} fps max, "
            + $"{outUnits} AUs out, {outBytes * 8 / content / 1000:0} kbit/s"));
    }

    internal static async Task<List<ReadOnlyMemory<byte>>> ClipAsync(string dir, VideoCodec codec, int seconds)
    {
        string path = Path.Combine(dir, codec == VideoCodec.H264 ? "clip.h264" : "clip.hevc");
        // Grain so that the encoders spend a camera-like budget; GOP 2 s, no B-frames, as cameras stream.
        string enc = codec == VideoCodec.H264
            ? $"-c:v libx264 -preset veryfast -bf 0 -g {2 * Fps} -b:v 4000k -f h264"
            : $"-c:v libx265 -preset ultrafast -x265-params keyint={2 * Fps}:min-keyint={2 * Fps}:bframes=0:log-level=error -b:v 4000k -f hevc";
        string cmd = $"-hide_banner -loglevel error -y -f lavfi -i testsrc2=size=1920x1080:rate={Fps} -vf noise=alls=12:allf=t -t {seconds} -pix_fmt yuv420p {enc} {path}";
        Console.WriteLine($"clip: ffmpeg {cmd}");
        using var p = Process.Start(new ProcessStartInfo("ffmpeg", cmd) { RedirectStandardError = true })!;
        string err = await p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException($"ffmpeg failed: {err}");
        }
        return AnnexB.SplitAccessUnits(codec, await File.ReadAllBytesAsync(path)).Select(u => (ReadOnlyMemory<byte>)u).ToList();
    }

    internal static double Median(double[] values)
    {
        var sorted = values.Order().ToArray();
        return sorted[sorted.Length / 2];
    }

    internal static int ArgInt(string[] args, string name, int fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
    }
}
