using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace HikShareGateway.Bench.Relay;

/// <summary>CPU time and memory of a process, from <c>/proc</c> (proc(5)).</summary>
public static class ProcStats
{
    private static readonly Lazy<long> ClockTicks = new(() =>
    {
        try
        {
            using var p = Process.Start(new ProcessStartInfo("getconf", "CLK_TCK") { RedirectStandardOutput = true })!;
            var s = p.StandardOutput.ReadToEnd().Trim();
            p.WaitForExit();
            return long.TryParse(s, out var t) && t > 0 ? t : 100;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return 100;
        }
    });

    /// <summary>utime + stime of the process (all its threads), seconds.</summary>
    public static double CpuSeconds(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        // Fields after the command name "(...)": state is field 3, utime 14, stime 15.
        var f = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return (long.Parse(f[11]) + long.Parse(f[12])) / (double)ClockTicks.Value;
    }

    /// <summary>utime and stime of the process (all its threads, including those that already exited), seconds.</summary>
    public static (double User, double System) CpuSplit(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var f = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return (long.Parse(f[11]) / (double)ClockTicks.Value, long.Parse(f[12]) / (double)ClockTicks.Value);
    }

    /// <summary>
    /// Voluntary and non-voluntary context switches summed over the process's live threads
    /// (<c>/proc/PID/task/*/status</c>; <c>/proc/PID/status</c> alone counts the main thread). A thread that exits
    /// takes its counts with it: the thread pool keeps its threads for 20 s idle, longer than a window.
    /// </summary>
    public static (long Voluntary, long NonVoluntary) ContextSwitches(int pid)
    {
        long v = 0, nv = 0;
        foreach (var task in Directory.EnumerateDirectories($"/proc/{pid}/task"))
        {
            try
            {
                foreach (var line in File.ReadLines(Path.Combine(task, "status")))
                {
                    if (line.StartsWith("voluntary_ctxt_switches:", StringComparison.Ordinal)) { v += long.Parse(line.AsSpan(24).Trim()); }
                    else if (line.StartsWith("nonvoluntary_ctxt_switches:", StringComparison.Ordinal)) { nv += long.Parse(line.AsSpan(27).Trim()); }
                }
            }
            catch (IOException)
            {
                // The thread exited while we read.
            }
        }
        return (v, nv);
    }

    /// <summary>Threads of the process now.</summary>
    public static int Threads(int pid) => Directory.EnumerateDirectories($"/proc/{pid}/task").Count();

    /// <summary>The 1-minute load average (<c>/proc/loadavg</c>), recorded with every result.</summary>
    public static string LoadAverage() => string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));

    /// <summary>
    /// (VmRSS, VmHWM, RssAnon + RssShmem) in MiB: resident now, the peak, and the resident memory not backed by a
    /// file: RSS also counts the mapped pages of the program and its libraries (page cache, shared with other
    /// processes, dropped under pressure), which for a .NET process are most of it.
    /// </summary>
    public static (double Rss, double Peak, double Anon) Memory(int pid)
    {
        double rss = 0, hwm = 0, anon = 0;
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal)) { rss = Kib(line) / 1024.0; }
            else if (line.StartsWith("VmHWM:", StringComparison.Ordinal)) { hwm = Kib(line) / 1024.0; }
            else if (line.StartsWith("RssAnon:", StringComparison.Ordinal) || line.StartsWith("RssShmem:", StringComparison.Ordinal)) { anon += Kib(line) / 1024.0; }
        }
        return (rss, hwm, anon);

        static long Kib(string line) => long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]);
    }

    /// <summary>Busy and total jiffies of the whole machine (first line of /proc/stat).</summary>
    public static (long Busy, long Total) Machine()
    {
        var f = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(long.Parse).ToArray();
        var total = f.Take(8).Sum(); // user nice system idle iowait irq softirq steal (guest is inside user)
        var idle = f[3] + f[4];
        return (total - idle, total);
    }
}

/// <summary>
/// A relay under test running as a child process (so that its CPU and memory are its own), its output
/// captured to a log file whose tail is printed when it fails.
/// </summary>
public sealed class RelayProcess : IAsyncDisposable
{
    private readonly Process _process;

    private RelayProcess(Process process, string log, string name)
    {
        _process = process;
        Log = log;
        Name = name;
    }

    public string Name { get; }
    public string Log { get; }
    public int Pid => _process.Id;
    public bool HasExited => _process.HasExited;

    public static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    /// <summary>Starts <paramref name="command"/> through <c>sh -c 'exec …'</c>: the pid is the program's own, output goes to <paramref name="log"/>.</summary>
    public static RelayProcess Start(string name, string command, string log, IDictionary<string, string>? environment = null)
    {
        var psi = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add($"exec {command} >>'{log}' 2>&1");
        foreach (var (k, v) in environment ?? new Dictionary<string, string>())
        {
            psi.Environment[k] = v;
        }
        return new RelayProcess(Process.Start(psi)!, log, name);
    }

    /// <summary>Waits until something accepts TCP connections on <paramref name="port"/>.</summary>
    public async Task<bool> WaitListeningAsync(int port, TimeSpan timeout)
    {
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < timeout && !_process.HasExited)
        {
            try
            {
                using var c = new TcpClient();
                await c.ConnectAsync(IPAddress.Loopback, port);
                return true;
            }
            catch (SocketException)
            {
                await Task.Delay(5);
            }
        }
        return false;
    }

    public string Tail(int lines = 40)
    {
        try
        {
            var all = File.ReadAllLines(Log);
            return string.Join('\n', all.Skip(Math.Max(0, all.Length - lines)));
        }
        catch (IOException)
        {
            return "(no output)";
        }
    }

    /// <summary>SIGTERM (a clean stop, as systemd does), then SIGKILL after 5 s.</summary>
    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _ = Signal(_process.Id, 15);
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            try
            {
                await _process.WaitForExitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync();
            }
        }
        _process.Dispose();
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    internal static extern int Signal(int pid, int signal);
}
