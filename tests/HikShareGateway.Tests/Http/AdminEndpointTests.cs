using System.Net;
using System.Net.Http.Headers;
using System.Net.NetworkInformation;
using System.Text.Json;
using HikShareGateway.Core.Access;
using HikShareGateway.Http;
using HikShareGateway.Http.Admin;

namespace HikShareGateway.Tests.Http;

[System.Runtime.Versioning.SupportedOSPlatform("linux")]
[Trait("Category", "Unit")]
public class AdminEndpointTests
{
    private static HttpClient AdminClient(ApiTestHost host, string? token)
    {
        var c = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{host.AdminPort}"), Timeout = TimeSpan.FromSeconds(10) };
        if (token is not null)
        {
            c.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
        return c;
    }

    private static string ReadToken(ApiTestHost host) => File.ReadAllText(Path.Combine(host.StateDirectory, "admin.token")).Trim();

    [Fact]
    public async Task AdminToken_WrittenAtStartWithMode0600()
    {
        await using var host = await ApiTestHost.StartAsync();
        var file = Path.Combine(host.StateDirectory, "admin.token");
        Assert.True(File.Exists(file));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
        Assert.True(ReadToken(host).Length >= 40);
    }

    [Fact]
    public async Task Status_WithoutOrWithWrongToken_Answers401()
    {
        await using var host = await ApiTestHost.StartAsync();
        using var none = AdminClient(host, null);
        await ApiAuthAndDevicesTests.ProblemAsync(await none.GetAsync(AdminEndpoints.StatusPath), 401);
        using var wrong = AdminClient(host, "not-the-admin-token-at-all");
        await ApiAuthAndDevicesTests.ProblemAsync(await wrong.GetAsync(AdminEndpoints.StatusPath), 401);
        // A viewer token is no admin token.
        using var viewer = AdminClient(host, "tok-bob");
        await ApiAuthAndDevicesTests.ProblemAsync(await viewer.GetAsync(AdminEndpoints.StatusPath), 401);
    }

    [Fact]
    public async Task Status_OnPublicPort_DoesNotExistEvenWithToken()
    {
        await using var host = await ApiTestHost.StartAsync();
        var r = await host.Client.SendAsync(host.Request(HttpMethod.Get, AdminEndpoints.StatusPath, ReadToken(host)));
        Assert.Equal(HttpStatusCode.NotFound, r.StatusCode);
    }

    [Fact]
    public async Task AdminListener_IsBoundToLoopbackOnly()
    {
        await using var host = await ApiTestHost.StartAsync();
        var listeners = IPGlobalProperties.GetIPGlobalProperties().GetActiveTcpListeners().Where(l => l.Port == host.AdminPort).ToList();
        Assert.NotEmpty(listeners);
        Assert.All(listeners, l => Assert.True(IPAddress.IsLoopback(l.Address), $"admin port bound to {l.Address}"));
    }

    [Fact]
    public async Task Status_WithToken_ShowsDevicesGrantsAndSessions()
    {
        await using var host = await ApiTestHost.StartAsync();
        host.Grants.Version = 12;
        host.Grants.Source = "mqtt";
        host.Grants.AppliedAt = host.Time.GetUtcNow() - TimeSpan.FromMinutes(2);
        using var s = host.Sessions.Register(new ViewerSession { SessionId = "s-1", Account = "bob@example.com", DeviceId = "cam-1", Channel = 1, Action = Privilege.LiveView, Remote = "127.0.0.1:4000", Revoke = _ => { } });
        using var c = AdminClient(host, ReadToken(host));
        var r = await c.GetAsync(AdminEndpoints.StatusPath);
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        var text = await r.Content.ReadAsStringAsync();
        var status = JsonSerializer.Deserialize<StatusSnapshot>(text, new JsonSerializerOptions(JsonSerializerDefaults.Web))!;
        Assert.Equal("gw-test", status.GatewayId);
        Assert.Equal((12L, "mqtt", 120.0), (status.Grants.Version, status.Grants.Source, status.Grants.AgeSeconds!.Value));
        Assert.Equal(["cam-1", "cam-2"], status.Devices.Select(d => d.DeviceId));
        var session = Assert.Single(status.Sessions);
        Assert.Equal(("bob@example.com", "liveView"), (session.Account, session.Action));
        Assert.DoesNotContain("device-secret-pw", text);
    }

    [Fact]
    public async Task ConfiguredAdminToken_IsUsedAndNoFileIsWritten()
    {
        var port = Infrastructure.PortAllocator.GetFreeTcpPort();
        await using var host = await ApiTestHost.StartAsync(admin: new AdminOptions { Port = port, Token = "configured-admin-token-0123456789" });
        Assert.False(File.Exists(Path.Combine(host.StateDirectory, "admin.token")));
        using var c = AdminClient(host, "configured-admin-token-0123456789");
        Assert.Equal(HttpStatusCode.OK, (await c.GetAsync(AdminEndpoints.StatusPath)).StatusCode);
    }

    [Theory]
    [InlineData("0.0.0.0", "not a loopback address")]
    [InlineData("192.0.2.5", "not a loopback address")]
    [InlineData("localhost-ish", "not an IP address")]
    public void AdminOptions_NonLoopbackBind_IsAConfigError(string bind, string expected)
    {
        var errors = new List<string>();
        new AdminOptions { BindAddress = bind }.Validate(errors);
        Assert.Contains(errors, e => e.StartsWith("Admin:BindAddress", StringComparison.Ordinal) && e.Contains(expected));
    }
}
