using System.Diagnostics;
using System.Net;
using System.Text;

namespace HikShareGateway.Tests.Infrastructure;

/// <summary>What scripts/gst-camera.py serves; see the script's header and tests/README.md.</summary>
public enum GstCameraMode
{
    /// <summary>Live H.264 + PCMU on /Streaming/Channels/101 (640x360) and /102 (320x180), shared, with an ONVIF backchannel.</summary>
    Live,

    /// <summary>An MP4 on /Streaming/tracks/101, one pipeline per client, seekable, ONVIF replay accepted.</summary>
    Replay,

    /// <summary>gst-rtsp-server relaying <see cref="GstCameraOptions.RelaySource"/> on /relay (the benchmark's comparison relay).</summary>
    Relay,
}

/// <summary>Video codec of the live mode.</summary>
public enum GstVideoCodec
{
    H264,

    /// <summary>x265enc + rtph265pay, as Hikvision recorders send by default.</summary>
    H265,
}

public enum GstAuthMethod
{
    Digest,
    Basic,
}

/// <summary>Options of <see cref="GstRtspCamera"/>; every default matches the script's.</summary>
public sealed record GstCameraOptions
{
    public GstCameraMode Mode { get; init; } = GstCameraMode.Live;

    /// <summary>Mount path; null = the mode's default (<see cref="GstRtspCamera.MainPath"/>, <see cref="GstRtspCamera.ReplayPath"/>, <see cref="GstRtspCamera.RelayPath"/>).</summary>
    public string? Path { get; init; }

    /// <summary>Live: frames between keyframes (x264enc key-int-max), at 25 fps.</summary>
    public int Gop { get; init; } = 25;

    /// <summary>Live: main stream bitrate; the sub stream gets a quarter.</summary>
    public int BitrateKbps { get; init; } = 1000;

    /// <summary>Live: videotestsrc pattern; <c>smpte</c> gives colour bars at known places (snapshot tests).</summary>
    public string Pattern { get; init; } = "ball";

    /// <summary>Live: the video codec of both streams.</summary>
    public GstVideoCodec Codec { get; init; } = GstVideoCodec.H264;

    /// <summary>Live: the audio of both streams: G.711 µ-law (default) or AAC-LC 16 kHz mono (RFC 3640 mpeg4-generic).</summary>
    public bool AacAudio { get; init; }

    /// <summary>Live: offer the ONVIF audio backchannel (only to clients that send <c>Require: www.onvif.org/ver20/backchannel</c>).</summary>
    public bool Backchannel { get; init; } = true;

    /// <summary>Live: where received backchannel PCMU payload is written; null = a file in the camera's own temp folder.</summary>
    public string? BackchannelFile { get; init; }

    /// <summary>Replay: the H.264 MP4 to serve.</summary>
    public string? ReplayFile { get; init; }

    /// <summary>
    /// Replay: the wall-clock UTC time the file's start stands for. The camera then plays like a recorder that has
    /// recorded the first half of the file over and over since then: <c>Range: clock=X-[Y]</c> plays from
    /// (X − origin) modulo half the file's length (so at least half the file is left), for Y − X when an end is given,
    /// and every PLAY's Range is logged (<see cref="GstRtspCamera.PlayRanges"/>). Null: gst-rtsp-server's own
    /// clock, which counts from 1900-01-01.
    /// </summary>
    public DateTimeOffset? ClockOrigin { get; init; }

    /// <summary>Relay: the RTSP URL to pull (over TCP).</summary>
    public string? RelaySource { get; init; }

    /// <summary>With <see cref="Password"/>: every request needs these credentials (401 otherwise).</summary>
    public string? User { get; init; }

    public string? Password { get; init; }

    public GstAuthMethod AuthMethod { get; init; } = GstAuthMethod.Digest;

    /// <summary>Port to try first (e.g. a benchmark's fixed port); null or taken = a free one from <see cref="PortAllocator"/>.</summary>
    public int? Port { get; init; }
}

/// <summary>
/// A real RTSP camera on a free loopback port: scripts/gst-camera.py (gst-rtsp-server's ONVIF server)
/// run by Debian's /usr/bin/python3, ready once the script prints <c>READY &lt;port&gt;</c>, killed
/// (with its children) on dispose. The script also exits when its stdin closes, which this fixture
/// holds open, so a test runner that dies does not leave cameras behind.
/// </summary>
public sealed class GstRtspCamera : IAsyncDisposable
{
    public const string MainPath = "/Streaming/Channels/101";
    public const string SubPath = "/Streaming/Channels/102";
    public const string ReplayPath = "/Streaming/tracks/101";
    public const string RelayPath = "/relay";

