using System.Globalization;
using System.Net;
using HikShareGateway.Composition;
using HikShareGateway.Core.Configuration;
using HikShareGateway.Core.Devices;
using HikShareGateway.Onvif.Client;
using HikShareGateway.Onvif.Discovery;
using Microsoft.Extensions.Logging.Abstractions;

namespace HikShareGateway;

/// <summary>
/// <c>hikshare-gateway discover</c>: an installer's first command. Probes the LAN with WS-Discovery, queries every
/// device that answers (credentials from <c>--user/--password</c> or from the configuration's <c>Devices[]</c>
/// entry with the same address) and prints what the gateway would use. Passwords are never printed; credentials in
/// stream URIs are masked.
/// </summary>
public sealed class DiscoverCommand : GatewayCommand
{
    public override string Name => "discover";
    public override string Description => "List the ONVIF devices on the LAN (credentials masked).";

    public override IEnumerable<System.CommandLine.Option> CreateOptions() =>
    [
        Commands.Value("wait", "SECONDS", "Seconds to wait for answers (default 3, at most 60)."),
        Commands.Value("user", "USER", "ONVIF user for every device found (else the configuration's Devices[] entry with that address)."),
        Commands.Value("password", "PASSWORD", "Its password (give --user and --password together)."),
        Commands.Value("interface", "IP", "Address of the interface to probe on (default: the system's choice, or Onvif:DiscoveryInterface)."),
        Commands.Value("port", "PORT", "UDP port of the WS-Discovery probe (default 3702, or Onvif:DiscoveryPort)."),
        Commands.Value("url", "URL", "Also query this device service URL, e.g. http://192.0.2.10/onvif/device_service (devices on routed networks do not answer probes)."),
    ];

    public override Task<int> InvokeAsync(CommandLine cli, TextWriter output, TextWriter error, CancellationToken cancellationToken) =>
        RunAsync(cli, output, error, cancellationToken);

