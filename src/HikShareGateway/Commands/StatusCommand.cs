using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text.Json;
using HikShareGateway.Composition;
using HikShareGateway.Core.Configuration;
using HikShareGateway.Http;
using HikShareGateway.Http.Admin;

namespace HikShareGateway;

/// <summary>
/// <c>hikshare-gateway status [--config FILE] [--json]</c>: asks the running daemon's loopback admin endpoint
/// (<c>Admin:Port</c>, token from <c>Admin:Token</c> or <c>Admin:TokenFile</c>) what it holds now.
/// </summary>
public sealed class StatusCommand : GatewayCommand
{
    public override string Name => "status";
    public override string Description => "Show what the running daemon holds (devices, grants, sessions), from its loopback admin endpoint.";

    public override IEnumerable<System.CommandLine.Option> CreateOptions() =>
    [
        Commands.Flag("json", "Print the daemon's answer as JSON."),
        Commands.Flag("demo", "Ask the daemon started with 'hikshare-gateway demo' (its built-in configuration)."),
    ];

    public override Task<int> InvokeAsync(CommandLine cli, TextWriter output, TextWriter error, CancellationToken cancellationToken) =>
        RunAsync(cli, output, error);

    /// <summary>The installed configuration, used when no <c>--config</c> is given and the file exists.</summary>
    public const string DefaultConfigPath = "/etc/hikshare-gateway/gateway.json";

    public static async Task<int> RunAsync(CommandLine cli, TextWriter output, TextWriter error, HttpMessageHandler? handler = null)
    {
        var configPath = cli.ConfigPath ?? (File.Exists(DefaultConfigPath) ? DefaultConfigPath : null);
        IConfigurationRoot configuration;
        try
        {
            configuration = GatewayConfiguration.Build(configPath, demo: cli.Options.ContainsKey("demo"), loadSecrets: false);
        }
        catch (GatewayConfigurationException e)
        {
            await error.WriteLineAsync($"hikshare-gateway status: configuration error: {e.Message}");
            return ExitCodes.Config;
        }
        var errors = new List<string>();
        var gateway = Features.Bind<GatewayOptions>(configuration, GatewayOptions.Section, []);
        var admin = Features.Bind<AdminOptions>(configuration, AdminOptions.Section, errors);
        if (errors.Count > 0)
        {
            foreach (var e in errors)
            {
                await error.WriteLineAsync("hikshare-gateway status: " + e);
            }
            return ExitCodes.Config;
        }
        if (admin.Port == 0)
        {
            await error.WriteLineAsync("hikshare-gateway status: the admin endpoint is disabled (Admin:Port is 0); set Admin:Port (default 8081) and restart the daemon.");
            return ExitCodes.Config;
        }

        string token;
        if (!string.IsNullOrEmpty(admin.Token))
        {
            token = admin.Token;
        }
        else
        {
            var file = admin.ResolveTokenFile(gateway);
            try
            {
                token = (await File.ReadAllTextAsync(file)).Trim();
            }
            catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
            {
                await error.WriteLineAsync($"hikshare-gateway status: the admin token {file} does not exist: is the daemon running (systemctl status hikshare-gateway)? Is --config the daemon's configuration?");
                return ExitCodes.Failure;
            }
            catch (UnauthorizedAccessException)
            {
                await error.WriteLineAsync($"hikshare-gateway status: cannot read the admin token {file}: permission denied (run as root: sudo hikshare-gateway status).");
                return ExitCodes.Failure;
            }
            catch (IOException e)
            {
                await error.WriteLineAsync($"hikshare-gateway status: cannot read the admin token {file}: {e.Message}");
                return ExitCodes.Failure;
            }
        }

        var host = admin.BindAddress.Contains(':') ? $"[{admin.BindAddress}]" : admin.BindAddress;
        var url = new Uri($"http://{host}:{admin.Port}{AdminEndpoints.StatusPath}");
        using var client = handler is null ? new HttpClient() : new HttpClient(handler, disposeHandler: false);
        client.Timeout = TimeSpan.FromSeconds(5);
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        HttpResponseMessage response;
        try
        {
            response = await client.SendAsync(request);
        }
        catch (HttpRequestException e) when (e.InnerException is SocketException { SocketErrorCode: SocketError.ConnectionRefused })
        {
            await error.WriteLineAsync($"hikshare-gateway status: the daemon is not running (nothing listens on {host}:{admin.Port}); start it with: systemctl start hikshare-gateway");
            return ExitCodes.Failure;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            await error.WriteLineAsync($"hikshare-gateway status: no answer from {host}:{admin.Port}: {e.Message}");
            return ExitCodes.Failure;
        }
        using (response)
        {
            var body = await response.Content.ReadAsStringAsync();
            if (response.StatusCode == System.Net.HttpStatusCode.Unauthorized)
            {
                await error.WriteLineAsync("hikshare-gateway status: the daemon refused the admin token (was it restarted with another configuration? Admin:Token / Admin:TokenFile must match the daemon's).");
                return ExitCodes.Failure;
            }
            if (!response.IsSuccessStatusCode)
            {
                await error.WriteLineAsync($"hikshare-gateway status: {host}:{admin.Port} answered {(int)response.StatusCode}: is another program using Admin:Port?");
                return ExitCodes.Failure;
            }
            if (cli.Options.ContainsKey("json"))
            {
                await output.WriteLineAsync(body);
                return ExitCodes.Ok;
            }
            StatusSnapshot? status;
            try
            {
                status = JsonSerializer.Deserialize(body, CommandJson.Default.StatusSnapshot);
            }
            catch (JsonException)
            {
                status = null;
            }
            if (status is null)
            {
                await error.WriteLineAsync($"hikshare-gateway status: {host}:{admin.Port} did not answer like a hikshare-gateway.");
                return ExitCodes.Failure;
            }
            await output.WriteAsync(Format(status));
            return ExitCodes.Ok;
        }
    }