    /// <summary>The script's exit code when it cannot listen on the port (someone took it after we picked it).</summary>
    private const int ExitCannotBind = 2;
    private const int MaxPortAttempts = 5;
    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(15);
    private const string Python = "/usr/bin/python3"; // Debian's: it has python3-gi; a venv python may not

    private readonly Process _process;
    private readonly StringBuilder _stderr;
    private readonly string _tempDir;
    private int _disposed;

    private GstRtspCamera(Process process, StringBuilder stderr, int port, GstCameraOptions options, string tempDir, string backchannelFile)
    {
        _process = process;
        _stderr = stderr;
        _tempDir = tempDir;
        Port = port;
        Options = options;
        BackchannelFile = backchannelFile;
    }

    public int Port { get; }

    public GstCameraOptions Options { get; }

    /// <summary>The mount this camera was started for (<see cref="GstCameraOptions.Path"/> or the mode's default).</summary>
    public string DefaultPath => Options.Path ?? Options.Mode switch
    {
        GstCameraMode.Replay => ReplayPath,
        GstCameraMode.Relay => RelayPath,
        _ => MainPath,
    };

    /// <summary>Live: the file the backchannel sink writes (raw PCMU, the RTP payloads concatenated).</summary>
    public string BackchannelFile { get; }

    /// <summary>What the script wrote on stderr so far (GStreamer warnings, the served URLs).</summary>
    public string Log { get { lock (_stderr) { return _stderr.ToString(); } } }

    /// <summary>
    /// Replay with <see cref="GstCameraOptions.ClockOrigin"/>: every PLAY's Range as received and as played on the file,
    /// in order (<c>("clock=20261201T100005Z-20261201T120000Z", "npt=5.000-")</c>).
    /// </summary>
    public IReadOnlyList<(string Received, string Played)> PlayRanges =>
        [.. Log.Split('\n').Select(l => l.Trim()).Where(l => l.StartsWith(PlayRangePrefix, StringComparison.Ordinal))
            .Select(l => l[PlayRangePrefix.Length..].Split(" -> ") is [var r, var p] ? (r, p) : (l[PlayRangePrefix.Length..], ""))];

    private const string PlayRangePrefix = "gst-camera: PLAY Range: ";

    /// <summary>True once the script's process is gone (always after <see cref="DisposeAsync"/>).</summary>
    public bool HasExited => Volatile.Read(ref _disposed) != 0 || _process.HasExited;

    /// <summary>rtsp://127.0.0.1:port/path, without credentials.</summary>
    public Uri Url(string path) => new($"rtsp://127.0.0.1:{Port}{(path.StartsWith('/') ? path : "/" + path)}");

    public Uri Url() => Url(DefaultPath);

    /// <summary>The URL with the configured user and password in its userinfo (percent-encoded), as ffmpeg and ffprobe take them.</summary>
    public Uri UrlWithCredentials(string? path = null)
    {
        var url = Url(path ?? DefaultPath);
        if (Options.User is null)
        {
            return url;
        }
        return new UriBuilder(url) { UserName = Uri.EscapeDataString(Options.User), Password = Uri.EscapeDataString(Options.Password ?? "") }.Uri;
    }

    public NetworkCredential? Credentials => Options.User is null ? null : new NetworkCredential(Options.User, Options.Password ?? "");

