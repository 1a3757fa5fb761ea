using System.Net;
using System.Text.Json;
using HikShareGateway.Core.Access;
using HikShareGateway.Core.Devices;
using HikShareGateway.Core.Ptz;
using HikShareGateway.Http;
using HikShareGateway.Tests.Infrastructure;

namespace HikShareGateway.Tests.Http;

[Trait("Category", "Unit")]
public class PtzEndpointTests
{
    private const string Move = "/api/v1/devices/cam-1/channels/1/ptz/move";
    private const string Stop = "/api/v1/devices/cam-1/channels/1/ptz/stop";
    private const string Continuous = """{"mode":"continuous","pan":0.5,"tilt":0,"zoom":0,"timeoutMs":1000}""";

    private static async Task<ApiTestHost> StartWithBobPtzAsync(PtzApiOptions? options = null)
    {
        var host = await ApiTestHost.StartAsync(ptz: options);
        host.Policy.Grant("bob@example.com", ApiTestHost.Device, 1, Privilege.LiveView | Privilege.Ptz);
        host.Policy.Grant("eve@example.com", ApiTestHost.Device, 1, Privilege.LiveView);
        return host;
    }

    private static async Task WaitForStopAsync(ApiTestHost host) =>
        Assert.True(await host.Ptz.Stops.WaitAsync(TimeSpan.FromSeconds(10)), "the gateway did not send Stop");

    [Fact]
    public async Task Move_NoToken_Answers401()
    {
        await using var host = await StartWithBobPtzAsync();
        await ApiAuthAndDevicesTests.ProblemAsync(await host.SendAsync(HttpMethod.Post, Move, null, Continuous), 401);
        Assert.Empty(host.Ptz.Calls);
    }

    [Fact]
    public async Task Move_WithoutPtzPrivilege_Answers403AndAuditsDeny()
    {
        await using var host = await StartWithBobPtzAsync();
        await ApiAuthAndDevicesTests.ProblemAsync(await host.SendAsync(HttpMethod.Post, Move, "tok-eve", Continuous), 403);
        Assert.Empty(host.Ptz.Calls);
        var a = Assert.Single(host.Audit.Events);
        Assert.Equal((AuditDecision.Deny, Privilege.Ptz, "eve@example.com"), (a.Decision, a.Action, a.Account));
    }