    public static async Task<int> RunAsync(CommandLine cli, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        // :: Options: configuration first, command line wins.
        OnvifOptions options;
        List<DeviceOptions> configured;
        try
        {
            var configuration = GatewayConfiguration.Build(cli.ConfigPath, demo: false);
            var errors = new List<string>();
            options = Features.Bind<OnvifOptions>(configuration, OnvifOptions.Section, errors);
            configured = configuration.GetSection("Devices").Get<List<DeviceOptions>>() ?? [];
            if (errors.Count > 0)
            {
                await error.WriteLineAsync("hikshare-gateway discover: configuration error(s):\n  - " + string.Join("\n  - ", errors));
                return ExitCodes.Config;
            }
        }
        catch (GatewayConfigurationException e)
        {
            await error.WriteLineAsync($"hikshare-gateway discover: configuration error: {e.Message}");
            return ExitCodes.Config;
        }
        double wait = 3;
        IPAddress? iface = options.DiscoveryInterface is null ? null : IPAddress.Parse(options.DiscoveryInterface);
        var port = options.DiscoveryPort;
        var urls = new List<Uri>();
        try
        {
            if (cli.Options.TryGetValue("wait", out var w) && (!double.TryParse(w, NumberStyles.Float, CultureInfo.InvariantCulture, out wait) || wait <= 0 || wait > 60))
            {
                throw new CommandLineException($"--wait \"{w}\" is not a number of seconds between 0 and 60.");
            }
            if (cli.Options.TryGetValue("interface", out var i) && !IPAddress.TryParse(i, out iface))
            {
                throw new CommandLineException($"--interface \"{i}\" is not an IP address of this machine.");
            }
            if (cli.Options.TryGetValue("port", out var p) && (!int.TryParse(p, out port) || port is < 1 or > 65535))
            {
                throw new CommandLineException($"--port \"{p}\" is not a UDP port.");
            }
            if (cli.Options.TryGetValue("url", out var u))
            {
                if (!Uri.TryCreate(u, UriKind.Absolute, out var url) || (url.Scheme != "http" && url.Scheme != "https"))
                {
                    throw new CommandLineException($"--url \"{u}\" is not an http(s) URL (e.g. http://192.0.2.10/onvif/device_service).");
                }
                urls.Add(url);
            }
            if (cli.Options.ContainsKey("user") != cli.Options.ContainsKey("password"))
            {
                throw new CommandLineException("give --user and --password together.");
            }
        }
        catch (CommandLineException e)
        {
            await error.WriteLineAsync($"hikshare-gateway discover: {e.Message}\nRun 'hikshare-gateway discover --help' for the usage.");
            return ExitCodes.Usage;
        }
        DeviceCredentials? given = cli.Options.TryGetValue("user", out var user) ? new DeviceCredentials(user, cli.Options["password"]) : null;

        // :: Probe.
        var discovery = new WsDiscoveryClient(iface, port);
        IReadOnlyList<DiscoveredEndpoint> found;
        try
        {
            found = await discovery.ProbeAsync(TimeSpan.FromSeconds(wait), cancellationToken);
        }
        catch (System.Net.Sockets.SocketException e)
        {
            await error.WriteLineAsync($"hikshare-gateway discover: cannot send the WS-Discovery probe ({e.Message}). Is there a network interface with multicast?");
            return ExitCodes.Failure;
        }
        foreach (var e in found)
        {
            if (e.PreferredXAddr is { } x && !urls.Any(u => SameDevice(u, x)))
            {
                urls.Add(x);
            }
        }
        if (urls.Count == 0)
        {
            await output.WriteLineAsync($"""
                No ONVIF device answered within {wait.ToString(CultureInfo.InvariantCulture)} s (WS-Discovery probe to 239.255.255.250:{port} on {(iface?.ToString() ?? "the default interface")}).
                Check that:
                  - the recorders/cameras are on this LAN segment (probes do not cross routers);
                  - ONVIF is enabled on them (Hikvision: Configuration > Network > Advanced Settings > Integration Protocol, and add an ONVIF user);
                  - UDP 3702 multicast is not filtered between this box and the devices (try --interface with this box's LAN address).
                Devices on other networks: query them directly with --url http://<address>/onvif/device_service, and add them to Devices[] with OnvifUrl.
                """);
            return ExitCodes.Failure;
        }

        // :: Query each device.
        using var pool = new OnvifClientPool(options, TimeProvider.System, NullLoggerFactory.Instance);
        var rows = new List<string[]>();
        var details = new List<List<string>>();
        foreach (var url in urls)
        {
            var creds = given ?? Configured(configured, url) ?? DeviceCredentials.None;
            var address = url.Authority;
            try
            {
                var snapshot = await OnvifDeviceReader.ReadAsync(pool.Get(url, creds), TimeProvider.System, cancellationToken);
                var d = snapshot.Device;
                rows.Add([address, d.Manufacturer ?? "?", d.Model ?? "?", d.DeviceId, d.Firmware ?? "?", d.Channels.Count.ToString(CultureInfo.InvariantCulture)]);
                details.Add([.. d.Channels.Select(c =>
                    $"  ch{c.Channel}: main {Mask(c.MainUri)}  sub {Mask(c.SubUri)}{(c.Ptz ? "  [ptz]" : "")}{(c.Backchannel ? "  [talk]" : "")}")]);
            }
            catch (DeviceException e)
            {
                var scopes = found.FirstOrDefault(f => f.XAddrs.Any(x => SameDevice(x, url)))?.Scopes;
                rows.Add([address, "?", scopes?.Hardware ?? "?", "?", "?", "?"]);
                var hint = e.Kind == DeviceErrorKind.Unauthorized
                    ? (creds.Username is null ? "needs credentials: give --user and --password (an ONVIF user of the device)" : "the device refused the credentials (check the ONVIF user and the device's clock)")
                    : e.Message;
                details.Add([$"  error: {hint}"]);
            }
        }
        string[] header = ["ADDRESS", "MANUFACTURER", "MODEL", "SERIAL", "FIRMWARE", "CHANNELS"];
        var widths = header.Select((h, i) => Math.Max(h.Length, rows.Max(r => r[i].Length))).ToArray();
        await output.WriteLineAsync(string.Join("  ", header.Select((h, i) => h.PadRight(widths[i]))).TrimEnd());
        for (var r = 0; r < rows.Count; r++)
        {
            await output.WriteLineAsync(string.Join("  ", rows[r].Select((v, i) => v.PadRight(widths[i]))).TrimEnd());
            foreach (var line in details[r])
            {
                await output.WriteLineAsync(line);
            }
        }
        await output.WriteLineAsync($"{rows.Count} device(s). Add the ones to share to Devices[] with OnvifUrl, Username and Password.");
        return ExitCodes.Ok;
    }

    private static bool SameDevice(Uri a, Uri b) => string.Equals(a.Host, b.Host, StringComparison.OrdinalIgnoreCase) && a.Port == b.Port;

    private static DeviceCredentials? Configured(List<DeviceOptions> configured, Uri url)
    {
        foreach (var o in configured)
        {
            if (o.OnvifUrl is not null && Uri.TryCreate(o.OnvifUrl, UriKind.Absolute, out var u) && string.Equals(u.Host, url.Host, StringComparison.OrdinalIgnoreCase) && o.Username is not null)
            {
                return new DeviceCredentials(o.Username, o.Password);
            }
        }
        return null;
    }

    /// <summary>Stream URIs with any user:password replaced by ***.</summary>
    public static string Mask(Uri? uri)
    {
        if (uri is null)
        {
            return "-";
        }
        if (string.IsNullOrEmpty(uri.UserInfo))
        {
            return uri.OriginalString;
        }
        return new UriBuilder(uri) { UserName = "***", Password = "" }.Uri.ToString();
    }
}
