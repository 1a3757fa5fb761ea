using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using HikShareCloud.Service;
using HikShareCloud.Service.Accounts;
using HikShareGateway.Access.Grants;
using HikShareGateway.Access.Jose;
using HikShareGateway.Bench.Access;
using HikShareGateway.Cloud;
using HikShareGateway.Core.Access;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using MQTTnet;
using MQTTnet.Protocol;

namespace HikShareGateway.Bench.Sharing;

/// <summary>
/// <c>sharing</c>: the sharing service (<c>hikshare-cloud serve</c>'s server, in this process, SQLite or PostgreSQL)
/// against mosquitto and the gateway's own MQTT client and <see cref="GrantsStore"/>:
/// 1. latency of one share change through the HTTP API (PUT) until the gateway has applied the new version, p50/p99;
/// 2. throughput: share edits per second committed (each a transaction writing and signing a new grants version),
///    from several concurrent API clients on distinct shares.
/// </summary>
public static class SharingBench
{
    private const string Gw = "gw-bench-share";
    private const string Device = "NVR-BENCH-1";
    private const string Password = "a long enough password";

    public static async Task<int> RunAsync(string[] args)
    {
        var changes = AccessCheckBench.ArgInt(args, "--changes", 100);
        var seconds = AccessCheckBench.ArgInt(args, "--seconds", 10);
        var clients = AccessCheckBench.ArgInt(args, "--clients", 8);
        var i = Array.IndexOf(args, "--postgres");
        var postgres = i >= 0 && i + 1 < args.Length ? args[i + 1] : null;

        var dir = Directory.CreateTempSubdirectory("hikshare-bench-sharing-").FullName;
        await using var mosquitto = await BenchMosquitto.StartAsync(noDelay: true);
        var key = Ed25519SigningKey.Generate("bench-share");
        var keyFile = Path.Combine(dir, "key.json");
        await File.WriteAllTextAsync(keyFile, key.ToPrivateJson());
        var codes = new Codes();
        await using var app = await SharingServer.BuildAsync(new ServiceOptions
        {
            StateDirectory = dir, PostgresConnectionString = postgres, SigningKeyFiles = [keyFile], Broker = $"mqtt://127.0.0.1:{mosquitto.Port}",
            Listen = "http://127.0.0.1:0", SmsWebhook = "http://127.0.0.1:9/sms",
        }, codes, logging: l => l.SetMinimumLevel(LogLevel.Warning));
        await app.StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()) };

        // :: The gateway: its GrantsStore behind its own MQTT client; binding and inventory published retained.
        using var store = new GrantsStore(new GrantsStoreSettings(Gw, null), new TrustedKeySet([key.Public]), TimeProvider.System, NullLogger<GrantsStore>.Instance);
        using var client = new MqttCloudClient(new CloudClientSettings(new BrokerAddress("127.0.0.1", mosquitto.Port, false), Gw), store, TimeProvider.System, NullLogger<MqttCloudClient>.Instance);
        await client.StartAsync(CancellationToken.None);
        using var announce = new MqttClientFactory().CreateMqttClient();
        await announce.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", mosquitto.Port).WithClientId("bench-gw-announce").Build());
        var salt = RandomNumberGenerator.GetBytes(16);
        var binding = $$"""{"salt":"{{Base64UrlStrict.Encode(salt)}}","hash":"{{Base64UrlStrict.Encode(SHA256.HashData([.. salt, .. "BENCH-CODE1"u8.ToArray()]))}}"}""";
        var inventory = $$"""{"generatedAt":"2026-12-01T00:00:00Z","devices":[{"deviceId":"{{Device}}","model":"bench","online":true,"channels":[{"channel":1},{"channel":2},{"channel":3},{"channel":4}]}]}""";
        foreach (var (sub, payload) in new[] { ("binding", binding), ("devices", inventory) })
        {
            await announce.PublishAsync(new MqttApplicationMessageBuilder().WithTopic($"hikshare/v1/gateways/{Gw}/{sub}").WithPayload(Encoding.UTF8.GetBytes(payload))
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).WithRetainFlag(true).Build());
        }

        var owner = await AccountAsync(http, codes, "owner@example.com");
        await Until(async () => (await Send(http, HttpMethod.Post, $"/api/v1/gateways/{Gw}/bind", owner, new { code = "BENCH-CODE1" })).IsSuccessStatusCode);
        await Until(async () => (await (await Send(http, HttpMethod.Get, "/api/v1/gateways", owner)).Content.ReadAsStringAsync()).Contains(Device));
        var shares = new List<(string Id, long Version)>();
        for (var s = 0; s < clients; s++)
        {
            var created = await (await Send(http, HttpMethod.Post, "/api/v1/shares", owner, new { recipient = $"r{s}@example.com", devices = Devices(s) })).Content.ReadFromJsonAsync<JsonElement>();
            shares.Add((created.GetProperty("shareId").GetString()!, created.GetProperty("version").GetInt64()));
        }
        await Until(() => Task.FromResult(store.Version > 0));

        // :: 1. Latency: one PUT, then the gateway's version one higher.
        var applied = new List<double>();
        var (id, version) = shares[0];
        for (var k = 0; k < changes + 5; k++) // the first five warm up
        {
            var held = store.Version;
            var t0 = Stopwatch.GetTimestamp();
            using var r = await Send(http, HttpMethod.Put, $"/api/v1/shares/{id}", owner, new { version, devices = Devices(k + 1) });
            r.EnsureSuccessStatusCode();
            version = (await r.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("version").GetInt64();
            while (store.Version <= held)
            {
                if (Stopwatch.GetElapsedTime(t0) > TimeSpan.FromSeconds(10))
                {
                    throw new TimeoutException("the gateway did not apply the change within 10 s");
                }
                await Task.Delay(1);
            }
            if (k >= 5)
            {
                applied.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
            }
        }
        shares[0] = (id, version);
        applied.Sort();

        // :: 2. Throughput: each client edits its own share as fast as the service commits.
        var committed = 0;
        var stop = Stopwatch.StartNew();
        var deadline = TimeSpan.FromSeconds(seconds);
        await Task.WhenAll(shares.Select((share, c) => Task.Run(async () =>
        {
            var (sid, v) = share;
            var k = 0;
            while (stop.Elapsed < deadline)
            {
                using var r = await Send(http, HttpMethod.Put, $"/api/v1/shares/{sid}", owner, new { version = v, devices = Devices(c + ++k) });
                r.EnsureSuccessStatusCode();
                v = (await r.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("version").GetInt64();
                Interlocked.Increment(ref committed);
            }
        })));
        var elapsed = stop.Elapsed.TotalSeconds;
        var finalVersion = (await (await Send(http, HttpMethod.Get, "/api/v1/gateways", owner)).Content.ReadFromJsonAsync<JsonElement>())[0].GetProperty("grantsVersion").GetInt64();
        var caughtUp = Stopwatch.StartNew();
        while (store.Version < finalVersion && caughtUp.Elapsed < TimeSpan.FromSeconds(30))
        {
            await Task.Delay(5);
        }

        Console.WriteLine($"sharing: the service ({(postgres is null ? "SQLite" : "PostgreSQL")}) over HTTP on loopback, mosquitto, the gateway's MqttCloudClient + GrantsStore");
        Console.WriteLine($"  share change (PUT) -> applied on the gateway, {changes} changes: p50 {P(applied, 0.5):F1} ms   p99 {P(applied, 0.99):F1} ms   max {applied[^1]:F1} ms");
        Console.WriteLine($"  throughput, {clients} concurrent clients for {elapsed:F1} s: {committed / elapsed:F0} share changes/s committed (each a signed grants version); " +
                          $"gateway caught up with version {finalVersion} in {caughtUp.Elapsed.TotalMilliseconds:F0} ms after the last commit: {store.Version >= finalVersion}");
        Console.WriteLine("  command: dotnet run -c Release --project bench/HikShareGateway.Bench -- sharing [--changes 100] [--seconds 10] [--clients 8] [--postgres CONNECTION-STRING]");
        await client.StopAsync(CancellationToken.None);
        await app.StopAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(dir, recursive: true);
        return 0;
    }

    private static object[] Devices(int k) => [new { deviceId = Device, channels = new[] { k % 4 + 1 }, privileges = k % 2 == 0 ? new[] { "liveView", "ptz" } : new[] { "liveView" } }];

    private static double P(List<double> sorted, double p) => sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p * sorted.Count) - 1)];

    private static async Task<HttpResponseMessage> Send(HttpClient http, HttpMethod method, string path, string token, object? body = null)
    {
        using var request = new HttpRequestMessage(method, path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        if (body is not null)
        {
            request.Content = JsonContent.Create(body);
        }
        return await http.SendAsync(request);
    }

    private static async Task<string> AccountAsync(HttpClient http, Codes codes, string address)
    {
        (await http.PostAsJsonAsync("/api/v1/accounts", new { address, password = Password })).EnsureSuccessStatusCode();
        (await http.PostAsJsonAsync("/api/v1/accounts/verify", new { address, code = codes.Last[address] })).EnsureSuccessStatusCode();
        var r = await http.PostAsJsonAsync("/api/v1/sessions", new { address, password = Password });
        r.EnsureSuccessStatusCode();
        return (await r.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("token").GetString()!;
    }

    private static async Task Until(Func<Task<bool>> condition)
    {
        var sw = Stopwatch.StartNew();
        while (!await condition())
        {
            if (sw.Elapsed > TimeSpan.FromSeconds(20))
            {
                throw new TimeoutException("setup did not complete within 20 s");
            }
            await Task.Delay(20);
        }
    }

    private sealed class Codes : IVerificationSender
    {
        public ConcurrentDictionary<string, string> Last { get; } = new();

        public Task SendAsync(string address, string code, CancellationToken ct)
        {
            Last[address] = code;
            return Task.CompletedTask;
        }
    }
}
