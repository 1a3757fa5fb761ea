using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using HikShareCloud.Service;
using HikShareCloud.Service.Accounts;
using HikShareGateway.Access.Jose;
using HikShareGateway.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;

namespace HikShareGateway.Tests.Sharing;

/// <summary>Verification codes the service sends, kept per address instead of mailed (the service tests cover SMTP).</summary>
public sealed class CapturingSender : IVerificationSender
{
    public ConcurrentDictionary<string, string> LastCode { get; } = new(StringComparer.Ordinal);

    public Task SendAsync(string address, string code, CancellationToken ct)
    {
        LastCode[address] = code;
        return Task.CompletedTask;
    }
}

/// <summary>
/// Every real part of the sharing workflow on loopback: mosquitto, the sharing service (<c>hikshare-cloud serve</c>'s
/// <see cref="SharingServer"/>, SQLite, in this process), the gst-rtsp-server camera and the real
/// <c>hikshare-gateway</c> daemon process trusting the service's key, with one device <see cref="DeviceId"/>
/// (channel 1 from the camera). <see cref="BindAsync"/> runs <c>hikshare-gateway bind-code</c> and binds the
/// gateway to an owner through the service's API.
/// </summary>
public sealed partial class SharingStack : IAsyncDisposable
{
    public const string GatewayId = "gw-share-e2e";
    public const string DeviceId = "cam-share-1";
    public const string Password = "correct horse battery";

    private readonly string _dir;
    private readonly StringBuilder _gatewayOutput = new();
    private Process? _gateway;
    private string? _playbackTemplate;

    private SharingStack(string dir, MosquittoBroker broker, GstRtspCamera? camera)
    {
        _dir = dir;
        Broker = broker;
        Camera = camera;
        ConfigFile = Path.Combine(dir, "gateway.json");
    }

    public MosquittoBroker Broker { get; }
    public GstRtspCamera? Camera { get; }
    public WebApplication Service { get; private set; } = null!;
    public CapturingSender Codes { get; } = new();
    public Uri ServiceUrl { get; private set; } = null!;
    public string ConfigFile { get; }
    public int RtspPort { get; } = PortAllocator.GetFreeTcpPort();
    public int HttpPort { get; } = PortAllocator.GetFreeTcpPort();
    public string StateDirectory => Path.Combine(_dir, "gateway-state");

    public string GatewayOutput
    {
        get { lock (_gatewayOutput) { return _gatewayOutput.ToString(); } }
    }

