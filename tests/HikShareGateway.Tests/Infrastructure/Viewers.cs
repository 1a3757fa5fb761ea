using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace HikShareGateway.Tests.Infrastructure;

/// <summary>What a viewer process did: its exit code (-1 when killed on timeout) and its output.</summary>
public sealed record ToolResult(int ExitCode, string Stdout, string Stderr, bool TimedOut)
{
    public bool Succeeded => ExitCode == 0 && !TimedOut;

    /// <summary>For assertion messages.</summary>
    public override string ToString() => $"exit {ExitCode}{(TimedOut ? " (killed on timeout)" : "")}\nstderr:\n{Stderr}\nstdout:\n{(Stdout.Length > 4000 ? Stdout[..4000] + "…" : Stdout)}";
}

/// <summary>
/// Runs a real tool (ffprobe, ffmpeg, gst-launch-1.0) with an argument list, collects its output and
/// kills its process tree when the timeout passes, so a viewer that hangs fails the test instead of
/// hanging it. Never throws for the tool's own failures: they are what the tests assert on.
/// </summary>
public static class ToolRunner
{
    /// <param name="onStdoutLine">Called with each stdout line as it arrives (e.g. ffmpeg's -progress), on a reader thread.</param>
    public static async Task<ToolResult> RunAsync(string tool, IEnumerable<string> args, TimeSpan timeout, CancellationToken ct = default, Action<string>? onStdoutLine = null)
    {
        var psi = new ProcessStartInfo(Find(tool))
        {
            RedirectStandardInput = true, // closed at once: ffmpeg reads keys from stdin otherwise
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"{tool} did not start");
        p.StandardInput.Close();
        var stdout = onStdoutLine is null ? p.StandardOutput.ReadToEndAsync(CancellationToken.None) : ReadLinesAsync(p.StandardOutput, onStdoutLine);
        var stderr = p.StandardError.ReadToEndAsync(CancellationToken.None);
        var timedOut = false;
        try
        {
            await p.WaitForExitAsync(ct).WaitAsync(timeout, ct);
        }
        catch (Exception e) when (e is TimeoutException or OperationCanceledException)
        {
            timedOut = true;
            try
            {
                p.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // Exited in between.
            }
            await p.WaitForExitAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(5), CancellationToken.None);
            if (e is OperationCanceledException)
            {
                throw;
            }
        }
        return new ToolResult(timedOut ? -1 : p.ExitCode, await stdout, await stderr, timedOut);
    }

    private static async Task<string> ReadLinesAsync(StreamReader reader, Action<string> onLine)
    {
        var all = new System.Text.StringBuilder();
        while (await reader.ReadLineAsync() is { } line)
        {
            all.Append(line).Append('\n');
            onLine(line);
        }
        return all.ToString();
    }

    public static string Find(string tool)
    {
        if (Path.IsPathRooted(tool))
        {
            return tool;
        }
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Concat(["/usr/bin", "/usr/local/bin"]))
        {
            var path = Path.Combine(dir, tool);
            if (dir.Length > 0 && File.Exists(path))
            {
                return path;
            }
        }
        throw new InvalidOperationException($"{tool} is not installed: these integration tests run real viewers (apt-get install ffmpeg gstreamer1.0-tools, or run scripts/prereqs.sh).");
    }

    internal static bool IsRtsp(string url) => url.StartsWith("rtsp://", StringComparison.OrdinalIgnoreCase) || url.StartsWith("rtsps://", StringComparison.OrdinalIgnoreCase);
}

/// <summary>What ffprobe saw of the first video stream.</summary>
public sealed record FfprobeResult(ToolResult Run, string? CodecName, int Width, int Height, long VideoPackets, long KeyframePackets, double? DurationSeconds)
{
    public int ExitCode => Run.ExitCode;
    public string Stderr => Run.Stderr;
    public override string ToString() => $"{CodecName} {Width}x{Height}, {VideoPackets} packets ({KeyframePackets} key), duration {DurationSeconds}; {Run}";
}

/// <summary>ffprobe as a viewer: connects (RTSP over TCP), reads video packets and reports them.</summary>
public static class Ffprobe
{
    /// <summary>
    /// Reads the video stream of <paramref name="url"/> for <paramref name="seconds"/> of stream time
    /// or <paramref name="packets"/> packets (both null: to the end, e.g. a replay), and counts the
    /// packets. <paramref name="extraArgs"/> go before the input (e.g. <c>-timeout</c>).
    /// </summary>
    public static async Task<FfprobeResult> CountPacketsAsync(string url, int? seconds = null, int? packets = null, IEnumerable<string>? extraArgs = null, TimeSpan? timeout = null, CancellationToken ct = default)
    {
        var args = new List<string> { "-v", "error" };
        if (ToolRunner.IsRtsp(url))
        {
            args.AddRange(["-rtsp_transport", "tcp"]);
        }
        args.AddRange(["-select_streams", "v:0", "-show_streams", "-show_packets", "-show_entries",
            "stream=codec_name,width,height:packet=flags:format=duration", "-of", "json"]);
        // read_intervals: "%+N" is N seconds from the start, "%+#N" N packets (of the selected streams).
        if (seconds is { } s)
        {
            args.AddRange(["-read_intervals", $"%+{s.ToString(CultureInfo.InvariantCulture)}"]);
        }
        else if (packets is { } n)
        {
            args.AddRange(["-read_intervals", $"%+#{n.ToString(CultureInfo.InvariantCulture)}"]);
        }
        if (extraArgs is not null)
        {
            args.AddRange(extraArgs);
        }
        args.Add(url);
        var run = await ToolRunner.RunAsync("ffprobe", args, timeout ?? TimeSpan.FromSeconds(20), ct);
        return Parse(run);
    }

