using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace HikShareCloud.Service.Tests.Infrastructure;

/// <summary>
/// A real mosquitto on a free loopback port without persistence (a restart loses retained messages,
/// like a broker outage), killed on dispose. Same approach as the gateway tests' MosquittoBroker.
/// </summary>
public sealed class Mosquitto : IAsyncDisposable
{
    private readonly string _dir;
    private readonly string _conf;
    private readonly StringBuilder _log = new();
    private Process? _process;

    private Mosquitto(string dir, int port)
    {
        _dir = dir;
        Port = port;
        _conf = Path.Combine(dir, "mosquitto.conf");
    }

    public int Port { get; }
    public string Url => $"mqtt://127.0.0.1:{Port}";
    public string Log { get { lock (_log) { return _log.ToString(); } } }

    public static async Task<Mosquitto> StartAsync()
    {
        var dir = Path.Combine(Path.GetTempPath(), "hikshare-sharing-mosquitto-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(dir);
        int port;
        using (var l = new TcpListener(IPAddress.Loopback, 0))
        {
            l.Start();
            port = ((IPEndPoint)l.LocalEndpoint).Port;
        }
        var m = new Mosquitto(dir, port);
        var conf = new StringBuilder()
            .AppendLine($"listener {port} 127.0.0.1")
            .AppendLine("allow_anonymous true")
            .AppendLine("persistence false")
            .AppendLine("set_tcp_nodelay true")
            .AppendLine("log_dest stderr")
            .AppendLine("log_type error")
            .AppendLine("log_type warning");
        if (Environment.UserName == "root")
        {
            conf.AppendLine("user root");
        }
        await File.WriteAllTextAsync(m._conf, conf.ToString());
        await m.RestartAsync();
        return m;
    }

    public async Task StopAsync()
    {
        if (_process is { HasExited: false } p)
        {
            p.Kill(entireProcessTree: true);
            await p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }
        _process?.Dispose();
        _process = null;
    }

    public async Task RestartAsync()
    {
        var exe = new[] { "/usr/sbin/mosquitto", "/usr/bin/mosquitto" }.FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException("mosquitto is not installed: apt-get install mosquitto (or run scripts/prereqs.sh)");
        var psi = new ProcessStartInfo(exe, $"-c {_conf}") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        var p = _process = Process.Start(psi) ?? throw new InvalidOperationException("mosquitto did not start");
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (_log) { _log.AppendLine(e.Data); } } };
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) { lock (_log) { _log.AppendLine(e.Data); } } };
        p.BeginErrorReadLine();
        p.BeginOutputReadLine();
        await Wait.UntilAsync(() =>
        {
            if (p.HasExited)
            {
                throw new InvalidOperationException($"mosquitto exited with {p.ExitCode} on port {Port}:\n{Log}");
            }
            try
            {
                using var c = new TcpClient();
                c.Connect(IPAddress.Loopback, Port);
                return true;
            }
            catch (SocketException)
            {
                return false;
            }
        }, $"mosquitto listening on {Port}");
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
            // Best effort.
        }
    }
}