    public static async Task<GstRtspCamera> StartAsync(GstCameraOptions options, CancellationToken ct = default)
    {
        var script = Path.Combine(FindRepoRoot(), "scripts", "gst-camera.py");
        if (!File.Exists(Python))
        {
            throw new InvalidOperationException($"{Python} is missing: the camera harness needs Debian's python3 with python3-gi (run scripts/prereqs.sh).");
        }
        var tempDir = Path.Combine(Path.GetTempPath(), "hikshare-gstcam-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(tempDir);
        var backchannelFile = options.BackchannelFile ?? Path.Combine(tempDir, "backchannel.ulaw");
        try
        {
            // PortAllocator's port is free when picked but may be taken before the script binds it
            // (other tests start servers in parallel); the script says so with exit code 2, and we
            // try another port rather than fail the test.
            for (var attempt = 1; ; attempt++)
            {
                var port = attempt == 1 && options.Port is { } wanted ? wanted : PortAllocator.GetFreeTcpPort();
                var (process, stderr, outcome) = await LaunchAsync(script, BuildArguments(options, port, backchannelFile), ct);
                switch (outcome)
                {
                    case LaunchOutcome.Ready:
                        return new GstRtspCamera(process, stderr, port, options, tempDir, backchannelFile);
                    case LaunchOutcome.PortTaken when attempt < MaxPortAttempts:
                        process.Dispose();
                        continue;
                    default:
                        var exit = process.HasExited ? $"exited with {process.ExitCode}" : $"did not print READY within {ReadyTimeout.TotalSeconds:0} s";
                        Kill(process);
                        string log;
                        lock (stderr) { log = stderr.ToString(); }
                        process.Dispose();
                        throw new InvalidOperationException($"gst-camera.py ({options.Mode}, port {port}) {exit}. stderr:\n{log}");
                }
            }
        }
        catch
        {
            TryDeleteDirectory(tempDir);
            throw;
        }
    }

    private enum LaunchOutcome
    {
        Ready,
        PortTaken,
        Failed,
    }

    private static async Task<(Process Process, StringBuilder Stderr, LaunchOutcome Outcome)> LaunchAsync(string script, IReadOnlyList<string> args, CancellationToken ct)
    {
        var psi = new ProcessStartInfo(Python)
        {
            RedirectStandardInput = true, // held open: the script exits when it closes
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add("-u"); // unbuffered, so READY and errors arrive as they are written
        psi.ArgumentList.Add(script);
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        var stderr = new StringBuilder();
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var process = new Process { StartInfo = psi, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is { } line && line.StartsWith("READY ", StringComparison.Ordinal))
            {
                ready.TrySetResult();
            }
        };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (stderr) { stderr.AppendLine(e.Data); } } };
        process.Exited += (_, _) => ready.TrySetResult(); // checked below: exited is not ready
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        try
        {
            await ready.Task.WaitAsync(ReadyTimeout, ct);
        }
        catch (TimeoutException)
        {
            return (process, stderr, LaunchOutcome.Failed);
        }
        catch (OperationCanceledException)
        {
            Kill(process);
            process.Dispose();
            throw;
        }
        if (!process.HasExited)
        {
            return (process, stderr, LaunchOutcome.Ready);
        }
        // Exited: wait for the stderr reader to drain so the exception carries the whole message.
        await process.WaitForExitAsync(CancellationToken.None);
        return (process, stderr, process.ExitCode == ExitCannotBind ? LaunchOutcome.PortTaken : LaunchOutcome.Failed);
    }

    private static List<string> BuildArguments(GstCameraOptions o, int port, string backchannelFile)
    {
        var a = new List<string> { "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--mode", o.Mode.ToString().ToLowerInvariant() };
        if (o.Path is not null)
        {
            a.AddRange(["--path", o.Path]);
        }
        switch (o.Mode)
        {
            case GstCameraMode.Live:
                a.AddRange(["--gop", o.Gop.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bitrate-kbps", o.BitrateKbps.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
                a.AddRange(o.Backchannel ? ["--backchannel-file", backchannelFile] : ["--no-backchannel"]);
                a.AddRange(["--pattern", o.Pattern, "--codec", o.Codec == GstVideoCodec.H265 ? "h265" : "h264", "--audio", o.AacAudio ? "aac" : "pcmu"]);
                break;
            case GstCameraMode.Replay:
                a.AddRange(["--file", o.ReplayFile ?? throw new ArgumentException("Replay mode needs ReplayFile.", nameof(o))]);
                if (o.ClockOrigin is { } origin)
                {
                    a.AddRange(["--clock-origin", origin.UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", System.Globalization.CultureInfo.InvariantCulture)]);
                }
                break;
            case GstCameraMode.Relay:
                a.AddRange(["--source", o.RelaySource ?? throw new ArgumentException("Relay mode needs RelaySource.", nameof(o))]);
                break;
        }
        if (o.User is not null)
        {
            a.AddRange(["--user", o.User, "--password", o.Password ?? "", "--auth-method", o.AuthMethod == GstAuthMethod.Basic ? "basic" : "digest"]);
        }
        return a;
    }

    /// <summary>The folder holding HikShareGateway.sln, found by walking up from the test binaries.</summary>
    public static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "HikShareGateway.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException($"No HikShareGateway.sln above {AppContext.BaseDirectory}; the camera harness runs scripts/gst-camera.py from the repository.");
    }

    private static void Kill(Process p)
    {
        try
        {
            if (!p.HasExited)
            {
                p.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
    }

    private static void TryDeleteDirectory(string dir)
    {
        try
        {
            Directory.Delete(dir, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a temp folder.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        // Closing stdin lets the script stop its main loop (and the pipelines) cleanly; the kill
        // after a short grace is what guarantees nothing survives.
        try
        {
            _process.StandardInput.Close();
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(2));
        }
        catch (Exception e) when (e is TimeoutException or IOException or InvalidOperationException)
        {
        }
        Kill(_process);
        try
        {
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (TimeoutException)
        {
        }
        _process.Dispose();
        TryDeleteDirectory(_tempDir);
    }
}
