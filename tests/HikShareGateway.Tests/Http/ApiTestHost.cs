using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using HikShareGateway.Core.Access;
using HikShareGateway.Core.Alarms;
using HikShareGateway.Core.Configuration;
using HikShareGateway.Core.Devices;
using HikShareGateway.Core.Diagnostics;
using HikShareGateway.Core.Ptz;
using HikShareGateway.Http;
using HikShareGateway.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace HikShareGateway.Tests.Http;

/// <summary>
/// The HTTP API on a real Kestrel bound to 127.0.0.1:0 (public) and a free loopback port (admin), with fakes
/// behind the Core interfaces other features own. Tokens: "tok-bob" → bob@example.com, "tok-eve" → eve@example.com,
/// "tok-owner" → owner@example.com.
/// </summary>
public sealed class ApiTestHost : IAsyncDisposable
{
    public const string Device = "cam-1";
    public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 11, 25, 10, 0, 0, TimeSpan.Zero));
    public FakePolicy Policy { get; } = new();
    public FakePtz Ptz { get; } = new();
    public RecordingAudit Audit { get; } = new();
    public FakeGrantsStatus Grants { get; } = new();
    public AlarmFeed Alarms { get; } = new();
    public StaticDeviceCatalog Catalog { get; }
    public ISessionRegistry Sessions { get; private set; } = null!;
    /// <summary>This host's meter (from its own IMeterFactory): what its /metrics exports.</summary>
    public GatewayMetrics Metrics => App.Services.GetRequiredService<GatewayMetrics>();
    public WebApplication App { get; private set; } = null!;
    public HttpClient Client { get; private set; } = null!;
    public Uri BaseAddress { get; private set; } = null!;
    public int AdminPort { get; private set; }
    public string StateDirectory { get; } = Directory.CreateTempSubdirectory("hikshare-http-").FullName;

    public ApiTestHost()
    {
        Catalog = new StaticDeviceCatalog(
        [
            new DeviceInfo
            {
                DeviceId = Device, Model = "DS-2DE4425IW", Manufacturer = "HIKVISION",
                Credentials = new DeviceCredentials("admin", "device-secret-pw"),
                Source = DeviceSource.Configuration,
                Channels =
                [
                    new ChannelInfo { Channel = 1, Name = "Front", MainUri = new Uri("rtsp://192.0.2.10/Streaming/Channels/101"), SubUri = new Uri("rtsp://192.0.2.10/Streaming/Channels/102"), Ptz = true },
                    new ChannelInfo { Channel = 2, Name = "Back", MainUri = new Uri("rtsp://192.0.2.10/Streaming/Channels/201"), Playback = true },
                ],
            },
            new DeviceInfo { DeviceId = "cam-2", Channels = [new ChannelInfo { Channel = 1, MainUri = new Uri("rtsp://192.0.2.11/x") }], Source = DeviceSource.Configuration },
        ]);
    }

    /// <param name="map">Endpoints a feature maps beside the API (as its <c>XxxFeature.Map</c> does in the host).</param>
    public static async Task<ApiTestHost> StartAsync(Action<IServiceCollection>? configure = null, PtzApiOptions? ptz = null, AdminOptions? admin = null, IReadOnlyList<DeviceOptions>? configured = null,
        Action<WebApplication>? map = null)
    {
        var host = new ApiTestHost();
        await host.StartCoreAsync(configure, ptz ?? new PtzApiOptions(), admin, configured, map);
        return host;
    }

    private async Task StartCoreAsync(Action<IServiceCollection>? configure, PtzApiOptions ptz, AdminOptions? admin, IReadOnlyList<DeviceOptions>? configured, Action<WebApplication>? map)
    {
        AdminPort = PortAllocator.GetFreeTcpPort();
        admin ??= new AdminOptions { Port = AdminPort };
        AdminPort = admin.Port;
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ApplicationName = "hikshare-gateway-tests" });
        builder.Logging.ClearProviders();
        var s = builder.Services;
        s.AddSingleton<TimeProvider>(Time);
        s.AddSingleton<IViewerAuthenticator>(new FakeAuthenticator());
        s.AddSingleton<IAccessPolicy>(Policy);
        s.AddSingleton<IPtzService>(Ptz);
        s.AddSingleton<IAuditSink>(Audit);
        s.AddSingleton<IGrantsStatus>(Grants);
        s.AddSingleton(Alarms);
        s.AddSingleton<IDeviceCatalog>(Catalog);
        s.AddSingleton(new GatewayOptions { Id = "gw-test", StateDirectory = StateDirectory });
        if (configured is not null)
        {
            s.AddSingleton(configured);
        }
        configure?.Invoke(s);
        s.AddHttpApi(ptz, admin, Path.Combine(StateDirectory, "admin.token"));
        builder.WebHost.UseKestrel(k =>
        {
            k.Listen(IPAddress.Loopback, 0);
            if (admin.Port > 0)
            {
                k.Listen(IPAddress.Loopback, admin.Port);
            }
        });
        App = builder.Build();
        App.MapHttpApi();
        // More endpoints beside the API (e.g. the web viewer), mapped as the host's features do.
        map?.Invoke(App);
        await App.StartAsync();
        Sessions = App.Services.GetRequiredService<ISessionRegistry>();
        var addresses = App.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
        BaseAddress = new Uri(addresses.Select(a => new Uri(a)).First(u => u.Port != admin.Port).GetLeftPart(UriPartial.Authority));
        Client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(20) };
    }

    public HttpRequestMessage Request(HttpMethod method, string path, string? token, string? json = null)
    {
        var m = new HttpRequestMessage(method, path);
        if (token is not null)
        {
            m.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
        if (json is not null)
        {
            m.Content = new StringContent(json, System.Text.Encoding.UTF8, "application/json");
        }
        return m;
    }

    public Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, string? token, string? json = null) =>
        Client.SendAsync(Request(method, path, token, json));

    public async ValueTask DisposeAsync()
    {
        Client?.Dispose();
        if (App is not null)
        {
            await App.StopAsync();
            await App.DisposeAsync();
        }
        try { Directory.Delete(StateDirectory, recursive: true); } catch (IOException) { }
    }
}

