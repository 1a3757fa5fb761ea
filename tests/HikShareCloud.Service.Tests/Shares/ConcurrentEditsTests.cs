using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using HikShareCloud.Service.Tests.Infrastructure;
using HikShareGateway.Access.Jose;
using HikShareGateway.Core.Access;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace HikShareCloud.Service.Tests.Shares;

/// <summary>
/// Two whole service instances (HTTP API and MQTT link each) on one PostgreSQL database and one mosquitto, two
/// gateways (their real GrantsStore), 50 share edits at once through both instances.
/// </summary>
[Trait("Category", "Integration")]
[Collection(PostgresCollection.Name)]
public sealed class ConcurrentEditsTests(PostgresServer postgres) : IAsyncLifetime
{
    private const string GwA = "gw-conc-a";
    private const string GwB = "gw-conc-b";
    private const string NvrA = "NVR-A";
    private const string NvrB = "NVR-B";
    private const string Password = "a long enough password";
    private static readonly string[] Recipients = ["r1@example.com", "r2@example.com", "r3@example.com"];
    private readonly string _dir = Directory.CreateTempSubdirectory("hikshare-conc-").FullName;
    private readonly RecordingSender _codes = new();
    private readonly List<WebApplication> _apps = [];
    private readonly List<HttpClient> _http = [];
    private Mosquitto _broker = null!;
    private Ed25519SigningKey _key = null!;
    private string _database = "";

