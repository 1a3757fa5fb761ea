using System.Net;
using System.Text.Json;
using HikShareGateway.Core.Access;
using HikShareGateway.Http;
using Microsoft.Extensions.DependencyInjection;

namespace HikShareGateway.Tests.Http;

/// <summary>
/// What the web viewer needs from the devices API: the share's details per device (source, remark, expiry, the
/// caller's privileges, channel names, online), an ETag for polling, and the change stream that makes a device whose
/// share is deleted disappear without a reload.
/// </summary>
[Trait("Category", "Unit")]
public sealed class DeviceViewerApiTests
{
    private static readonly DateTimeOffset Expiry = new(2026, 12, 24, 18, 0, 0, TimeSpan.Zero);

    /// <summary>Grants as the Access store gives them (owner, shares), changed by the test.</summary>
    private sealed class SharesPolicy : IAccessPolicy
    {
        private volatile Dictionary<string, DeviceAccess[]> _visible = [];
        public long Version { get; private set; } = 1;
        public event Action? Changed;

        public void Set(string account, params DeviceAccess[] devices)
        {
            _visible = new Dictionary<string, DeviceAccess[]>(_visible) { [account] = devices };
            Version++;
            Changed?.Invoke();
        }

        public bool IsAllowed(string account, string deviceId, int channel, Privilege privilege) => false;
        /// <summary>How often a caller's list was read: the change stream reads it once per rebuild.</summary>
        public int Reads(string account) => _reads.TryGetValue(account, out var n) ? n : 0;
        private readonly System.Collections.Concurrent.ConcurrentDictionary<string, int> _reads = new();

        public IReadOnlyList<DeviceAccess> GetVisibleDevices(string account)
        {
            _reads.AddOrUpdate(account, 1, (_, n) => n + 1);
            return _visible.TryGetValue(account, out var d) ? d : [];
        }
        public IReadOnlyList<string> GetAlarmRecipients(string deviceId, int channel) => [];
    }

    private static DeviceAccess SharedWithBob => new(ApiTestHost.Device, false, [new ChannelAccess(1, Privilege.LiveView | Privilege.Ptz), new ChannelAccess(2, Privilege.Playback)])
    {
        Owner = "owner@example.com",
        Shares = [new ShareGrant("sh-1", "owner@example.com", "front shop", Expiry)],
    };

    private static async Task<(ApiTestHost Host, SharesPolicy Policy)> StartAsync()
    {
        var policy = new SharesPolicy();
        policy.Set("bob@example.com", SharedWithBob);
        policy.Set("owner@example.com", new DeviceAccess(ApiTestHost.Device, true, [new ChannelAccess(0, Privilege.All)]) { Owner = "owner@example.com" });
        var host = await ApiTestHost.StartAsync(s => s.AddSingleton<IAccessPolicy>(policy));
        return (host, policy);
    }

    [Fact]
    public async Task Devices_OwnersNamesFromTheGrants_WinOverTheGatewaysChannelNames_MissingOnesKeepTheGatewaysOwn()
    {
        var (host, policy) = await StartAsync();
        await using var _h = host;
        var first = JsonDocument.Parse(await (await host.SendAsync(HttpMethod.Get, "/api/v1/devices", "tok-bob")).Content.ReadAsStringAsync()).RootElement.GetProperty("devices")[0];
        Assert.Equal(JsonValueKind.Null, first.GetProperty("name").ValueKind); // neither the grants nor the catalog name it

        policy.Set("bob@example.com", SharedWithBob with { Name = "Front shop", ChannelNames = new Dictionary<int, string> { [1] = "Door" } });
        var d = JsonDocument.Parse(await (await host.SendAsync(HttpMethod.Get, "/api/v1/devices", "tok-bob")).Content.ReadAsStringAsync()).RootElement.GetProperty("devices")[0];
        Assert.Equal("Front shop", d.GetProperty("name").GetString());
        Assert.Equal(["Door", "Back"], d.GetProperty("channels").EnumerateArray().Select(c => c.GetProperty("name").GetString()));
    }

    [Fact]
    public async Task Devices_SharedDevice_CarriesSourceRemarkExpiryPrivilegesSharesAndChannelNames_OwnerIsItsOwnSource()
    {
        var (host, _) = await StartAsync();
        await using var _h = host;
        var bob = JsonDocument.Parse(await (await host.SendAsync(HttpMethod.Get, "/api/v1/devices", "tok-bob")).Content.ReadAsStringAsync()).RootElement;
        var d = bob.GetProperty("devices")[0];
        Assert.False(d.GetProperty("owner").GetBoolean());
        Assert.Equal("owner@example.com", d.GetProperty("source").GetString());
        Assert.Equal("front shop", d.GetProperty("remark").GetString());
        Assert.Equal(Expiry, d.GetProperty("expiresAt").GetDateTimeOffset());
        Assert.Equal(["liveView", "playback", "ptz"], d.GetProperty("privileges").EnumerateArray().Select(p => p.GetString()));
        Assert.True(d.GetProperty("online").GetBoolean());
        var share = d.GetProperty("shares")[0];
        Assert.Equal(("sh-1", "owner@example.com", "front shop"), (share.GetProperty("shareId").GetString(), share.GetProperty("owner").GetString(), share.GetProperty("remark").GetString()));
        var channels = d.GetProperty("channels").EnumerateArray().ToList();
        Assert.Equal(["Front", "Back"], channels.Select(c => c.GetProperty("name").GetString()));
        Assert.Equal(["liveView", "ptz"], channels[0].GetProperty("privileges").EnumerateArray().Select(p => p.GetString()));
        Assert.True(bob.GetProperty("version").GetInt64() > 0);

        var owner = JsonDocument.Parse(await (await host.SendAsync(HttpMethod.Get, "/api/v1/devices", "tok-owner")).Content.ReadAsStringAsync()).RootElement.GetProperty("devices")[0];
        Assert.True(owner.GetProperty("owner").GetBoolean());
        Assert.Equal("owner@example.com", owner.GetProperty("source").GetString());
        Assert.Equal(JsonValueKind.Null, owner.GetProperty("expiresAt").ValueKind);
        Assert.Empty(owner.GetProperty("shares").EnumerateArray());
    }

