using HikShareGateway.Core.Resilience;
using System.Collections.Concurrent;
using System.Net;
using HikShareGateway.Core.Configuration;
using HikShareGateway.Core.Devices;
using HikShareGateway.Onvif.Client;
using HikShareGateway.Onvif.Discovery;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace HikShareGateway.Onvif.Catalog;

/// <summary>
/// Keeps <see cref="OnvifDeviceCatalog"/> current: reads every ONVIF device (configured by <c>OnvifUrl</c> or found by
/// WS-Discovery), refreshes it periodically, backs off after failures, marks it offline after
/// <see cref="OnvifOptions.OfflineAfterFailures"/> failed refreshes or a Bye, and probes the LAN periodically.
/// </summary>
public sealed partial class OnvifDeviceManager : BackgroundService
{
    private readonly OnvifDeviceCatalog _catalog;
    private readonly OnvifClientPool _clients;
    private readonly OnvifOptions _options;
    private readonly DiscoveryOptions _discovery;
    private readonly IReadOnlyList<DeviceOptions> _configured;
    private readonly TimeProvider _time;
    private readonly ILogger<OnvifDeviceManager> _logger;
    private readonly ConcurrentDictionary<string, Target> _targets = new(StringComparer.OrdinalIgnoreCase);
    private CancellationToken _stopping;

    /// <summary>One ONVIF address the gateway reads.</summary>
    private sealed class Target(Uri deviceService, DeviceCredentials credentials, DeviceSource source, string label)
    {
        /// <summary>How logs name the device before its id is known (never its address: contract §6).</summary>
        public string Label { get; } = label;
        public Uri DeviceService { get; set; } = deviceService;
        public DeviceCredentials Credentials { get; } = credentials;
        public DeviceSource Source { get; } = source;
        public string? EndpointAddress { get; set; }
        public string? DeviceId { get; set; }
        /// <summary><c>Devices[].Name</c>: overrides the device's own name scope.</summary>
        public string? Name { get; init; }
        public DiscoveredEndpoint? Discovered { get; set; }
        public int Failures { get; set; }
        public SemaphoreSlim Wake { get; } = new(0);
    }

    public OnvifDeviceManager(OnvifDeviceCatalog catalog, OnvifClientPool clients, OnvifOptions options, DiscoveryOptions discovery,
        IReadOnlyList<DeviceOptions> configured, TimeProvider time, ILogger<OnvifDeviceManager> logger)
    {
        _catalog = catalog;
        _clients = clients;
        _options = options;
        _discovery = discovery;
        _configured = configured;
        _time = time;
        _logger = logger;
    }

    /// <summary>The discovery transport; null when discovery is off.</summary>
    public WsDiscoveryClient? Discovery { get; private set; }

    protected override Task ExecuteAsync(CancellationToken stoppingToken)
    {
        _stopping = stoppingToken;
        var tasks = new List<Task>();
        for (var i = 0; i < _configured.Count; i++)
        {
            var o = _configured[i];
            if (o.OnvifUrl is null || o.Channels.Count > 0 || !Uri.TryCreate(o.OnvifUrl, UriKind.Absolute, out var url))
            {
                continue;
            }
            var t = new Target(url, new DeviceCredentials(o.Username, o.Password), DeviceSource.Configuration, $"Devices:{i}")
            {
                Name = string.IsNullOrWhiteSpace(o.Name) ? null : o.Name.Trim(),
            };
            if (_targets.TryAdd(Key(url), t))
            {
                tasks.Add(RunTargetAsync(t, stoppingToken));
            }
        }
        if (_discovery.Enabled)
        {
            Discovery = new WsDiscoveryClient(_options.DiscoveryInterface is null ? null : IPAddress.Parse(_options.DiscoveryInterface), _options.DiscoveryPort, _logger, _time);
            tasks.Add(ListenAsync(Discovery, stoppingToken));
            tasks.Add(ProbeLoopAsync(Discovery, stoppingToken));
        }
        return Task.WhenAll(tasks);
    }

    private static string Key(Uri u) => u.GetLeftPart(UriPartial.Authority);