    [Fact]
    public async Task Move_UnknownDevice_Answers403LikeNotPermitted()
    {
        await using var host = await StartWithBobPtzAsync();
        var unknown = await ApiAuthAndDevicesTests.ProblemAsync(await host.SendAsync(HttpMethod.Post, "/api/v1/devices/no-such-device/channels/1/ptz/move", "tok-bob", Continuous), 403);
        var denied = await ApiAuthAndDevicesTests.ProblemAsync(await host.SendAsync(HttpMethod.Post, "/api/v1/devices/cam-2/channels/1/ptz/move", "tok-bob", Continuous), 403);
        Assert.Equal(denied.GetProperty("detail").GetString(), unknown.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task Move_MalformedBodyWithoutGrant_Answers403NotRevealingAnything()
    {
        await using var host = await StartWithBobPtzAsync();
        await ApiAuthAndDevicesTests.ProblemAsync(await host.SendAsync(HttpMethod.Post, Move, "tok-eve", "{not json"), 403);
    }

    [Theory]
    [InlineData("{not json", "not valid JSON")]
    [InlineData("""{"mode":"continuous","pan":1.5}""", "\"pan\" 1.5 is out of range")]
    [InlineData("""{"mode":"continuous","pan":0.5,"timeoutMs":0}""", "\"timeoutMs\" 0 is out of range")]
    [InlineData("""{"mode":"continuous","pan":0.5,"timeoutMs":600001}""", "\"timeoutMs\" 600001 is out of range")]
    [InlineData("""{"mode":"spin","pan":0.5}""", "\"mode\" \"spin\" is not supported")]
    [InlineData("""{"pan":0.5}""", "\"mode\" is required")]
    [InlineData("""{"mode":"absolute","zoom":-0.5}""", "\"zoom\" -0.5 is out of range")]
    [InlineData("""{"mode":"relative"}""", "Give at least one of")]
    [InlineData("""{"mode":"continuous","pan":"fast"}""", "\"pan\" must be a number")]
    [InlineData("""{"mode":"continuous","pan":0.1,"yaw":1}""", "Unknown field \"yaw\"")]
    [InlineData("[1,2]", "must be a JSON object")]
    [InlineData("", "The body is empty")]
    public async Task Move_BadBody_Answers400NamingTheProblem(string body, string expected)
    {
        await using var host = await StartWithBobPtzAsync();
        var problem = await ApiAuthAndDevicesTests.ProblemAsync(await host.SendAsync(HttpMethod.Post, Move, "tok-bob", body), 400);
        Assert.Contains(expected, problem.GetProperty("detail").GetString());
        Assert.Empty(host.Ptz.Calls);
    }

    [Theory]
    [InlineData(DeviceErrorKind.NotSupported, 409)]
    [InlineData(DeviceErrorKind.Failed, 502)]
    [InlineData(DeviceErrorKind.Unauthorized, 502)]
    [InlineData(DeviceErrorKind.Timeout, 504)]
    public async Task Move_DeviceError_MapsToStatus(DeviceErrorKind kind, int status)
    {
        await using var host = await StartWithBobPtzAsync();
        host.Ptz.Failure = new DeviceException(kind, "soap fault from http://192.0.2.10/onvif/ptz_service");
        var problem = await ApiAuthAndDevicesTests.ProblemAsync(await host.SendAsync(HttpMethod.Post, Move, "tok-bob", Continuous), status);
        Assert.DoesNotContain("192.0.2.10", problem.ToString());
    }

    [Fact]
    public async Task Move_DeviceHangs_Answers504AfterCommandTimeout()
    {
        await using var host = await StartWithBobPtzAsync(new PtzApiOptions { CommandTimeoutMs = 2000 });
        host.Ptz.Gate = new TaskCompletionSource();
        var pending = host.SendAsync(HttpMethod.Post, Move, "tok-bob", Continuous);
        Assert.True(await host.Ptz.Entered.WaitAsync(TimeSpan.FromSeconds(10)));
        host.Time.Advance(TimeSpan.FromMilliseconds(2001));
        await ApiAuthAndDevicesTests.ProblemAsync(await pending, 504);
    }

    [Fact]
    public async Task ContinuousMove_GatewaySendsStopWhenTimeoutElapses()
    {
        await using var host = await StartWithBobPtzAsync();
        var r = await host.SendAsync(HttpMethod.Post, Move, "tok-bob", Continuous);
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        var json = JsonDocument.Parse(await r.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("moving", json.GetProperty("status").GetString());
        var move = Assert.Single(host.Ptz.Calls);
        Assert.Equal(new PtzMove(PtzMoveMode.Continuous, 0.5, 0, 0, null, TimeSpan.FromSeconds(1)), move.Move);
        var session = Assert.Single(host.Sessions.ActiveSessions);
        Assert.Equal((Privilege.Ptz, "bob@example.com", "cam-1", 1), (session.Action, session.Account, session.DeviceId, session.Channel));

        host.Time.Advance(TimeSpan.FromMilliseconds(999));
        Assert.False(await host.Ptz.Stops.WaitAsync(TimeSpan.FromMilliseconds(200)), "stopped before the timeout");
        host.Time.Advance(TimeSpan.FromMilliseconds(1));
        await WaitForStopAsync(host);
        Assert.Equal("stop", host.Ptz.Calls.Last().Op);
        await Wait.UntilAsync(() => host.Sessions.ActiveSessions.Count == 0);
        await Wait.UntilAsync(() => host.Audit.Events.Any(e => e.Decision == AuditDecision.End && e.Reason.Contains("timeout")));
    }

    [Fact]
    public async Task ContinuousMove_GrantRevoked_GatewaySendsStopAtOnce()
    {
        await using var host = await StartWithBobPtzAsync();
        var r = await host.SendAsync(HttpMethod.Post, Move, "tok-bob", """{"mode":"continuous","pan":-1,"timeoutMs":60000}""");
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        var session = Assert.Single(host.Sessions.ActiveSessions);

        // What the access feature does on a grant change: revoke the sessions that lost their privilege.
        host.Policy.RevokeAll("bob@example.com");
        session.Revoke("share deleted");

        await WaitForStopAsync(host);
        await Wait.UntilAsync(() => host.Sessions.ActiveSessions.Count == 0);
        await Wait.UntilAsync(() => host.Audit.Events.Any(e => e.Decision == AuditDecision.Revoked && e.Account == "bob@example.com"));
        // The timer was disposed: advancing past the timeout sends no second stop.
        host.Time.Advance(TimeSpan.FromMinutes(2));
        Assert.False(await host.Ptz.Stops.WaitAsync(TimeSpan.FromMilliseconds(200)));
    }

    [Fact]
    public async Task ContinuousMove_GrantChangedWithoutRegistryRevoke_GatewayStillStops()
    {
        await using var host = await StartWithBobPtzAsync();
        Assert.Equal(HttpStatusCode.OK, (await host.SendAsync(HttpMethod.Post, Move, "tok-bob", """{"mode":"continuous","pan":1,"timeoutMs":60000}""")).StatusCode);
        // Only IAccessPolicy.Changed fires (e.g. the fallback registry, which revokes nothing).
        host.Policy.RevokeAll("bob@example.com");
        await WaitForStopAsync(host);
        await Wait.UntilAsync(() => host.Sessions.ActiveSessions.Count == 0);
        // The registry's own revoke arriving later changes nothing: a single stop.
        Assert.False(await host.Ptz.Stops.WaitAsync(TimeSpan.FromMilliseconds(200)));
    }

    [Fact]
    public async Task ContinuousMove_HoldingCallerDisconnects_GatewaySendsStop()
    {
        await using var host = await StartWithBobPtzAsync();
        using var cts = new CancellationTokenSource();
        var pending = host.Client.SendAsync(host.Request(HttpMethod.Post, Move, "tok-bob", """{"mode":"continuous","tilt":0.3,"timeoutMs":60000,"hold":true}"""), cts.Token);
        Assert.True(await host.Ptz.Entered.WaitAsync(TimeSpan.FromSeconds(10)));
        await Wait.UntilAsync(() => host.Sessions.ActiveSessions.Count == 1);
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pending);
        await WaitForStopAsync(host);
        await Wait.UntilAsync(() => host.Sessions.ActiveSessions.Count == 0);
    }

    [Fact]
    public async Task ContinuousMove_Hold_AnswersWhenTimeoutStopsIt()
    {
        await using var host = await StartWithBobPtzAsync();
        var pending = host.SendAsync(HttpMethod.Post, Move, "tok-bob", """{"mode":"continuous","zoom":0.2,"timeoutMs":500,"hold":true}""");
        await Wait.UntilAsync(() => host.Sessions.ActiveSessions.Count == 1);
        host.Time.Advance(TimeSpan.FromMilliseconds(500));
        var r = await pending;
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.Contains("\"status\":\"ended\"", await r.Content.ReadAsStringAsync());
        Assert.Equal("stop", host.Ptz.Calls.Last().Op);
    }

    [Fact]
    public async Task NewMove_ReplacesRunningMove_OnlyOneStopAtTheNewTimeout()
    {
        await using var host = await StartWithBobPtzAsync();
        await host.SendAsync(HttpMethod.Post, Move, "tok-bob", """{"mode":"continuous","pan":0.5,"timeoutMs":1000}""");
        await host.SendAsync(HttpMethod.Post, Move, "tok-bob", """{"mode":"continuous","pan":-0.5,"timeoutMs":5000}""");
        Assert.Single(host.Sessions.ActiveSessions);
        host.Time.Advance(TimeSpan.FromMilliseconds(1500));
        Assert.False(await host.Ptz.Stops.WaitAsync(TimeSpan.FromMilliseconds(200)), "the replaced move's timer stopped the new move");
        host.Time.Advance(TimeSpan.FromMilliseconds(3500));
        await WaitForStopAsync(host);
    }

    [Fact]
    public async Task NewMoveFails_RunningMoveStillStopsAtItsTimeout()
    {
        await using var host = await StartWithBobPtzAsync();
        Assert.Equal(HttpStatusCode.OK, (await host.SendAsync(HttpMethod.Post, Move, "tok-bob", """{"mode":"continuous","pan":0.5,"timeoutMs":1000}""")).StatusCode);
        host.Ptz.Failure = new DeviceException(DeviceErrorKind.Failed, "fault");
        await ApiAuthAndDevicesTests.ProblemAsync(await host.SendAsync(HttpMethod.Post, Move, "tok-bob", """{"mode":"absolute","pan":0.1}"""), 502);
        Assert.Single(host.Sessions.ActiveSessions);
        host.Time.Advance(TimeSpan.FromSeconds(1));
        await WaitForStopAsync(host);
        await Wait.UntilAsync(() => host.Sessions.ActiveSessions.Count == 0);
    }

    [Fact]
    public async Task Stop_EndsRunningMoveAndIsNeverRateLimited()
    {
        await using var host = await StartWithBobPtzAsync(new PtzApiOptions { Burst = 1, RatePerSecond = 0.01 });
        Assert.Equal(HttpStatusCode.OK, (await host.SendAsync(HttpMethod.Post, Move, "tok-bob", Continuous)).StatusCode);
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await host.SendAsync(HttpMethod.Post, Stop, "tok-bob")).StatusCode);
        }
        Assert.Empty(host.Sessions.ActiveSessions);
        Assert.Equal(3, host.Ptz.Calls.Count(c => c.Op == "stop"));
    }

    [Fact]
    public async Task Move_OverRateLimit_Answers429WithRetryAfter_ThenRecovers()
    {
        await using var host = await StartWithBobPtzAsync(new PtzApiOptions { Burst = 2, RatePerSecond = 1 });
        const string abs = """{"mode":"absolute","pan":0.1,"tilt":0.1}""";
        Assert.Equal(HttpStatusCode.OK, (await host.SendAsync(HttpMethod.Post, Move, "tok-bob", abs)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await host.SendAsync(HttpMethod.Post, Move, "tok-bob", abs)).StatusCode);
        var limited = await host.SendAsync(HttpMethod.Post, Move, "tok-bob", abs);
        await ApiAuthAndDevicesTests.ProblemAsync(limited, 429);
        Assert.Equal(TimeSpan.FromSeconds(1), limited.Headers.RetryAfter?.Delta);
        // Another account has its own bucket.
        host.Policy.Grant("eve@example.com", ApiTestHost.Device, 1, Privilege.Ptz);
        Assert.Equal(HttpStatusCode.OK, (await host.SendAsync(HttpMethod.Post, Move, "tok-eve", abs)).StatusCode);
        host.Time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(HttpStatusCode.OK, (await host.SendAsync(HttpMethod.Post, Move, "tok-bob", abs)).StatusCode);
    }

    [Fact]
    public async Task TwoCallers_SameChannel_CommandsNeverInterleave()
    {
        await using var host = await StartWithBobPtzAsync();
        host.Policy.Grant("eve@example.com", ApiTestHost.Device, 1, Privilege.Ptz);
        host.Ptz.Gate = new TaskCompletionSource();
        var first = host.SendAsync(HttpMethod.Post, Move, "tok-bob", """{"mode":"absolute","pan":0.1}""");
        Assert.True(await host.Ptz.Entered.WaitAsync(TimeSpan.FromSeconds(10)));
        var second = host.SendAsync(HttpMethod.Post, Move, "tok-eve", """{"mode":"absolute","pan":-0.1}""");
        // The second command waits for the first: it does not reach the device while the first runs.
        Assert.False(await host.Ptz.Entered.WaitAsync(TimeSpan.FromMilliseconds(300)));
        host.Ptz.Gate.SetResult();
        Assert.Equal(HttpStatusCode.OK, (await first).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await second).StatusCode);
        Assert.Equal(1, host.Ptz.MaxConcurrent);
        Assert.Equal([0.1, -0.1], host.Ptz.Calls.Select(c => c.Move!.Pan!.Value));
    }

    [Fact]
    public async Task Presets_ListAndGoto_NeedPtz()
    {
        await using var host = await StartWithBobPtzAsync();
        var list = await host.SendAsync(HttpMethod.Get, "/api/v1/devices/cam-1/channels/1/ptz/presets", "tok-bob");
        Assert.Equal(HttpStatusCode.OK, list.StatusCode);
        var presets = JsonDocument.Parse(await list.Content.ReadAsStringAsync()).RootElement.GetProperty("presets");
        Assert.Equal("Gate", presets[0].GetProperty("name").GetString());
        Assert.Equal(HttpStatusCode.OK, (await host.SendAsync(HttpMethod.Post, "/api/v1/devices/cam-1/channels/1/ptz/presets/2/goto", "tok-bob")).StatusCode);
        Assert.Equal("2", host.Ptz.Calls.Last().Preset);
        await ApiAuthAndDevicesTests.ProblemAsync(await host.SendAsync(HttpMethod.Get, "/api/v1/devices/cam-1/channels/1/ptz/presets", "tok-eve"), 403);
        await ApiAuthAndDevicesTests.ProblemAsync(await host.SendAsync(HttpMethod.Post, "/api/v1/devices/cam-1/channels/1/ptz/presets/2/goto", "tok-eve"), 403);
        Assert.Contains(host.Audit.Events, e => e.Decision == AuditDecision.Allow && e.Reason.Contains("goto"));
    }

    [Fact]
    public async Task Move_ChannelNotANumber_Answers403()
    {
        await using var host = await StartWithBobPtzAsync();
        await ApiAuthAndDevicesTests.ProblemAsync(await host.SendAsync(HttpMethod.Post, "/api/v1/devices/cam-1/channels/one/ptz/move", "tok-bob", Continuous), 403);
    }

    [Fact]
    public async Task Move_NotSupportedFallback_Answers409WhenNoPtzFeatureIsRegistered()
    {
        await using var host = await ApiTestHost.StartAsync(configure: s =>
        {
            // Remove the fake: the API's TryAdd fallback is used.
            var fake = s.Single(d => d.ServiceType == typeof(IPtzService));
            s.Remove(fake);
        });
        host.Policy.Grant("bob@example.com", ApiTestHost.Device, 1, Privilege.Ptz);
        await ApiAuthAndDevicesTests.ProblemAsync(await host.SendAsync(HttpMethod.Post, Move, "tok-bob", Continuous), 409);
    }
}
