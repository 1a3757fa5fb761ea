using System.Diagnostics;
using System.Globalization;

namespace HikShareGateway.Bench.Relay;

/// <summary>
/// A real player as a viewer: one <c>ffmpeg -rtsp_transport tcp -i URL -c copy -f null -</c> process (what a user
/// checking a stream or a recorder remuxing it does), with <c>-progress pipe:1</c> so that its frame count can be
/// read while it runs. Unlike <see cref="BenchViewer"/> (68 KiB reads in the bench process), ffmpeg reads the
/// interleaved stream in small pieces, so a relay's send path meets a slower, choppier reader, one process each.
/// </summary>
public sealed class FfmpegReader : IAsyncDisposable
{
    private readonly Process _process;
    private readonly Task _stdout;
    private readonly Task _stderr;
    private readonly Queue<string> _errors = new();
    private long _frames = -1;
    private long _missed;

    private FfmpegReader(Process process)
    {
        _process = process;
        _stdout = ReadProgressAsync();
        _stderr = ReadErrorsAsync();
    }

    /// <summary>The arguments after <c>ffmpeg</c>; <c>-nostdin -progress pipe:1</c> only add the frame counter, <c>-loglevel warning</c> ffmpeg's own RTP gap reports.</summary>
    public static string Arguments(string url) => $"-nostdin -hide_banner -loglevel warning -rtsp_transport tcp -i {url} -c copy -f null -progress pipe:1 -stats_period 0.1 -";

    public static FfmpegReader Start(string url)
    {
        var psi = new ProcessStartInfo("ffmpeg")
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var a in Arguments(url).Split(' '))
        {
            psi.ArgumentList.Add(a);
        }
        return new FfmpegReader(Process.Start(psi)!);
    }

    public int Pid => _process.Id;
    public bool HasExited => _process.HasExited;
    /// <summary>Frames (access units) ffmpeg has read so far; -1 before its first progress report.</summary>
    public long Frames => Interlocked.Read(ref _frames);

    /// <summary>RTP sequence gaps ffmpeg reported (<c>RTP: missed N packets</c>, libavformat/rtpdec.c).</summary>
    public long MissedPackets => Interlocked.Read(ref _missed);

    /// <summary>ffmpeg's last warning or error lines.</summary>
    public string Errors
    {
        get
        {
            lock (_errors)
            {
                return string.Join(" | ", _errors);
            }
        }
    }

    private async Task ReadProgressAsync()
    {
        while (await _process.StandardOutput.ReadLineAsync() is { } line)
        {
            if (line.StartsWith("frame=", StringComparison.Ordinal) && long.TryParse(line.AsSpan(6), NumberStyles.Integer, CultureInfo.InvariantCulture, out var f))
            {
                Interlocked.Exchange(ref _frames, f);
            }
        }
    }

    private async Task ReadErrorsAsync()
    {
        while (await _process.StandardError.ReadLineAsync() is { } line)
        {
            var at = line.IndexOf("RTP: missed ", StringComparison.Ordinal);
            if (at >= 0)
            {
                var digits = line.AsSpan(at + 12);
                var end = digits.IndexOf(' ');
                if (end > 0 && long.TryParse(digits[..end], NumberStyles.Integer, CultureInfo.InvariantCulture, out var m))
                {
                    Interlocked.Add(ref _missed, m);
                }
            }
            // ffmpeg repeats the URL in its errors: never let the viewer token reach the output.
            var token = line.IndexOf("token=", StringComparison.Ordinal);
            if (token >= 0)
            {
                var end = line.IndexOfAny([' ', '&', '\'', '"'], token);
                line = line[..(token + 6)] + "<redacted>" + (end < 0 ? "" : line[end..]);
            }
            lock (_errors)
            {
                _errors.Enqueue(line.Length > 200 ? line[..200] : line);
                if (_errors.Count > 3)
                {
                    _errors.Dequeue();
                }
            }
        }
    }

    /// <summary>SIGINT (ffmpeg closes its session with TEARDOWN and exits), SIGKILL after 5 s.</summary>
    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _ = RelayProcess.Signal(_process.Id, 2);
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            try
            {
                await _process.WaitForExitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                _process.Kill();
                await _process.WaitForExitAsync();
            }
        }
        await Task.WhenAll(_stdout, _stderr);
        _process.Dispose();
    }
}