    private async Task ProbeLoopAsync(WsDiscoveryClient discovery, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                var found = await discovery.ProbeAsync(TimeSpan.FromSeconds(_options.DiscoveryWaitSeconds), ct).ConfigureAwait(false);
                Log.Probed(_logger, found.Count);
                foreach (var e in found)
                {
                    OnDiscovered(e);
                }
            }
            catch (Exception e) when (e is System.Net.Sockets.SocketException or DeviceException)
            {
                Log.ProbeFailed(_logger, e.Message);
            }
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(_discovery.ProbeIntervalSeconds), _time, ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task ListenAsync(WsDiscoveryClient discovery, CancellationToken ct)
    {
        try
        {
            await discovery.ListenAsync(m =>
            {
                foreach (var e in m.Endpoints)
                {
                    if (m.Kind == DiscoveryMessageKind.Hello)
                    {
                        OnDiscovered(e);
                    }
                    else
                    {
                        OnBye(e.Address);
                    }
                }
            }, ct).ConfigureAwait(false);
        }
        catch (System.Net.Sockets.SocketException e)
        {
            // Port 3702 taken or no multicast route: probes still work, announcements are missed.
            Log.ListenFailed(_logger, e.Message);
        }
    }

    /// <summary>A ProbeMatch or Hello: a new device gets a target; a known one (by endpoint or address) is refreshed now.</summary>
    internal void OnDiscovered(DiscoveredEndpoint endpoint)
    {
        if (!endpoint.IsNetworkVideoTransmitter && endpoint.Types.Count > 0)
        {
            return;
        }
        var xaddr = endpoint.PreferredXAddr;
        if (xaddr is null)
        {
            return;
        }
        foreach (var t in _targets.Values)
        {
            // A configured entry matches a discovered device by address (host), or an earlier sighting by endpoint UUID.
            if (string.Equals(t.EndpointAddress, endpoint.Address, StringComparison.OrdinalIgnoreCase)
                || endpoint.XAddrs.Any(x => string.Equals(x.Host, t.DeviceService.Host, StringComparison.OrdinalIgnoreCase)))
            {
                t.EndpointAddress ??= endpoint.Address;
                t.Discovered = endpoint;
                var moved = t.Source == DeviceSource.Discovery && !endpoint.XAddrs.Any(x => x.Host == t.DeviceService.Host && x.Port == t.DeviceService.Port);
                if (moved)
                {
                    // Same endpoint UUID at a new address (DHCP): follow it.
                    t.DeviceService = xaddr;
                }
                if (moved || (t.DeviceId is not null && _catalog.TryGetDevice(t.DeviceId, out var d) && !d.Online))
                {
                    t.Wake.Release();
                }
                return;
            }
        }
        var target = new Target(xaddr, DeviceCredentials.None, DeviceSource.Discovery, endpoint.Address) { EndpointAddress = endpoint.Address, Discovered = endpoint };
        if (_targets.TryAdd(Key(xaddr), target))
        {
            Log.Discovered(_logger, endpoint.Scopes.Hardware ?? "?", endpoint.Scopes.Name ?? "?");
            _ = RunTargetAsync(target, _stopping);
        }
    }

    /// <summary>True once a probe match or Hello from this endpoint was tied to a target (for tests and status).</summary>
    internal bool KnowsEndpoint(string endpointAddress) =>
        _targets.Values.Any(t => string.Equals(t.EndpointAddress, endpointAddress, StringComparison.OrdinalIgnoreCase));

    internal void OnBye(string endpointAddress)
    {
        foreach (var t in _targets.Values)
        {
            if (string.Equals(t.EndpointAddress, endpointAddress, StringComparison.OrdinalIgnoreCase) && t.DeviceId is not null)
            {
                Log.Bye(_logger, t.DeviceId);
                _catalog.SetOnline(t.DeviceId, false);
            }
        }
    }