    /// <param name="camera">Start the gst camera (needed to watch; binding alone does not need it).</param>
    /// <param name="configure">Changes to the service's options (TLS, gateway URLs, …).</param>
    /// <param name="playbackTemplate">The channel's playback URL template (a recorder), or none.</param>
    public static async Task<SharingStack> StartAsync(bool camera = true, Func<SharingStack, ServiceOptions, ServiceOptions>? configure = null, string? playbackTemplate = null)
    {
        var dir = Path.Combine(Path.GetTempPath(), "hikshare-sharing-e2e-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        var broker = await MosquittoBroker.StartAsync();
        var cam = camera ? await GstRtspCamera.StartAsync(new GstCameraOptions()) : null;
        var stack = new SharingStack(dir, broker, cam) { _playbackTemplate = playbackTemplate };
        try
        {
            await stack.StartServiceAsync(configure);
            await stack.StartGatewayAsync();
            return stack;
        }
        catch
        {
            await stack.DisposeAsync();
            throw;
        }
    }

    private async Task StartServiceAsync(Func<SharingStack, ServiceOptions, ServiceOptions>? configure)
    {
        var key = Ed25519SigningKey.Generate("svc-e2e-1");
        var keyFile = Path.Combine(_dir, "svc-key.json");
        await File.WriteAllTextAsync(keyFile, key.ToPrivateJson());
        var port = PortAllocator.GetFreeTcpPort();
        var options = new ServiceOptions
        {
            StateDirectory = Path.Combine(_dir, "service-state"),
            SigningKeyFiles = [keyFile],
            Broker = Broker.Url,
            Listen = $"http://127.0.0.1:{port}",
            SmsWebhook = "http://127.0.0.1:9/sms",
        };
        options = configure?.Invoke(this, options) ?? options;
        Service = await SharingServer.BuildAsync(options, Codes);
        await Service.StartAsync();
        ServiceUrl = new Uri(options.Listen.TrimEnd('/') + "/");
        TrustedKeyJson = key.Public.ToJson();
    }

    public string TrustedKeyJson { get; private set; } = "";

    private async Task StartGatewayAsync()
    {
        var main = Camera is null ? "rtsp://127.0.0.1:9/none" : Camera.Url(GstRtspCamera.MainPath).ToString();
        var sub = Camera is null ? "rtsp://127.0.0.1:9/none" : Camera.Url(GstRtspCamera.SubPath).ToString();
        // The channel says it has PTZ (the camera has none: commands get the device's 409), so that viewers show the pad.
        var playback = _playbackTemplate is null ? "" : $", \"Playback\": \"{_playbackTemplate}\"";
        await File.WriteAllTextAsync(ConfigFile, $$"""
            { "Gateway": { "Id": "{{GatewayId}}", "StateDirectory": "{{StateDirectory}}" },
              "Http": { "Port": {{HttpPort}}, "BindAddress": "127.0.0.1" },
              "Admin": { "Port": {{PortAllocator.GetFreeTcpPort()}} },
              "Rtsp": { "Port": {{RtspPort}}, "BindAddress": "127.0.0.1" },
              "Discovery": { "Enabled": false },
              "Cloud": { "Broker": "{{Broker.Url}}", "TrustedKeys": [ {{TrustedKeyJson}} ] },
              "WebRtc": { "Enabled": true, "UdpPort": 0, "IncludeLoopback": true },
              "Devices": [ { "DeviceId": "{{DeviceId}}", "Username": "admin", "Password": "unused",
                             "Channels": [ { "Channel": 1, "Name": "Shop door", "Main": "{{main}}", "Sub": "{{sub}}", "Ptz": true{{playback}} } ] } ] }
            """);
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "hikshare-gateway.dll"));
        psi.ArgumentList.Add("--config");
        psi.ArgumentList.Add(ConfigFile);
        _gateway = Process.Start(psi)!;
        _gateway.OutputDataReceived += (_, e) => { lock (_gatewayOutput) { _gatewayOutput.AppendLine(e.Data); } };
        _gateway.ErrorDataReceived += (_, e) => { lock (_gatewayOutput) { _gatewayOutput.AppendLine(e.Data); } };
        _gateway.BeginOutputReadLine();
        _gateway.BeginErrorReadLine();
        await Wait.UntilAsync(() => _gateway.HasExited || (GatewayOutput.Contains("RTSP server listening") && GatewayOutput.Contains("Connected to the cloud broker")),
            "the gateway daemon listening and connected to the broker", 60_000);
        Assert.False(_gateway.HasExited, "the gateway exited; output:\n" + GatewayOutput);
    }

    /// <summary>The grants version the gateway logged last (<c>Applied grants …: version N</c>), 0 before any.</summary>
    public long AppliedVersion
    {
        get
        {
            var matches = AppliedRegex().Matches(GatewayOutput);
            return matches.Count == 0 ? 0 : long.Parse(matches[^1].Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        }
    }

    public Task WaitAppliedAsync(long version, int timeoutMs = 15_000)
        => Wait.UntilAsync(() => AppliedVersion >= version, $"the gateway applying grants version {version} (output:\n{GatewayOutput})", timeoutMs);

    /// <summary>Runs <c>hikshare-gateway bind-code --config …</c> (a process of its own) and returns the printed code.</summary>
    public async Task<string> PrintBindingCodeAsync()
    {
        var run = await ToolRunner.RunAsync("dotnet", [Path.Combine(AppContext.BaseDirectory, "hikshare-gateway.dll"), "bind-code", "--config", ConfigFile], TimeSpan.FromSeconds(60));
        Assert.True(run.ExitCode == 0, $"bind-code exited {run.ExitCode}:\n{run.Stdout}\n{run.Stderr}");
        var m = CodeRegex().Match(run.Stdout);
        Assert.True(m.Success, "no binding code printed:\n" + run.Stdout);
        return m.Groups[1].Value;
    }

    /// <summary>A client of the service's API.</summary>
    public HttpClient Client(string? bearer = null)
    {
        var c = new HttpClient { BaseAddress = ServiceUrl, Timeout = TimeSpan.FromSeconds(30) };
        if (bearer is not null)
        {
            c.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", bearer);
        }
        return c;
    }

    /// <summary>Signs up, verifies with the captured code, signs in: an API token.</summary>
    public async Task<string> AccountAsync(string address)
    {
        using var c = Client();
        (await c.PostAsJsonAsync("api/v1/accounts", new { address, password = Password })).EnsureSuccessStatusCode();
        (await c.PostAsJsonAsync("api/v1/accounts/verify", new { address, code = Codes.LastCode[address] })).EnsureSuccessStatusCode();
        return await SignInAsync(address);
    }

    public async Task<string> SignInAsync(string address)
    {
        using var c = Client();
        var r = await c.PostAsJsonAsync("api/v1/sessions", new { address, password = Password });
        r.EnsureSuccessStatusCode();
        using var doc = JsonDocument.Parse(await r.Content.ReadAsStringAsync());
        return doc.RootElement.GetProperty("token").GetString()!;
    }

    /// <summary>Waits for the gateway to be known to the service (its retained binding message), then binds it with the code.</summary>
    public async Task<HttpResponseMessage> BindAsync(string ownerToken, string code)
    {
        using var c = Client(ownerToken);
        HttpResponseMessage? last = null;
        await Wait.UntilAsync(async () =>
        {
            last?.Dispose();
            last = await c.PostAsJsonAsync($"api/v1/gateways/{GatewayId}/bind", new { code });
            // unknown-gateway / no-binding-code: the retained message has not reached the service yet.
            var body = await last.Content.ReadAsStringAsync();
            return !body.Contains("unknown-gateway") && !body.Contains("no-binding-code");
        }, "the service receiving the gateway's binding message", 15_000);
        return last!;
    }

    public async ValueTask DisposeAsync()
    {
        if (_gateway is { HasExited: false })
        {
            _gateway.Kill(entireProcessTree: true);
            await _gateway.WaitForExitAsync();
        }
        _gateway?.Dispose();
        if (Service is not null)
        {
            await Service.StopAsync();
            await Service.DisposeAsync();
        }
        if (Camera is not null)
        {
            await Camera.DisposeAsync();
        }
        await Broker.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    [GeneratedRegex(@"Applied grants \w+: version (\d+)")]
    private static partial Regex AppliedRegex();

    [GeneratedRegex(@"Binding code for gateway \S+: ([A-Z0-9]{5}-[A-Z0-9]{5})")]
    private static partial Regex CodeRegex();
}