    private static FfprobeResult Parse(ToolResult run)
    {
        string? codec = null;
        int width = 0, height = 0;
        long packets = 0, keys = 0;
        double? duration = null;
        try
        {
            using var doc = JsonDocument.Parse(run.Stdout.Length == 0 ? "{}" : run.Stdout);
            if (doc.RootElement.TryGetProperty("streams", out var streams) && streams.GetArrayLength() > 0)
            {
                var v = streams[0];
                codec = v.TryGetProperty("codec_name", out var c) ? c.GetString() : null;
                width = v.TryGetProperty("width", out var w) ? w.GetInt32() : 0;
                height = v.TryGetProperty("height", out var h) ? h.GetInt32() : 0;
            }
            if (doc.RootElement.TryGetProperty("packets", out var ps))
            {
                foreach (var p in ps.EnumerateArray())
                {
                    packets++;
                    if (p.TryGetProperty("flags", out var f) && f.GetString() is { } flags && flags.StartsWith('K'))
                    {
                        keys++;
                    }
                }
            }
            if (doc.RootElement.TryGetProperty("format", out var fmt) && fmt.TryGetProperty("duration", out var d)
                && double.TryParse(d.GetString(), NumberStyles.Float, CultureInfo.InvariantCulture, out var dd))
            {
                duration = dd;
            }
        }
        catch (JsonException)
        {
            // A killed ffprobe leaves truncated JSON; the result then says 0 packets and carries stderr.
        }
        return new FfprobeResult(run, codec, width, height, packets, keys, duration);
    }
}

/// <summary>What ffmpeg copied: frames (video) according to its -progress report.</summary>
public sealed record FfmpegResult(ToolResult Run, long Frames, string? OutputFile)
{
    public int ExitCode => Run.ExitCode;
    public string Stderr => Run.Stderr;
    public override string ToString() => $"{Frames} frames → {OutputFile ?? "null"}; {Run}";
}

/// <summary>ffmpeg as a recording viewer: <c>ffmpeg -rtsp_transport tcp [-ss S] -i url -t N -c copy out.mp4</c> (or <c>-f null</c>).</summary>
public static class FfmpegRecord
{
    /// <param name="url">Input (rtsp:// gets -rtsp_transport tcp).</param>
    /// <param name="duration">-t: how much to copy; null = to the end.</param>
    /// <param name="outputFile">An .mp4 to write; null = <c>-f null -</c> (just count).</param>
    /// <param name="seek">-ss before -i: for RTSP, ffmpeg sends PLAY with <c>Range: npt=S-</c>.</param>
    /// <param name="inputArgs">More options before -i.</param>
    /// <param name="onFrames">Called with the frame count of each -progress report while ffmpeg runs (tests wait on it).</param>
    public static async Task<FfmpegResult> RunAsync(string url, TimeSpan? duration = null, string? outputFile = null, TimeSpan? seek = null,
        IEnumerable<string>? inputArgs = null, TimeSpan? timeout = null, CancellationToken ct = default, Action<long>? onFrames = null)
    {
        // -progress pipe:1 gives machine-readable "frame=N" blocks on stdout; -nostats keeps stderr for errors.
        var args = new List<string> { "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", "-progress", "pipe:1", "-y" };
        if (ToolRunner.IsRtsp(url))
        {
            args.AddRange(["-rtsp_transport", "tcp"]);
        }
        if (seek is { } ss)
        {
            args.AddRange(["-ss", ss.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture)]);
        }
        if (inputArgs is not null)
        {
            args.AddRange(inputArgs);
        }
        args.AddRange(["-i", url]);
        if (duration is { } t)
        {
            args.AddRange(["-t", t.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture)]);
        }
        args.AddRange(["-map", "0:v:0", "-c", "copy"]);
        args.AddRange(outputFile is null ? ["-f", "null", "-"] : [outputFile]);
        Action<string>? onLine = onFrames is null ? null : line =>
        {
            if (TryFrames(line, out var f))
            {
                onFrames(f);
            }
        };
        var run = await ToolRunner.RunAsync("ffmpeg", args, timeout ?? TimeSpan.FromSeconds(30), ct, onLine);
        long frames = 0;
        foreach (var line in run.Stdout.Split('\n'))
        {
            if (TryFrames(line, out var f))
            {
                frames = f; // the last report is the total
            }
        }
        return new FfmpegResult(run, frames, outputFile);
    }

    private static bool TryFrames(string line, out long frames)
    {
        frames = 0;
        return line.StartsWith("frame=", StringComparison.Ordinal) && long.TryParse(line.AsSpan(6).Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out frames);
    }
}

