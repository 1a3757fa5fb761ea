using System.Diagnostics;

namespace HikShareGateway.Testing;

/// <summary>
/// Checks of snapshot JPEGs with the real ffmpeg/ffprobe (linked into the test projects that make snapshots):
/// decodable, of the expected size, and showing the SMPTE colour bars of lavfi's smptebars / GStreamer's
/// videotestsrc pattern=smpte where they belong.
/// </summary>
public static class SnapshotJpegs
{
    /// <summary>The seven bars of the top two thirds, left to right: white, yellow, cyan, green, magenta, red, blue, at
    /// 75 % (lavfi's smptebars) or 100 % (GStreamer 1.22's videotestsrc pattern=smpte).</summary>
    public static (byte R, byte G, byte B)[] SmpteBars(bool fullIntensity)
    {
        byte v = fullIntensity ? (byte)255 : (byte)191;
        return [(v, v, v), (v, v, 0), (0, v, v), (0, v, 0), (v, 0, v), (v, 0, 0), (0, 0, v)];
    }

    /// <summary>ffprobe says mjpeg of that size, and the middle of each bar (at 30 % of the height) has its colour within ±<paramref name="tolerance"/>.</summary>
    public static async Task AssertSmpteBarsAsync(byte[] jpeg, int width, int height, bool fullIntensity = false, int tolerance = 28)
    {
        Assert.True(jpeg.Length > 100 && jpeg[0] == 0xff && jpeg[1] == 0xd8, "JPEG SOI marker");
        var dir = Path.Combine(Path.GetTempPath(), "hikshare-snapshot-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            var path = Path.Combine(dir, "snap.jpg");
            await File.WriteAllBytesAsync(path, jpeg);
            var (probeExit, probe) = await RunAsync("ffprobe", ["-v", "error", "-select_streams", "0", "-show_entries", "stream=codec_name,width,height", "-of", "csv=p=0", path]);
            Assert.True(probeExit == 0, "ffprobe failed on the JPEG");
            Assert.Equal($"mjpeg,{width},{height}", System.Text.Encoding.UTF8.GetString(probe).Trim());
            var (exit, rgb) = await RunAsync("ffmpeg", ["-hide_banner", "-loglevel", "error", "-i", path, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]);
            Assert.Equal(0, exit);
            Assert.Equal(width * height * 3, rgb.Length);
            var y = height * 3 / 10;
            for (var bar = 0; bar < 7; bar++)
            {
                var x = (2 * bar + 1) * width / 14;
                var i = (y * width + x) * 3;
                var (r, g, b) = SmpteBars(fullIntensity)[bar];
                Assert.True(Math.Abs(rgb[i] - r) <= tolerance && Math.Abs(rgb[i + 1] - g) <= tolerance && Math.Abs(rgb[i + 2] - b) <= tolerance,
                    $"bar {bar} at ({x},{y}): expected ({r},{g},{b}) got ({rgb[i]},{rgb[i + 1]},{rgb[i + 2]})");
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static async Task<(int Exit, byte[] Stdout)> RunAsync(string tool, string[] args)
    {
        var psi = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        using var p = Process.Start(psi)!;
        p.StandardInput.Close();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var stdout = new MemoryStream();
        var copy = p.StandardOutput.BaseStream.CopyToAsync(stdout, cts.Token);
        var stderr = p.StandardError.ReadToEndAsync(cts.Token);
        await p.WaitForExitAsync(cts.Token);
        await copy;
        await stderr;
        return (p.ExitCode, stdout.ToArray());
    }
}
