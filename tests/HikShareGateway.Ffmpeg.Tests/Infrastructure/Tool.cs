using System.Diagnostics;

namespace HikShareGateway.Ffmpeg.Tests.Infrastructure;

/// <summary>Result of running ffmpeg/ffprobe: exit code, stdout as bytes (raw video/audio) and stderr.</summary>
public sealed record ToolResult(int ExitCode, byte[] Stdout, string Stderr)
{
    public string StdoutText => System.Text.Encoding.UTF8.GetString(Stdout);
}

/// <summary>Runs the ffmpeg CLI tools; the process is killed when the timeout passes. Never throws for the tool's failure.</summary>
public static class Tool
{
    public static async Task<ToolResult> RunAsync(string file, IEnumerable<string> args, byte[]? stdin = null, int timeoutMs = 60_000)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = stdin is not null,
            UseShellExecute = false,
        };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        using var p = Process.Start(psi)!;
        using var cts = new CancellationTokenSource(timeoutMs);
        var stdout = new MemoryStream();
        var copyOut = p.StandardOutput.BaseStream.CopyToAsync(stdout, cts.Token);
        var readErr = p.StandardError.ReadToEndAsync(cts.Token);
        if (stdin is not null)
        {
            await p.StandardInput.BaseStream.WriteAsync(stdin, cts.Token);
            p.StandardInput.Close();
        }
        try
        {
            await p.WaitForExitAsync(cts.Token);
            await copyOut;
            return new ToolResult(p.ExitCode, stdout.ToArray(), await readErr);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            return new ToolResult(-1, stdout.ToArray(), $"{file} timed out after {timeoutMs} ms");
        }
    }

    /// <summary>ffmpeg -hide_banner -loglevel error -y ARGS; throws with stderr when it fails (a test precondition).</summary>
    public static async Task<byte[]> FfmpegAsync(params string[] args)
    {
        var r = await RunAsync("ffmpeg", ["-hide_banner", "-loglevel", "error", "-y", .. args]);
        Assert.True(r.ExitCode == 0, $"ffmpeg {string.Join(' ', args)} failed ({r.ExitCode}): {r.Stderr}");
        return r.Stdout;
    }

    /// <summary>ffprobe's stream fields (codec_name, width, height, ...) of the first stream, as key=value pairs.</summary>
    public static async Task<Dictionary<string, string>> ProbeStreamAsync(string path, params string[] extra)
    {
        var r = await RunAsync("ffprobe", ["-v", "error", .. extra, "-select_streams", "0", "-show_streams", "-of", "default=nw=1", path]);
        Assert.True(r.ExitCode == 0, $"ffprobe {path} failed: {r.Stderr}");
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in r.StdoutText.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = line.IndexOf('=');
            if (eq > 0)
            {
                fields.TryAdd(line[..eq], line[(eq + 1)..].Trim());
            }
        }
        return fields;
    }

    /// <summary>A fresh directory under /tmp for one test's files.</summary>
    public static string TempDir()
    {
        var dir = Path.Combine(Path.GetTempPath(), "hikshare-ffmpeg-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }
}