    /// <summary>The readable summary.</summary>
    public static string Format(StatusSnapshot s)
    {
        var w = new StringWriter { NewLine = "\n" };
        var uptime = s.Now - s.StartedAt;
        w.WriteLine($"gateway {s.GatewayId}  software {s.Software}  up {Duration(uptime)} (since {s.StartedAt:yyyy-MM-dd HH:mm:ss}Z)");
        var g = s.Grants;
        w.WriteLine(g.Version == 0
            ? $"grants  none received yet: every viewer is denied  broker {(g.BrokerConnected ? "connected" : "NOT connected")}"
            : $"grants  version {g.Version} from {g.Source}, applied {(g.AgeSeconds is { } age ? Duration(TimeSpan.FromSeconds(age)) + " ago" : "at an unknown time")}  broker {(g.BrokerConnected ? "connected" : "NOT connected")}");
        w.WriteLine();
        w.WriteLine($"devices ({s.Devices.Count(d => d.Online)} of {s.Devices.Count} online)");
        if (s.Devices.Count == 0)
        {
            w.WriteLine("  none (configure Devices or enable Discovery)");
        }
        foreach (var d in s.Devices)
        {
            w.WriteLine($"  {d.DeviceId,-28} {(d.Online ? "online " : "OFFLINE")}  {d.Channels} channel(s)  {d.Model ?? "-"}  ({d.Source})");
        }
        w.WriteLine();
        w.WriteLine($"sessions ({s.Sessions.Count})");
        if (s.Sessions.Count == 0)
        {
            w.WriteLine("  none");
        }
        foreach (var byAccount in s.Sessions.GroupBy(x => x.Account))
        {
            w.WriteLine($"  {byAccount.Key}");
            foreach (var x in byAccount)
            {
                w.WriteLine($"    {x.Action,-12} {x.DeviceId}/{x.Channel}  from {x.Remote}  ({x.SessionId})");
            }
        }
        return w.ToString();
    }

    private static string Duration(TimeSpan t) =>
        t.TotalDays >= 1 ? $"{(int)t.TotalDays}d {t.Hours}h" : t.TotalHours >= 1 ? $"{(int)t.TotalHours}h {t.Minutes}m" : t.TotalMinutes >= 1 ? $"{(int)t.TotalMinutes}m {t.Seconds}s" : $"{Math.Max(0, (int)t.TotalSeconds)}s";
}