    private async Task RunTargetAsync(Target t, CancellationToken ct)
    {
        var refresh = TimeSpan.FromSeconds(_options.RefreshIntervalSeconds);
        while (!ct.IsCancellationRequested)
        {
            TimeSpan wait;
            try
            {
                var client = _clients.Get(t.DeviceService, t.Credentials);
                var snapshot = await OnvifDeviceReader.ReadAsync(client, _time, ct).ConfigureAwait(false);
                if (t.Name is not null)
                {
                    snapshot = snapshot with { Device = snapshot.Device with { Name = t.Name } };
                }
                t.DeviceId = snapshot.Device.DeviceId;
                t.Failures = 0;
                _catalog.Upsert(snapshot, t.Credentials, t.Source);
                wait = refresh;
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (DeviceException e) when (e.Kind == DeviceErrorKind.Unauthorized && t.Source == DeviceSource.Discovery && string.IsNullOrEmpty(t.Credentials.Username))
            {
                // Found on the LAN, but nobody configured its login: list it, unusable, until configuration names it.
                t.DeviceId ??= "onvif-" + UuidOf(t.EndpointAddress ?? t.DeviceService.Host);
                _catalog.AddUnusable(new DeviceInfo
                {
                    DeviceId = t.DeviceId,
                    Model = t.Discovered?.Scopes.Hardware,
                    Channels = [],
                    Source = DeviceSource.Discovery,
                    Online = true,
                });
                Log.NeedsCredentials(_logger, t.DeviceId);
                wait = refresh;
            }
            catch (Exception e) when (e is DeviceException or System.Xml.XmlException or InvalidOperationException)
            {
                t.Failures++;
                Log.ReadFailed(_logger, t.DeviceId ?? t.Label, t.Failures, e.Message);
                if (t.Failures >= _options.OfflineAfterFailures && t.DeviceId is not null
                    && _catalog.TryGetDevice(t.DeviceId, out var current) && current.Online)
                {
                    Log.Offline(_logger, t.DeviceId, t.Failures);
                    _catalog.SetOnline(t.DeviceId, false);
                }
                // Exponential backoff from 2 s, capped at the refresh interval (Core's one backoff policy, no jitter).
                wait = new BackoffPolicy(TimeSpan.FromSeconds(2), refresh).Delay(Math.Min(t.Failures - 1, 10), 0);
            }
            using var timer = new CancellationTokenSource(wait, _time);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, timer.Token);
            try
            {
                await t.Wake.WaitAsync(linked.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                // The wait ran out: time for the next refresh.
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private static string UuidOf(string address)
    {
        var s = address.StartsWith("urn:uuid:", StringComparison.OrdinalIgnoreCase) ? address[9..] : address;
        return new string([.. s.Select(c => char.IsLetterOrDigit(c) || c is '-' or '.' ? c : '-')]);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 4401, Level = LogLevel.Information, Message = "WS-Discovery found {Count} ONVIF devices")]
        public static partial void Probed(ILogger logger, int count);

        [LoggerMessage(EventId = 4402, Level = LogLevel.Warning, Message = "WS-Discovery probe failed: {Reason}")]
        public static partial void ProbeFailed(ILogger logger, string reason);

        [LoggerMessage(EventId = 4403, Level = LogLevel.Warning, Message = "WS-Discovery cannot listen for Hello/Bye: {Reason}")]
        public static partial void ListenFailed(ILogger logger, string reason);

        [LoggerMessage(EventId = 4404, Level = LogLevel.Information, Message = "Discovered ONVIF device {Hardware} named {Name}")]
        public static partial void Discovered(ILogger logger, string hardware, string name);

        [LoggerMessage(EventId = 4405, Level = LogLevel.Information, Message = "Device {DeviceId} said Bye; marked offline")]
        public static partial void Bye(ILogger logger, string deviceId);

        [LoggerMessage(EventId = 4406, Level = LogLevel.Warning, Message = "Reading ONVIF device {Device} failed ({Failures} in a row): {Reason}")]
        public static partial void ReadFailed(ILogger logger, string device, int failures, string reason);

        [LoggerMessage(EventId = 4408, Level = LogLevel.Warning, Message = "Device {DeviceId} is offline after {Failures} failed refreshes")]
        public static partial void Offline(ILogger logger, string deviceId, int failures);

        [LoggerMessage(EventId = 4407, Level = LogLevel.Warning, Message = "Discovered device {DeviceId} needs credentials: add it to Devices[] with OnvifUrl, Username and Password")]
        public static partial void NeedsCredentials(ILogger logger, string deviceId);
    }
}
