using System.Net;
using System.Text.Json;
using HikShareGateway.Core.Alarms;
using HikShareGateway.Http;
using HikShareGateway.Tests.Infrastructure;

namespace HikShareGateway.Tests.Http;

[Trait("Category", "Unit")]
public class EventsEndpointTests
{
    private static async Task<string> ReadEventAsync(StreamReader reader)
    {
        var lines = new List<string>();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (true)
        {
            var line = await reader.ReadLineAsync(cts.Token);
            Assert.NotNull(line);
            if (line.Length == 0)
            {
                if (lines.Count > 0)
                {
                    return string.Join("\n", lines);
                }
                continue;
            }
            lines.Add(line);
        }
    }

    [Fact]
    public async Task Events_NoToken_Answers401()
    {
        await using var host = await ApiTestHost.StartAsync();
        await ApiAuthAndDevicesTests.ProblemAsync(await host.SendAsync(HttpMethod.Get, "/api/v1/events", null), 401);
    }

    [Fact]
    public async Task Events_DeliversOnlyAlarmsRoutedToTheCaller()
    {
        await using var host = await ApiTestHost.StartAsync();
        var r = await host.Client.SendAsync(host.Request(HttpMethod.Get, "/api/v1/events", "tok-bob"), HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.Equal("text/event-stream", r.Content.Headers.ContentType?.MediaType);
        using var reader = new StreamReader(await r.Content.ReadAsStreamAsync());
        Assert.StartsWith(": hikshare-gateway", await ReadEventAsync(reader));
        await Wait.UntilAsync(() => host.Alarms.SubscriberCount == 1);

        var at = new DateTimeOffset(2026, 11, 25, 10, 1, 0, TimeSpan.Zero);
        host.Alarms.Publish(new RoutedAlarm(new AlarmEvent("cam-1", 1, "lineCrossing", "pulse", at), ["owner@example.com", "eve@example.com"]));
        host.Alarms.Publish(new RoutedAlarm(new AlarmEvent("cam-1", 2, "motion", "start", at), ["owner@example.com", "bob@example.com"]));

        var e = await ReadEventAsync(reader);
        var lines = e.Split('\n');
        Assert.Equal("id: 1", lines[0]);
        Assert.Equal("event: motion", lines[1]);
        Assert.StartsWith("data: ", lines[2]);
        var data = JsonDocument.Parse(lines[2]["data: ".Length..]).RootElement;
        Assert.Equal("cam-1", data.GetProperty("deviceId").GetString());
        Assert.Equal(2, data.GetProperty("channel").GetInt32());
        Assert.Equal("start", data.GetProperty("state").GetString());
        Assert.Equal(at, data.GetProperty("at").GetDateTimeOffset());
        // Other recipients are other people's accounts: only the caller is listed.
        Assert.Equal(["bob@example.com"], data.GetProperty("recipients").EnumerateArray().Select(x => x.GetString()));
    }

    [Fact]
    public async Task Events_Idle_SendsKeepAliveComment_AndUnsubscribesOnDisconnect()
    {
        await using var host = await ApiTestHost.StartAsync();
        var r = await host.Client.SendAsync(host.Request(HttpMethod.Get, "/api/v1/events", "tok-bob"), HttpCompletionOption.ResponseHeadersRead);
        var stream = await r.Content.ReadAsStreamAsync();
        using var reader = new StreamReader(stream);
        await ReadEventAsync(reader);
        await Wait.UntilAsync(() => host.Alarms.SubscriberCount == 1);
        var read = ReadEventAsync(reader);
        // The keep-alive delay is on the injected clock; advance until it fires.
        await Wait.UntilAsync(() => { host.Time.Advance(TimeSpan.FromSeconds(15)); return read.IsCompleted; });
        Assert.Equal(": keep-alive", await read);
        r.Dispose();
        await Wait.UntilAsync(() => host.Alarms.SubscriberCount == 0);
    }

    /// <summary>Issue 17 point 4: one account held 1000 alarm streams; now a few, and another account is not affected.</summary>
    [Fact]
    public async Task Events_OneStreamPastTheAccountsCap_Is429_AnotherAccountStillOpensOne_AClosedOneFreesItsPlace()
    {
        await using var host = await ApiTestHost.StartAsync();
        var open = new List<HttpResponseMessage>();
        for (var i = 0; i < AlarmEventsLimiter.DefaultPerAccount; i++)
        {
            var r = await host.Client.SendAsync(host.Request(HttpMethod.Get, "/api/v1/events", "tok-bob"), HttpCompletionOption.ResponseHeadersRead);
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            open.Add(r);
        }
        using (var refused = await host.Client.SendAsync(host.Request(HttpMethod.Get, "/api/v1/events", "tok-bob"), HttpCompletionOption.ResponseHeadersRead))
        {
            await ApiAuthAndDevicesTests.ProblemAsync(refused, 429);
            Assert.Equal("10", refused.Headers.RetryAfter?.Delta?.TotalSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        using var owner = await host.Client.SendAsync(host.Request(HttpMethod.Get, "/api/v1/events", "tok-owner"), HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, owner.StatusCode);

        open[0].Dispose();
        await Wait.UntilAsync(async () =>
        {
            using var again = await host.Client.SendAsync(host.Request(HttpMethod.Get, "/api/v1/events", "tok-bob"), HttpCompletionOption.ResponseHeadersRead);
            return again.StatusCode == HttpStatusCode.OK;
        }, "a place freed by the closed stream", 10_000);
        open.ForEach(r => r.Dispose());
    }

    [Fact]
    public void Format_KindWithNewline_CannotInjectFields()
    {
        var text = EventsEndpoint.Format(7, new AlarmEvent("d", 1, "motion\ndata: x", "start", DateTimeOffset.UnixEpoch), "bob@example.com");
        Assert.Equal(3, text.TrimEnd('\n').Split('\n').Length);
        Assert.StartsWith("id: 7\nevent: motion data: x\ndata: {", text);
    }
}