/// <summary>What gst-launch did; <see cref="ReachedEos"/> is the verdict for a pipeline ending in <c>fakesink num-buffers=N</c>.</summary>
public sealed record GstLaunchResult(ToolResult Run)
{
    public int ExitCode => Run.ExitCode;

    /// <summary>stdout then stderr.</summary>
    public string Output => Run.Stdout + Run.Stderr;

    /// <summary>
    /// The pipeline ran to EOS, i.e. the sink got all its buffers, and no error came before that.
    /// Not the same as exit 0: rtspsrc (1.22) over TCP sometimes fails its PAUSE after TEARDOWN while
    /// shutting down ("Could not send message. (Received end-of-file)", gst_rtspsrc_pause) because
    /// gst-rtsp-server closes the connection after TEARDOWN; the run then exits 1 after a good EOS.
    /// </summary>
    public bool ReachedEos
    {
        get
        {
            var eos = Run.Stdout.IndexOf("Got EOS from element \"pipeline0\"", StringComparison.Ordinal);
            return eos >= 0 && !Run.TimedOut && !Run.Stdout[..eos].Contains("ERROR", StringComparison.Ordinal);
        }
    }

    public override string ToString() => $"reached EOS: {ReachedEos}; {Run}";
}

/// <summary>gst-launch-1.0 as a viewer (GStreamer's rtspsrc is a different RTSP client from ffmpeg's).</summary>
public static class GstLaunch
{
    /// <summary>
    /// Runs a pipeline given as gst-launch tokens (one argv element each), with -e so a pipeline
    /// ending in <c>fakesink num-buffers=N</c> exits 0 after N buffers. gst-launch escapes the spaces
    /// inside every argument (gst_parse_launchv), so a whole pipeline in one argument is a syntax
    /// error, while a token such as <c>user-pw=two words</c> needs no quoting.
    /// Output is stdout (state changes, "Got EOS") and stderr (errors).
    /// </summary>
    public static async Task<GstLaunchResult> RunAsync(IEnumerable<string> pipeline, TimeSpan timeout, CancellationToken ct = default) =>
        new(await ToolRunner.RunAsync("gst-launch-1.0", ["-e", .. pipeline], timeout, ct));

    /// <summary>
    /// As <see cref="RunAsync(IEnumerable{string}, TimeSpan, CancellationToken)"/> for a pipeline written
    /// as on a shell command line: split on spaces outside double quotes, the quotes removed.
    /// </summary>
    public static Task<GstLaunchResult> RunAsync(string pipeline, TimeSpan timeout, CancellationToken ct = default) =>
        RunAsync(Tokenize(pipeline), timeout, ct);

    internal static List<string> Tokenize(string pipeline)
    {
        var tokens = new List<string>();
        var current = new StringBuilder();
        var quoted = false;
        var any = false;
        foreach (var ch in pipeline)
        {
            if (ch == '"')
            {
                quoted = !quoted;
                any = true;
            }
            else if (char.IsWhiteSpace(ch) && !quoted)
            {
                if (any)
                {
                    tokens.Add(current.ToString());
                }
                current.Clear();
                any = false;
            }
            else
            {
                current.Append(ch);
                any = true;
            }
        }
        if (any)
        {
            tokens.Add(current.ToString());
        }
        return tokens;
    }

    /// <summary>rtspsrc (TCP) → video RTP → fakesink that stops after <paramref name="buffers"/> RTP packets.</summary>
    /// <param name="url">rtsp:// or rtsps:// (then any server certificate is accepted: the tests' are self-signed).</param>
    public static Task<GstLaunchResult> ReadVideoAsync(Uri url, int buffers, string? user = null, string? password = null, TimeSpan? timeout = null, CancellationToken ct = default)
    {
        List<string> pipeline = ["rtspsrc", $"location={url}", "protocols=tcp", "latency=0"];
        if (url.Scheme == "rtsps")
        {
            pipeline.Add("tls-validation-flags=0");
        }
        if (user is not null)
        {
            pipeline.AddRange([$"user-id={user}", $"user-pw={password}"]);
        }
        // Only the video pad is linked; rtspsrc tolerates the unlinked audio pad of the camera.
        pipeline.AddRange(["!", "application/x-rtp,media=video", "!", "fakesink", $"num-buffers={buffers.ToString(CultureInfo.InvariantCulture)}"]);
        return RunAsync(pipeline, timeout ?? TimeSpan.FromSeconds(20), ct);
    }
}