public sealed class FakeAuthenticator : IViewerAuthenticator
{
    public AuthResult Authenticate(in ViewerCredentials credentials, IPAddress? remote) => credentials.BearerToken switch
    {
        null => AuthResult.Missing,
        "tok-bob" => AuthResult.Success("bob@example.com"),
        "tok-eve" => AuthResult.Success("eve@example.com"),
        "tok-owner" => AuthResult.Success("owner@example.com"),
        _ => AuthResult.Fail("bad-signature"),
    };
}

/// <summary>Grants set by the test: (account, device, channel) → privileges; channel 0 = every channel.</summary>
public sealed class FakePolicy : IAccessPolicy
{
    private readonly ConcurrentDictionary<(string, string, int), Privilege> _grants = new();
    private readonly ConcurrentDictionary<string, bool> _owners = new();
    public long Version { get; set; } = 1;
    public event Action? Changed;

    public void Grant(string account, string deviceId, int channel, Privilege privileges) => _grants[(account, deviceId, channel)] = privileges;
    public void Own(string account, string deviceId) => _owners[account + "|" + deviceId] = true;
    public void RevokeAll(string account)
    {
        foreach (var k in _grants.Keys.Where(k => k.Item1 == account).ToList())
        {
            _grants.TryRemove(k, out _);
        }
        Changed?.Invoke();
    }

    public bool IsAllowed(string account, string deviceId, int channel, Privilege privilege) =>
        _owners.ContainsKey(account + "|" + deviceId)
        || (_grants.TryGetValue((account, deviceId, channel), out var p) && (p & privilege) == privilege)
        || (_grants.TryGetValue((account, deviceId, 0), out var all) && (all & privilege) == privilege);

    public IReadOnlyList<DeviceAccess> GetVisibleDevices(string account)
    {
        var list = new List<DeviceAccess>();
        foreach (var g in _grants.Where(g => g.Key.Item1 == account).GroupBy(g => g.Key.Item2))
        {
            list.Add(new DeviceAccess(g.Key, false, [.. g.Select(x => new ChannelAccess(x.Key.Item3, x.Value))]));
        }
        foreach (var o in _owners.Keys.Where(k => k.StartsWith(account + "|", StringComparison.Ordinal)))
        {
            list.Add(new DeviceAccess(o[(account.Length + 1)..], true, [new ChannelAccess(0, Privilege.All)]));
        }
        return list;
    }

    public IReadOnlyList<string> GetAlarmRecipients(string deviceId, int channel) => [];
}

public sealed record PtzCall(string Op, string DeviceId, int Channel, PtzMove? Move = null, string? Preset = null);

/// <summary>Records every command; <see cref="Failure"/> makes them throw; <see cref="Gate"/> holds them until released.</summary>
public sealed class FakePtz : IPtzService
{
    public ConcurrentQueue<PtzCall> Calls { get; } = new();
    public Exception? Failure { get; set; }
    public TaskCompletionSource? Gate { get; set; }
    /// <summary>Signalled on every Stop (for waiting on background stops).</summary>
    public SemaphoreSlim Stops { get; } = new(0);
    public SemaphoreSlim Entered { get; } = new(0);
    private int _inside;
    public int MaxConcurrent;

    private async Task RunAsync(PtzCall call, CancellationToken ct)
    {
        var n = Interlocked.Increment(ref _inside);
        InterlockedMax(ref MaxConcurrent, n);
        try
        {
            Calls.Enqueue(call);
            Entered.Release();
            if (Gate is { } g)
            {
                await g.Task.WaitAsync(ct);
            }
            if (Failure is { } f && call.Op != "stop")
            {
                throw f;
            }
        }
        finally
        {
            Interlocked.Decrement(ref _inside);
            if (call.Op == "stop")
            {
                Stops.Release();
            }
        }
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int current;
        while ((current = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, current) != current)
        {
        }
    }

    public Task MoveAsync(string deviceId, int channel, PtzMove move, CancellationToken ct) => RunAsync(new("move", deviceId, channel, move), ct);
    public Task StopAsync(string deviceId, int channel, CancellationToken ct) => RunAsync(new("stop", deviceId, channel), ct);
    public async Task<IReadOnlyList<PtzPreset>> GetPresetsAsync(string deviceId, int channel, CancellationToken ct)
    {
        await RunAsync(new("presets", deviceId, channel), ct);
        return [new PtzPreset("1", "Gate"), new PtzPreset("2", "Door")];
    }
    public Task GotoPresetAsync(string deviceId, int channel, string presetToken, CancellationToken ct) => RunAsync(new("goto", deviceId, channel, Preset: presetToken), ct);
}

public sealed class RecordingAudit : IAuditSink
{
    public ConcurrentQueue<AuditEvent> Events { get; } = new();
    public void Record(AuditEvent auditEvent) => Events.Enqueue(auditEvent);
}

public sealed class FakeGrantsStatus : IGrantsStatus
{
    public long Version { get; set; }
    public DateTimeOffset? AppliedAt { get; set; }
    public string Source { get; set; } = "none";
    public bool BrokerConnected { get; set; }
}
