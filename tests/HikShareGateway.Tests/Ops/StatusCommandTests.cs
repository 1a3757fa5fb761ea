using System.Text.Json;
using HikShareGateway.Core.Access;
using HikShareGateway.Tests.Http;
using HikShareGateway.Tests.Infrastructure;

namespace HikShareGateway.Tests.Ops;

[Trait("Category", "Unit")]
public class StatusCommandTests
{
    private static string WriteConfig(string dir, int adminPort, string? token = null)
    {
        var path = Path.Combine(dir, "gateway.json");
        var admin = token is null ? $"{{ \"Port\": {adminPort} }}" : $"{{ \"Port\": {adminPort}, \"Token\": \"{token}\" }}";
        File.WriteAllText(path, $$"""
            // the daemon's configuration as the status command reads it
            { "Gateway": { "Id": "gw-test", "StateDirectory": "{{dir}}" }, "Admin": {{admin}} }
            """);
        return path;
    }

    private static async Task<(int Code, string Out, string Err)> RunAsync(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        var code = await StatusCommand.RunAsync(CommandLine.Parse(["status", .. args]), o, e);
        return (code, o.ToString(), e.ToString());
    }

    [Fact]
    public async Task Status_RunningDaemon_PrintsDevicesGrantsAndSessionsPerAccount()
    {
        await using var host = await ApiTestHost.StartAsync();
        host.Grants.Version = 42;
        host.Grants.Source = "mqtt";
        host.Grants.BrokerConnected = true;
        host.Grants.AppliedAt = host.Time.GetUtcNow() - TimeSpan.FromSeconds(90);
        using var s = host.Sessions.Register(new ViewerSession { SessionId = "s-9", Account = "bob@example.com", DeviceId = "cam-1", Channel = 1, Action = Privilege.LiveView, Remote = "127.0.0.1:40000", Revoke = _ => { } });
        var config = WriteConfig(host.StateDirectory, host.AdminPort);

        var (code, output, err) = await RunAsync("--config", config);
        Assert.True(code == 0, err);
        Assert.Contains("gateway gw-test", output);
        Assert.Contains("grants  version 42 from mqtt, applied 1m 30s ago  broker connected", output);
        Assert.Contains("devices (2 of 2 online)", output);
        Assert.Contains("cam-1", output);
        Assert.Contains("  bob@example.com\n    liveView     cam-1/1  from 127.0.0.1:40000", output);
    }

    [Fact]
    public async Task Status_Json_PrintsTheSnapshot()
    {
        await using var host = await ApiTestHost.StartAsync();
        var (code, output, err) = await RunAsync("--config", WriteConfig(host.StateDirectory, host.AdminPort), "--json");
        Assert.True(code == 0, err);
        var json = JsonDocument.Parse(output).RootElement;
        Assert.Equal("gw-test", json.GetProperty("gatewayId").GetString());
        Assert.Equal(2, json.GetProperty("devices").GetArrayLength());
    }

    [Fact]
    public async Task Status_DaemonNotRunning_SaysSo()
    {
        var dir = Directory.CreateTempSubdirectory("hikshare-status-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "admin.token"), "stale-token\n");
            var (code, _, err) = await RunAsync("--config", WriteConfig(dir, PortAllocator.GetFreeTcpPort()));
            Assert.Equal(1, code);
            Assert.Contains("the daemon is not running", err);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public async Task Status_NoTokenFile_SaysWhereItLooked()
    {
        var dir = Directory.CreateTempSubdirectory("hikshare-status-").FullName;
        try
        {
            var (code, _, err) = await RunAsync("--config", WriteConfig(dir, PortAllocator.GetFreeTcpPort()));
            Assert.Equal(1, code);
            Assert.Contains(Path.Combine(dir, "admin.token") + " does not exist", err);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public async Task Status_WrongToken_IsRefused()
    {
        await using var host = await ApiTestHost.StartAsync();
        var (code, _, err) = await RunAsync("--config", WriteConfig(host.StateDirectory, host.AdminPort, token: "a-different-admin-token-123456"));
        Assert.Equal(1, code);
        Assert.Contains("refused the admin token", err);
    }

    [Fact]
    public async Task Status_MissingConfigFile_IsAConfigError()
    {
        var (code, _, err) = await RunAsync("--config", "/nonexistent/gateway.json");
        Assert.Equal(78, code);
        Assert.Contains("does not exist", err);
    }
}
