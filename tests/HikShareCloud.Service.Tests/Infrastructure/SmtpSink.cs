using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace HikShareCloud.Service.Tests.Infrastructure;

/// <summary>
/// A real SMTP server on loopback: Debian's aiosmtpd (<c>python3 -m aiosmtpd -n</c>, whose default
/// handler prints each message to stdout), killed on dispose.
/// </summary>
public sealed class SmtpSink : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private SmtpSink(Process process, int port)
    {
        _process = process;
        Port = port;
    }

    public int Port { get; }
    public string Output { get { lock (_output) { return _output.ToString(); } } }

    public static async Task<SmtpSink> StartAsync()
    {
        using (var l = new TcpListener(IPAddress.Loopback, 0))
        {
            l.Start();
            var port = ((IPEndPoint)l.LocalEndpoint).Port;
            l.Stop();
            var python = File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3"; // Debian's, where python3-aiosmtpd is installed
            var psi = new ProcessStartInfo(python, $"-u -m aiosmtpd -n -l 127.0.0.1:{port}")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            var p = Process.Start(psi) ?? throw new InvalidOperationException("aiosmtpd did not start");
            var sink = new SmtpSink(p, port);
            p.OutputDataReceived += (_, e) => { if (e.Data is not null) { lock (sink._output) { sink._output.AppendLine(e.Data); } } };
            p.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (sink._output) { sink._output.AppendLine(e.Data); } } };
            p.BeginOutputReadLine();
            p.BeginErrorReadLine();
            await Wait.UntilAsync(() =>
            {
                if (p.HasExited)
                {
                    throw new InvalidOperationException($"aiosmtpd exited ({p.ExitCode}); is python3-aiosmtpd installed (scripts/prereqs.sh)?\n{sink.Output}");
                }
                try
                {
                    using var c = new TcpClient();
                    c.Connect(IPAddress.Loopback, port);
                    return true;
                }
                catch (SocketException)
                {
                    return false;
                }
            }, "aiosmtpd listening");
            return sink;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
    }
}
