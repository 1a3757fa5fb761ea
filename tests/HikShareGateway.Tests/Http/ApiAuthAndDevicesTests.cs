using Microsoft.Extensions.DependencyInjection;
using System.Net;
using System.Text.Json;
using HikShareGateway.Core.Access;

namespace HikShareGateway.Tests.Http;

[Trait("Category", "Unit")]
public class ApiAuthAndDevicesTests
{
    internal static async Task<JsonElement> ProblemAsync(HttpResponseMessage r, int status)
    {
        Assert.Equal(status, (int)r.StatusCode);
        Assert.Equal("application/problem+json", r.Content.Headers.ContentType?.MediaType);
        var json = JsonDocument.Parse(await r.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(status, json.GetProperty("status").GetInt32());
        Assert.StartsWith("urn:hikshare:problem:", json.GetProperty("type").GetString());
        Assert.False(string.IsNullOrWhiteSpace(json.GetProperty("title").GetString()));
        Assert.False(string.IsNullOrWhiteSpace(json.GetProperty("detail").GetString()));
        return json;
    }

    [Fact]
    public async Task Devices_NoToken_Answers401ProblemWithBearerChallenge()
    {
        await using var host = await ApiTestHost.StartAsync();
        var r = await host.SendAsync(HttpMethod.Get, "/api/v1/devices", null);
        await ProblemAsync(r, 401);
        Assert.StartsWith("Bearer", r.Headers.WwwAuthenticate.ToString());
    }

    [Fact]
    public async Task Devices_BadToken_Answers401InvalidTokenWithoutEchoingIt()
    {
        await using var host = await ApiTestHost.StartAsync();
        var r = await host.SendAsync(HttpMethod.Get, "/api/v1/devices", "forged-token-xyz");
        var body = await ProblemAsync(r, 401);
        Assert.Contains("invalid_token", r.Headers.WwwAuthenticate.ToString());
        Assert.DoesNotContain("forged-token-xyz", body.ToString());
    }

    [Fact]
    public async Task Devices_WithoutRegisteredAuthenticator_FallbackRejectsEveryToken()
    {
        // The HTTP API alone (no access feature): TryAdd fallback denies everybody.
        var services = new ServiceCollection().AddLogging().AddHttpApiForFallbackTest();
        await using var provider = services.BuildServiceProvider();
        var auth = provider.GetRequiredService<IViewerAuthenticator>();
        Assert.Equal(AuthStatus.Invalid, auth.Authenticate(new ViewerCredentials(null, null, null, "tok-bob"), null).Status);
        Assert.Equal(AuthStatus.NoCredentials, auth.Authenticate(default, null).Status);
        Assert.False(provider.GetRequiredService<IAccessPolicy>().IsAllowed("bob@example.com", "cam-1", 1, Privilege.LiveView));
    }

    [Fact]
    public async Task Devices_SharedChannelsOnly_WithPrivilegesAndNoSecrets()
    {
        await using var host = await ApiTestHost.StartAsync();
        host.Policy.Grant("bob@example.com", ApiTestHost.Device, 1, Privilege.LiveView | Privilege.Ptz);
        var r = await host.SendAsync(HttpMethod.Get, "/api/v1/devices", "tok-bob");
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        var text = await r.Content.ReadAsStringAsync();
        var devices = JsonDocument.Parse(text).RootElement.GetProperty("devices");
        var d = Assert.Single(devices.EnumerateArray());
        Assert.Equal("cam-1", d.GetProperty("deviceId").GetString());
        Assert.Equal("DS-2DE4425IW", d.GetProperty("model").GetString());
        Assert.True(d.GetProperty("online").GetBoolean());
        var ch = Assert.Single(d.GetProperty("channels").EnumerateArray());
        Assert.Equal(1, ch.GetProperty("channel").GetInt32());
        Assert.Equal("Front", ch.GetProperty("name").GetString());
        Assert.Equal(["main", "sub"], ch.GetProperty("streams").EnumerateArray().Select(e => e.GetString()));
        Assert.True(ch.GetProperty("ptz").GetBoolean());
        Assert.Equal(["liveView", "ptz"], ch.GetProperty("privileges").EnumerateArray().Select(e => e.GetString()));
        Assert.DoesNotContain("192.0.2.10", text);
        Assert.DoesNotContain("device-secret-pw", text);
        Assert.DoesNotContain("admin", text);
        Assert.DoesNotContain("cam-2", text);
    }

    [Fact]
    public async Task Devices_Owner_SeesEveryChannelWithEveryPrivilege()
    {
        await using var host = await ApiTestHost.StartAsync();
        host.Policy.Own("owner@example.com", ApiTestHost.Device);
        var r = await host.SendAsync(HttpMethod.Get, "/api/v1/devices", "tok-owner");
        var d = JsonDocument.Parse(await r.Content.ReadAsStringAsync()).RootElement.GetProperty("devices")[0];
        Assert.True(d.GetProperty("owner").GetBoolean());
        Assert.Equal(2, d.GetProperty("channels").GetArrayLength());
        Assert.Equal(5, d.GetProperty("channels")[1].GetProperty("privileges").GetArrayLength());
    }

    [Fact]
    public async Task Devices_GrantForUnknownDevice_IsLeftOut()
    {
        await using var host = await ApiTestHost.StartAsync();
        host.Policy.Grant("bob@example.com", "not-in-catalog", 0, Privilege.LiveView);
        var r = await host.SendAsync(HttpMethod.Get, "/api/v1/devices", "tok-bob");
        Assert.Equal(0, JsonDocument.Parse(await r.Content.ReadAsStringAsync()).RootElement.GetProperty("devices").GetArrayLength());
    }

    [Fact]
    public async Task UnknownPathOrWrongMethod_AnswersProblemJson()
    {
        await using var host = await ApiTestHost.StartAsync();
        await ProblemAsync(await host.SendAsync(HttpMethod.Get, "/api/v2/nothing", "tok-bob"), 404);
        await ProblemAsync(await host.SendAsync(HttpMethod.Get, "/api/v1/devices/cam-1/channels/1/ptz/move", "tok-bob"), 405);
    }

    [Fact]
    public async Task Healthz_NoAuth_AnswersOk()
    {
        await using var host = await ApiTestHost.StartAsync();
        var r = await host.SendAsync(HttpMethod.Get, "/healthz", null);
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.Equal("ok\n", await r.Content.ReadAsStringAsync());
    }
}

internal static class FallbackTestExtensions
{
    public static IServiceCollection AddHttpApiForFallbackTest(this IServiceCollection services) =>
        HikShareGateway.Http.HttpApi.AddHttpApi(services, new HikShareGateway.Http.PtzApiOptions(), new HikShareGateway.Http.AdminOptions { Port = 0 }, Path.Combine(Path.GetTempPath(), "unused-admin.token"));
}
