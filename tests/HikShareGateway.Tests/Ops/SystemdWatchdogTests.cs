using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using HikShareGateway.Http.Operations;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace HikShareGateway.Tests.Ops;

[Trait("Category", "Integration")]
public sealed class SystemdWatchdogTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("hikshare-notify-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private Socket Bind(out string path)
    {
        path = Path.Combine(_dir, "notify.sock");
        var s = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        s.Bind(new UnixDomainSocketEndPoint(path));
        return s;
    }

    private static async Task<string> ReceiveAsync(Socket s, TimeSpan timeout)
    {
        var buffer = new byte[256];
        using var cts = new CancellationTokenSource(timeout);
        var n = await s.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
        return Encoding.ASCII.GetString(buffer, 0, n);
    }

    [Fact]
    public void Read_NoNotifySocketOrNoWatchdog_IsDisabled()
    {
        Assert.Null(SystemdWatchdog.Read(_ => null).Interval);
        Assert.Null(SystemdWatchdog.Read(k => k == "NOTIFY_SOCKET" ? "/run/systemd/notify" : null).Interval);
        Assert.Null(SystemdWatchdog.Read(k => k switch { "NOTIFY_SOCKET" => "/x", "WATCHDOG_USEC" => "30000000", "WATCHDOG_PID" => "1", _ => null }).Interval);
        Assert.Equal(TimeSpan.FromSeconds(15), SystemdWatchdog.Read(k => k switch
        {
            "NOTIFY_SOCKET" => "/x", "WATCHDOG_USEC" => "30000000", "WATCHDOG_PID" => Environment.ProcessId.ToString(), _ => null,
        }).Interval);
    }

    [Fact]
    public async Task Watchdog_SendsWatchdog1AtHalfTheInterval()
    {
        using var socket = Bind(out var path);
        var time = new FakeTimeProvider();
        using var watchdog = new SystemdWatchdog(time, NullLogger<SystemdWatchdog>.Instance,
            k => k switch { "NOTIFY_SOCKET" => path, "WATCHDOG_USEC" => "10000000", _ => null });
        await watchdog.StartAsync(CancellationToken.None);
        Assert.Equal("WATCHDOG=1", await ReceiveAsync(socket, TimeSpan.FromSeconds(10)));
        time.Advance(TimeSpan.FromSeconds(4));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => ReceiveAsync(socket, TimeSpan.FromMilliseconds(200)));
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal("WATCHDOG=1", await ReceiveAsync(socket, TimeSpan.FromSeconds(10)));
        await watchdog.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task Daemon_UnderNotifySocket_SendsWatchdogPings_ServesHealthzAndStatus()
    {
        // The real host process, as systemd starts it: NOTIFY_SOCKET and WATCHDOG_USEC in its environment.
        using var socket = Bind(out var path);
        var state = Path.Combine(_dir, "state");
        var config = Path.Combine(_dir, "gateway.json");
        var httpPort = Infrastructure.PortAllocator.GetFreeTcpPort();
        File.WriteAllText(config, $$"""
            { "Gateway": { "Id": "gw-watchdog", "StateDirectory": "{{state}}" },
              "Http": { "Port": {{httpPort}}, "BindAddress": "127.0.0.1" },
              "Admin": { "Port": {{Infrastructure.PortAllocator.GetFreeTcpPort()}} },
              "Rtsp": { "Port": {{Infrastructure.PortAllocator.GetFreeTcpPort()}} },
              "Discovery": { "Enabled": false } }
            """);
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "hikshare-gateway.dll"));
        psi.ArgumentList.Add("--config");
        psi.ArgumentList.Add(config);
        psi.Environment["NOTIFY_SOCKET"] = path;
        psi.Environment["WATCHDOG_USEC"] = "1000000";
        using var p = Process.Start(psi)!;
        var output = new StringBuilder();
        p.OutputDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        p.ErrorDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        try
        {
            var messages = new List<string>();
            while (messages.Count(m => m == "WATCHDOG=1") < 2)
            {
                try
                {
                    messages.Add(await ReceiveAsync(socket, TimeSpan.FromSeconds(30)));
                }
                catch (OperationCanceledException)
                {
                    lock (output) { Assert.Fail($"no WATCHDOG=1 from the daemon; got [{string.Join(",", messages)}]; its output:\n{output}"); }
                }
            }
            Assert.True(File.Exists(Path.Combine(state, "admin.token")));

            // The same daemon serves /healthz on Http:Port and answers `status` on its admin endpoint.
            // The watchdog pings from the start of the host; the HTTP listener may come a moment later on a loaded
            // machine (READY=1, which would say so, is sent only under a real systemd parent), so poll for it.
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
            string? healthz = null;
            await HikShareGateway.Testing.Wait.UntilAsync(async () =>
            {
                try { healthz = await http.GetStringAsync($"http://127.0.0.1:{httpPort}/healthz"); return true; }
                catch (HttpRequestException) { return false; }
            }, "the daemon's /healthz answering", 30_000);
            Assert.Equal("ok\n", healthz);
            var o = new StringWriter();
            var e = new StringWriter();
            var code = await StatusCommand.RunAsync(CommandLine.Parse(["status", "--config", config]), o, e);
            Assert.True(code == 0, e.ToString());
            Assert.Contains("gateway gw-watchdog", o.ToString());
        }
        finally
        {
            p.Kill(entireProcessTree: true);
            await p.WaitForExitAsync();
        }
    }
}
