using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using HikShareGateway.Tests.Onvif.Simulator;

namespace HikShareGateway.Tests.Onvif;

/// <summary><c>hikshare-gateway discover</c> against the simulator, over loopback multicast on a test-owned UDP port.</summary>
[Trait("Category", "Integration")]
public sealed class DiscoverCommandTests : IAsyncLifetime
{
    private OnvifSimulator _sim = null!;
    private SimDiscoveryResponder _responder = null!;
    private int _port;

    public Task InitializeAsync()
    {
        _sim = new OnvifSimulator();
        using (var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp))
        {
            s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            _port = ((IPEndPoint)s.LocalEndPoint!).Port;
        }
        _responder = new SimDiscoveryResponder(_sim, _port);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _responder.DisposeAsync();
        await _sim.DisposeAsync();
    }

    private async Task<(int Code, string Out, string Err)> Run(params string[] args)
    {
        var cli = CommandLine.Parse(["discover", "--interface", "127.0.0.1", "--port", _port.ToString(), "--wait", "1", .. args]);
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = await DiscoverCommand.RunAsync(cli, stdout, stderr, default);
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public async Task Discover_WithCredentials_PrintsTableWithSerialChannelsAndStreams_NeverThePassword()
    {
        var (code, output, err) = await Run("--user", _sim.Device.Username, "--password", _sim.Device.Password);
        Assert.Equal(0, code);
        Assert.Equal("", err);
        var lines = output.Split('\n');
        Assert.StartsWith("ADDRESS", lines[0]);
        Assert.Contains("SERIAL", lines[0]);
        var row = lines.Single(l => l.StartsWith($"127.0.0.1:{_sim.EndPoint.Port}", StringComparison.Ordinal));
        Assert.Contains("HIKVISION", row);
        Assert.Contains("DS-7608NI-K2", row);
        Assert.Contains(_sim.Device.Serial, row);
        Assert.Contains("V4.30.085 build 200916", row);
        Assert.EndsWith("2", row.TrimEnd());
        Assert.Contains("  ch1: main rtsp://127.0.0.1:554/Streaming/Channels/101?transportmode=unicast&profile=Profile_101  sub rtsp://127.0.0.1:554/Streaming/Channels/102", output);
        Assert.Contains("[ptz]", output);
        Assert.DoesNotContain(_sim.Device.Password, output);
        Assert.Contains("1 device(s).", output);
    }

    [Fact]
    public async Task Discover_WithoutCredentials_ListsDeviceAndSaysItNeedsThem()
    {
        var (code, output, _) = await Run();
        Assert.Equal(0, code);
        Assert.Contains($"127.0.0.1:{_sim.EndPoint.Port}", output);
        Assert.Contains("error: needs credentials: give --user and --password", output);
    }

    [Fact]
    public async Task Discover_NobodyAnswers_SaysSoClearly_ExitCode1()
    {
        await _responder.DisposeAsync();
        _responder = new SimDiscoveryResponder(_sim, FreePortOtherThan(_port));
        var (code, output, _) = await Run();
        Assert.Equal(1, code);
        Assert.Contains("No ONVIF device answered within 1 s", output);
        Assert.Contains("--url http://<address>/onvif/device_service", output);
    }

    [Fact]
    public async Task Discover_BadWait_IsUsageError()
    {
        var (code, _, err) = await Run("--wait", "soon");
        Assert.Equal(64, code);
        Assert.Contains("--wait \"soon\" is not a number of seconds", err);
    }

    [Fact]
    public async Task Discover_TheRealBinary_FindsTheSimulator()
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "hikshare-gateway.dll");
        Assert.True(File.Exists(dll), $"{dll} missing: the host must be built with the tests");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { dll, "discover", "--interface", "127.0.0.1", "--port", _port.ToString(), "--wait", "1", "--user", _sim.Device.Username, "--password", _sim.Device.Password })
        {
            psi.ArgumentList.Add(a);
        }
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await p.WaitForExitAsync(cts.Token);
        }
        finally
        {
            if (!p.HasExited)
            {
                p.Kill(entireProcessTree: true);
            }
        }
        Assert.True(p.ExitCode == 0, await stderr);
        Assert.Contains(_sim.Device.Serial, await stdout);
    }

    private static int FreePortOtherThan(int port)
    {
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var p = ((IPEndPoint)s.LocalEndPoint!).Port;
        return p == port ? p + 1 : p;
    }
}