    public async Task InitializeAsync()
    {
        _key = Ed25519SigningKey.Generate("cloud-conc-1");
        var keyFile = Path.Combine(_dir, "key.json");
        await File.WriteAllTextAsync(keyFile, _key.ToPrivateJson());
        _broker = await Mosquitto.StartAsync();
        var database = _database = await postgres.CreateDatabaseAsync();
        for (var i = 0; i < 2; i++)
        {
            var app = await SharingServer.BuildAsync(new ServiceOptions
            {
                StateDirectory = Path.Combine(_dir, $"state-{i}"), PostgresConnectionString = database, SigningKeyFiles = [keyFile],
                Broker = _broker.Url, Listen = "http://127.0.0.1:0", SmsWebhook = "http://127.0.0.1:9/sms",
            }, _codes);
            await app.StartAsync();
            _apps.Add(app);
            _http.Add(new HttpClient { BaseAddress = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()) });
        }
    }

    public async Task DisposeAsync()
    {
        foreach (var h in _http)
        {
            h.Dispose();
        }
        foreach (var app in _apps)
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
        await _broker.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private async Task<string> AccountAsync(HttpClient http, string address)
    {
        Assert.Equal(HttpStatusCode.Accepted, (await http.PostAsJsonAsync("/api/v1/accounts", new { address, password = Password })).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await http.PostAsJsonAsync("/api/v1/accounts/verify", new { address, code = _codes.LastCode[address] })).StatusCode);
        var session = await http.PostAsJsonAsync("/api/v1/sessions", new { address, password = Password });
        return (await session.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("token").GetString()!;
    }

    private static async Task<HttpResponseMessage> SendAsync(HttpClient http, HttpMethod method, string path, string token, object? body = null)
    {
        using var request = new HttpRequestMessage(method, path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        if (body is not null)
        {
            request.Content = JsonContent.Create(body);
        }
        return await http.SendAsync(request);
    }

    /// <summary>Edit number <paramref name="k"/>: its own channel and privileges, so the final grants tell which edit won.</summary>
    private static object[] EditDevices(int k) =>
    [
        new { deviceId = NvrA, channels = new[] { k % 4 + 1 }, privileges = k % 2 == 0 ? new[] { "liveView", "ptz" } : new[] { "liveView" } },
        new { deviceId = NvrB, channels = new[] { (k + 1) % 4 + 1 }, privileges = new[] { "liveView" } },
    ];

    [Fact]
    public async Task FiftyConcurrentEdits_TwoInstances_NoLostUpdate_VersionsStrictlyIncreasing_EveryGatewayEndsAtTheSameFinalGrants()
    {
        var trusted = new TrustedKeySet([_key.Public]);
        var owner = await AccountAsync(_http[0], "owner@example.com");
        await using var gwA = await FakeGateway.ConnectAsync(_broker.Port, GwA, trusted);
        await using var gwB = await FakeGateway.ConnectAsync(_broker.Port, GwB, trusted);
        foreach (var (gw, nvr) in new[] { (gwA, NvrA), (gwB, NvrB) })
        {
            await gw.PublishAsync("binding", Harness.BindingMessage("111-222"), retain: true);
            await gw.PublishAsync("devices", Harness.Inventory((nvr, 4)), retain: true);
            await Wait.UntilAsync(async () => (await SendAsync(_http[1], HttpMethod.Post, $"/api/v1/gateways/{gw.GatewayId}/bind", owner, new { code = "111-222" })).StatusCode == HttpStatusCode.NoContent,
                "the bind accepted once the gateway's binding message arrived");
        }
        await Wait.UntilAsync(async () => (await (await SendAsync(_http[0], HttpMethod.Get, "/api/v1/gateways", owner)).Content.ReadAsStringAsync()) is var s && s.Contains(NvrA) && s.Contains(NvrB),
            "both inventories listed");

        // Three shares, each over both gateways' devices, accepted.
        var shares = new List<string>();
        foreach (var (r, i) in Recipients.Select((r, i) => (r, i)))
        {
            var token = await AccountAsync(_http[i % 2], r);
            var created = await (await SendAsync(_http[0], HttpMethod.Post, "/api/v1/shares", owner, new { recipient = r, devices = EditDevices(0) })).Content.ReadFromJsonAsync<JsonElement>();
            var id = created.GetProperty("shareId").GetString()!;
            Assert.Equal(HttpStatusCode.OK, (await SendAsync(_http[(i + 1) % 2], HttpMethod.Post, $"/api/v1/shares/{id}/accept", token)).StatusCode);
            shares.Add(id);
        }
        var startVersion = new Dictionary<string, long>();
        foreach (var s in (await (await SendAsync(_http[0], HttpMethod.Get, "/api/v1/shares/outgoing", owner)).Content.ReadFromJsonAsync<JsonElement>()).EnumerateArray())
        {
            startVersion[s.GetProperty("shareId").GetString()!] = s.GetProperty("version").GetInt64();
        }

        // :: 50 edits at once, alternating instances; each reads the version, writes, and on 409 reads again and retries.
        var won = new System.Collections.Concurrent.ConcurrentBag<(string Share, long Version, int Edit)>();
        var conflicts = 0;
        await Task.WhenAll(Enumerable.Range(1, 50).Select(k => Task.Run(async () =>
        {
            var http = _http[k % 2];
            var shareId = shares[k % shares.Count];
            for (var attempt = 0; attempt < 200; attempt++)
            {
                var list = await (await SendAsync(http, HttpMethod.Get, "/api/v1/shares/outgoing", owner)).Content.ReadFromJsonAsync<JsonElement>();
                var version = list.EnumerateArray().Single(s => s.GetProperty("shareId").GetString() == shareId).GetProperty("version").GetInt64();
                using var r = await SendAsync(http, HttpMethod.Put, $"/api/v1/shares/{shareId}", owner, new { version, devices = EditDevices(k), remark = $"edit {k}" });
                if (r.StatusCode == HttpStatusCode.OK)
                {
                    won.Add((shareId, (await r.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("version").GetInt64(), k));
                    return;
                }
                Assert.True(r.StatusCode is HttpStatusCode.Conflict or HttpStatusCode.ServiceUnavailable, $"{r.StatusCode}: {await r.Content.ReadAsStringAsync()}");
                Interlocked.Increment(ref conflicts);
            }
            Assert.Fail($"edit {k} never got through");
        })));

        // No lost update: every edit went through exactly once, each share's versions are contiguous from where it started.
        Assert.Equal(50, won.Count);
        foreach (var id in shares)
        {
            var versions = won.Where(w => w.Share == id).Select(w => w.Version).Order().ToList();
            Assert.Equal(Enumerable.Range(1, versions.Count).Select(i => startVersion[id] + i), versions);
        }
        var final = (await (await SendAsync(_http[1], HttpMethod.Get, "/api/v1/shares/outgoing", owner)).Content.ReadFromJsonAsync<JsonElement>()).EnumerateArray()
            .ToDictionary(s => s.GetProperty("shareId").GetString()!);
        var lastEdit = shares.ToDictionary(id => id, id => won.Where(w => w.Share == id).MaxBy(w => w.Version).Edit);
        foreach (var id in shares)
        {
            Assert.Equal($"edit {lastEdit[id]}", final[id].GetProperty("remark").GetString());
        }

        // Grants versions per gateway strictly increasing, each delta based on the one before.
        var gateways = await (await SendAsync(_http[0], HttpMethod.Get, "/api/v1/gateways", owner)).Content.ReadFromJsonAsync<JsonElement>();
        var latest = gateways.EnumerateArray().ToDictionary(g => g.GetProperty("gatewayId").GetString()!, g => g.GetProperty("grantsVersion").GetInt64());
        var db = Service.Storage.ServiceDb.Postgres(_database);
        foreach (var gw in new[] { GwA, GwB })
        {
            var rows = await db.InTransactionAsync(tx => tx.QueryAsync("SELECT version, delta_jws FROM grants_versions WHERE gateway_id = @g ORDER BY version",
                r => (Version: r.GetInt64(0), Delta: r.IsDBNull(1) ? null : r.GetString(1)), ("@g", gw)));
            Assert.Equal(Enumerable.Range(1, rows.Count).Select(i => (long)i), rows.Select(r => r.Version));
            Assert.Equal(latest[gw], rows[^1].Version);
            foreach (var row in rows.Skip(1))
            {
                using var delta = JsonDocument.Parse(Base64UrlStrict.TryDecode(row.Delta!.Split('.')[1], out var payload) ? payload : throw new InvalidOperationException("bad delta"));
                Assert.Equal(row.Version - 1, delta.RootElement.GetProperty("baseVersion").GetInt64());
                Assert.Equal(row.Version, delta.RootElement.GetProperty("version").GetInt64());
            }
        }

        // Every gateway, the two online all along and one that connects afterwards (the retained snapshot), ends at the
        // latest version with the grants of each share's last edit.
        await using var lateA = await FakeGateway.ConnectAsync(_broker.Port, GwA, trusted);
        foreach (var (gw, nvr, ofs) in new[] { (gwA, NvrA, 0), (gwB, NvrB, 1), (lateA, NvrA, 0) })
        {
            await Wait.UntilAsync(() => gw.Store.Version == latest[gw.GatewayId], $"{gw.GatewayId} at version {latest[gw.GatewayId]} (holds {gw.Store.Version})", 20_000);
            foreach (var (id, i) in shares.Select((id, i) => (id, i)))
            {
                var k = lastEdit[id];
                var channel = (k + ofs) % 4 + 1;
                for (var c = 1; c <= 4; c++)
                {
                    Assert.Equal(c == channel, gw.Store.IsAllowed(Recipients[i], nvr, c, Privilege.LiveView));
                }
                Assert.Equal(nvr == NvrA && k % 2 == 0, gw.Store.IsAllowed(Recipients[i], nvr, channel, Privilege.Ptz));
            }
        }
        Console.WriteLine($"50 concurrent edits on two instances: {conflicts} version conflicts retried; final grants versions {string.Join(", ", latest.Select(l => $"{l.Key}={l.Value}"))}");
    }
}