    [Fact]
    public async Task Devices_IfNoneMatchWithTheETag_304_UntilTheShareIsDeleted_Then200WithoutTheDevice()
    {
        var (host, policy) = await StartAsync();
        await using var _h = host;
        var first = await host.SendAsync(HttpMethod.Get, "/api/v1/devices", "tok-bob");
        var etag = first.Headers.ETag!;
        Assert.False(etag.IsWeak);

        var request = host.Request(HttpMethod.Get, "/api/v1/devices", "tok-bob");
        request.Headers.IfNoneMatch.Add(etag);
        Assert.Equal(HttpStatusCode.NotModified, (await host.Client.SendAsync(request)).StatusCode);

        policy.Set("bob@example.com");
        request = host.Request(HttpMethod.Get, "/api/v1/devices", "tok-bob");
        request.Headers.IfNoneMatch.Add(etag);
        var after = await host.Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, after.StatusCode);
        Assert.NotEqual(etag, after.Headers.ETag);
        Assert.Empty(JsonDocument.Parse(await after.Content.ReadAsStringAsync()).RootElement.GetProperty("devices").EnumerateArray());
    }

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
                if (lines.Exists(l => l.StartsWith("data: ", StringComparison.Ordinal)))
                {
                    return string.Join("\n", lines);
                }
                lines.Clear();
                continue;
            }
            lines.Add(line);
        }
    }

    [Fact]
    public async Task DeviceEvents_FirstEventIsTheList_AShareDeletedSendsTheListWithoutTheDevice()
    {
        var (host, policy) = await StartAsync();
        await using var _h = host;
        var r = await host.Client.SendAsync(host.Request(HttpMethod.Get, "/api/v1/devices/events", "tok-bob"), HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.Equal("text/event-stream", r.Content.Headers.ContentType?.MediaType);
        using var reader = new StreamReader(await r.Content.ReadAsStreamAsync());
        var first = (await ReadEventAsync(reader)).Split('\n');
        Assert.Equal(["id: 1", "event: devices"], first[..2]);
        var list = JsonDocument.Parse(first[2]["data: ".Length..]).RootElement;
        Assert.Equal(ApiTestHost.Device, list.GetProperty("devices")[0].GetProperty("deviceId").GetString());

        // Another account's change is not an update for bob (although it bumps the grants version in the list); his
        // own is. The stream has rebuilt bob's list after eve's change before bob's comes.
        var reads = policy.Reads("bob@example.com");
        policy.Set("eve@example.com");
        await Wait.UntilAsync(() => policy.Reads("bob@example.com") > reads, "the stream rebuilt bob's list after eve's change");
        policy.Set("bob@example.com");
        var second = (await ReadEventAsync(reader)).Split('\n');
        Assert.Equal(["id: 2", "event: devices"], second[..2]);
        Assert.Empty(JsonDocument.Parse(second[2]["data: ".Length..]).RootElement.GetProperty("devices").EnumerateArray());
    }

    [Fact]
    public async Task DeviceEvents_AFifthStreamOfOneAccount_Is429_AnotherAccountStillOpensOne_AClosedOneFreesItsPlace()
    {
        var (host, _) = await StartAsync();
        await using var _h = host;
        var open = new List<HttpResponseMessage>();
        for (var i = 0; i < DeviceEventsLimiter.DefaultPerAccount; i++)
        {
            var r = await host.Client.SendAsync(host.Request(HttpMethod.Get, "/api/v1/devices/events", "tok-bob"), HttpCompletionOption.ResponseHeadersRead);
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            open.Add(r);
        }
        var refused = await host.Client.SendAsync(host.Request(HttpMethod.Get, "/api/v1/devices/events", "tok-bob"), HttpCompletionOption.ResponseHeadersRead);
        await ApiAuthAndDevicesTests.ProblemAsync(refused, 429);
        using var owner = await host.Client.SendAsync(host.Request(HttpMethod.Get, "/api/v1/devices/events", "tok-owner"), HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, owner.StatusCode);

        open[0].Dispose();
        await Wait.UntilAsync(async () =>
        {
            using var again = await host.Client.SendAsync(host.Request(HttpMethod.Get, "/api/v1/devices/events", "tok-bob"), HttpCompletionOption.ResponseHeadersRead);
            return again.StatusCode == HttpStatusCode.OK;
        }, "a place freed by the closed stream", 10_000);
        open.ForEach(r => r.Dispose());
    }
}
