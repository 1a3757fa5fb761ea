using System.Diagnostics;
using System.Globalization;
using HikShareGateway.Core.Devices;
using HikShareGateway.Ffmpeg;
using HikShareGateway.Ffmpeg.Snapshots;
using HikShareGateway.Ffmpeg.Video;
using HikShareGateway.Media;
using HikShareGateway.Core.Snapshots;
using HikShareGateway.Onvif.Client;
using HikShareGateway.Onvif.Snapshots;
using VideoCodec = HikShareGateway.Ffmpeg.Video.VideoCodec;
using Microsoft.Extensions.Logging.Abstractions;

namespace HikShareGateway.Bench.Media;

/// <summary>
/// <c>snapshot</c>: the gateway's snapshot path (<see cref="SnapshotService"/> over a <see cref="LiveRelay"/>) on a
/// 1080p25 H.264 and H.265 clip with a 2 s GOP (<see cref="ClipSource"/>, in process): latency p50/p99 from the GOP
/// cache of a running stream, and from a cold stream (the relay starts it at a random picture, so the wait for the
/// next keyframe, 0-2 s, is in the figure); CPU-ms per JPEG (process CPU time, so the clip source's share is in it).
/// And from the device's own JPEG (<c>Media:SnapshotSource</c> auto with no stream running): a 1080p JPEG made by the
/// ffmpeg CLI from the same pattern, served on loopback behind Digest (<see cref="DevicePictureServer"/>), fetched by
/// the gateway's <see cref="DevicePictureClient"/>; passed through (no width) or decoded, scaled and encoded.
/// </summary>
public static class SnapshotBench
{
    public static async Task<int> RunAsync(string[] args)
    {
        int rounds = MediaBench.ArgInt(args, "--rounds", 40);
        int coldRounds = MediaBench.ArgInt(args, "--cold-rounds", 12);
        int width = MediaBench.ArgInt(args, "--width", 640);
        if (!FfmpegLibraries.Availability.IsAvailable)
        {
            Console.Error.WriteLine("snapshot: " + FfmpegAvailability.OffMessage);
            return 1;
        }
        Console.WriteLine($"snapshot: {FfmpegLibraries.Availability.Description}; {Environment.ProcessorCount} cores; load average {File.ReadAllText("/proc/loadavg").Split(' ')[0]}");
        var dir = Directory.CreateTempSubdirectory("hikshare-snapshot-bench-").FullName;
        try
        {
            foreach (var codec in new[] { VideoCodec.H264, VideoCodec.H265 })
            {
                var clip = await MediaBench.ClipAsync(dir, codec, 4);
                await using var relay = new LiveRelay(new ClipSource(clip, codec), new RelayOptions { UpstreamLinger = TimeSpan.Zero }, TimeProvider.System, NullLoggerFactory.Instance);
                if (codec == VideoCodec.H264)
                {
                    await DeviceRowsAsync(dir, relay, width, rounds);
                }
                foreach (var w in new[] { width, 0 })
                {
                    // From the GOP cache: the stream runs (a lease held), each round a fresh service (no picture cache).
                    using (var hold = relay.Acquire("bench", 1, StreamKind.Main))
                    {
                        await hold.Stream.WaitReadyAsync(TimeSpan.FromSeconds(10), CancellationToken.None);
                        await Task.Delay(2500); // a full GOP in the cache
                        var (wall, cpu, bytes) = await MeasureAsync(relay, w, rounds + 2);
                        Report(codec, w, "GOP cache", wall[2..], cpu[2..], bytes);
                    }
                    // Cold: nothing runs; the relay starts the stream for the snapshot and stops it after.
                    var cold = await MeasureAsync(relay, w, coldRounds, waitIdle: true);
                    Report(codec, w, "cold", cold.Wall, cold.Cpu, cold.Bytes);
                }
            }
            Console.WriteLine($"command: dotnet run -c Release --project bench/HikShareGateway.Bench -- snapshot --rounds {rounds} --cold-rounds {coldRounds} --width {width}");
            return 0;
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>The device source: one client for the run (its learnt Digest challenge answers at once, as in the
    /// gateway), a fresh service per round (no picture cache), nothing running on the relay (so auto takes the device).</summary>
    private static async Task DeviceRowsAsync(string dir, LiveRelay relay, int width, int rounds)
    {
        var path = Path.Combine(dir, "device.jpg");
        var cmd = $"-hide_banner -loglevel error -y -f lavfi -i testsrc2=size=1920x1080 -vf noise=alls=12:allf=t -frames:v 1 -q:v 4 {path}";
        Console.WriteLine($"device picture: ffmpeg {cmd}");
        using (var p = Process.Start(new ProcessStartInfo("ffmpeg", cmd) { RedirectStandardError = true })!)
        {
            await p.StandardError.ReadToEndAsync();
            await p.WaitForExitAsync();
        }
        using var server = new DevicePictureServer(await File.ReadAllBytesAsync(path));
        var catalog = new StaticDeviceCatalog([new DeviceInfo
        {
            DeviceId = "bench",
            Channels = [new ChannelInfo { Channel = 1, MainUri = new Uri("rtsp://127.0.0.1:1/unused") }],
            Credentials = new DeviceCredentials(DevicePictureServer.User, DevicePictureServer.Password),
            IsapiBase = server.BaseUri,
        }]);
        using var http = DeviceHttp.CreateClient(new OnvifOptions());
        var client = new DevicePictureClient(http, null, TimeProvider.System, NullLogger<DevicePictureClient>.Instance);
        foreach (var w in new[] { width, 0 })
        {
            var (wall, cpu, bytes) = await MeasureAsync(relay, w, rounds + 2, devicePictures: client, catalog: catalog);
            Report(VideoCodec.H264, w, "device", wall[2..], cpu[2..], bytes, source: "device JPEG");
        }
        // Every round is a fetch (fresh service): 2 × (rounds + 2) answered requests plus the one 401 of the first.
        Console.WriteLine($"device picture: {server.Requests} HTTP requests served for {2 * (rounds + 2)} snapshots");
    }

    private static async Task<(double[] Wall, double[] Cpu, int Bytes)> MeasureAsync(LiveRelay relay, int width, int rounds, bool waitIdle = false,
        IDevicePictures? devicePictures = null, IDeviceCatalog? catalog = null)
    {
        var wall = new double[rounds];
        var cpu = new double[rounds];
        int bytes = 0;
        for (int i = 0; i < rounds; i++)
        {
            while (waitIdle && relay.Streams.Count > 0)
            {
                await Task.Delay(20); // the previous round's stream closing (bench pacing, not synchronisation of a result)
            }
            using var service = new SnapshotService(relay, new SnapshotOptions(), TimeProvider.System, NullLogger<SnapshotService>.Instance,
                devicePictures: devicePictures, catalog: catalog);
            var c0 = Process.GetCurrentProcess().TotalProcessorTime;
            long t0 = Stopwatch.GetTimestamp();
            var image = await service.TakeAsync("bench", 1, StreamKind.Main, width, CancellationToken.None);
            wall[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            cpu[i] = (Process.GetCurrentProcess().TotalProcessorTime - c0).TotalMilliseconds;
            bytes = image.Jpeg.Length;
            if (devicePictures is not null && image.Origin != "device")
            {
                throw new InvalidOperationException("the device source fell back to the stream: the figure would be the stream's");
            }
        }
        return (wall, cpu, bytes);
    }

    private static void Report(VideoCodec codec, int width, string from, double[] wall, double[] cpu, int bytes, string? source = null)
    {
        var sorted = wall.Order().ToArray();
        double P(double q) => sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(q * sorted.Length) - 1)];
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"snapshot {source ?? codec.ToString()} 1920x1080 from {from,-9} -> JPEG {(width == 0 ? "1920" : width.ToString(CultureInfo.InvariantCulture)),4} wide: p50 {P(0.5),7:0.0} ms, p99 {P(0.99),7:0.0} ms, median {MediaBench.Median(cpu),6:0.0} CPU-ms, {bytes / 1024} KiB ({wall.Length} rounds)"));
    }
}
