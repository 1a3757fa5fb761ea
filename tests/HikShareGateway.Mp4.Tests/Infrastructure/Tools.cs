using System.Diagnostics;

namespace HikShareGateway.Mp4.Tests.Infrastructure;

public sealed record ToolResult(int ExitCode, byte[] Stdout, string Stderr)
{
    public string StdoutText => System.Text.Encoding.UTF8.GetString(Stdout);
}

/// <summary>Runs ffmpeg/ffprobe (real peers): killed when the timeout passes; the result carries the output.</summary>
public static class Tools
{
    public static string DemoAsset => Path.Combine(AppContext.BaseDirectory, "assets", "demo-640x360-25fps.h264");

    public static async Task<ToolResult> RunAsync(string file, IEnumerable<string> arguments, byte[]? stdin = null, int timeoutSeconds = 120)
    {
        var start = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{file} did not start");
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(timeoutSeconds));
        var stdout = new MemoryStream();
        Task copyOut = process.StandardOutput.BaseStream.CopyToAsync(stdout, timeout.Token);
        Task<string> readErr = process.StandardError.ReadToEndAsync(timeout.Token);
        try
        {
            if (stdin is not null)
            {
                await process.StandardInput.BaseStream.WriteAsync(stdin, timeout.Token);
            }

            process.StandardInput.Close();
            await process.WaitForExitAsync(timeout.Token);
            await copyOut;
            return new ToolResult(process.ExitCode, stdout.ToArray(), await readErr);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', start.ArgumentList)} ran over {timeoutSeconds} s");
        }
    }

    /// <summary>Makes an Annex B stream with ffmpeg: testsrc2, no B-frames (cameras send none), one IDR per second.</summary>
    public static async Task<byte[]> EncodeAsync(bool h265, string size, int frames, string? profile = null)
    {
        var arguments = new List<string>
        {
            "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", $"testsrc2=size={size}:rate=25",
            "-frames:v", frames.ToString(System.Globalization.CultureInfo.InvariantCulture), "-pix_fmt", "yuv420p",
        };
        if (h265)
        {
            arguments.AddRange(["-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "bframes=0:keyint=25:log-level=error", "-f", "hevc", "-"]);
        }
        else
        {
            arguments.AddRange(["-c:v", "libx264", "-preset", "veryfast", "-bf", "0", "-g", "25", "-profile:v", profile ?? "high", "-f", "h264", "-"]);
        }

        ToolResult result = await RunAsync("ffmpeg", arguments);
        Assert.True(result.ExitCode == 0, result.Stderr);
        return result.Stdout;
    }
}
