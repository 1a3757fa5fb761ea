using HikShareGateway.Core.Resilience;
using HikShareGateway.Core.Alarms;
using HikShareGateway.Core.Devices;
using HikShareGateway.Onvif.Catalog;
using HikShareGateway.Onvif.Client;
using HikShareGateway.Onvif.Parsers;
using HikShareGateway.Onvif.Soap;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace HikShareGateway.Onvif.Events;

/// <summary>Timing of PullPoint subscriptions (ONVIF Core §9.3). Defaults as the task and real devices want.</summary>
public sealed record PullPointTiming
{
    public TimeSpan InitialTermination { get; init; } = TimeSpan.FromMinutes(2);
    public TimeSpan PullTimeout { get; init; } = TimeSpan.FromMinutes(1);
    public int MessageLimit { get; init; } = 32;
    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromMinutes(1);
}

/// <summary>
/// One PullPoint subscription per online ONVIF device, turning device events into routed alarms.
/// </summary>
/// <remarks>
/// Per device:
/// 1. CreatePullPointSubscription (InitialTerminationTime PT2M) on the Events service.
/// 2. PullMessages (Timeout PT1M, MessageLimit) on the returned address — rewritten, since it names the device's own
///    IP — with reference parameters echoed as headers and an HTTP timeout above the pull timeout.
/// 3. Renew before the termination time comes closer than one pull; a device that faults Renew as not supported is
///    subscribed anew (Unsubscribe, Create) instead, without backoff. Lifetimes come from the device's own clock
///    (TerminationTime − CurrentTime of each answer), never from comparing its clock with ours.
/// 4. On any error: resubscribe with exponential backoff. At shutdown or when the device goes offline: Unsubscribe.
/// </remarks>
public sealed partial class OnvifEventService : BackgroundService
{
    private readonly OnvifDeviceCatalog _catalog;
    private readonly OnvifClientPool _clients;
    private readonly AlarmRouter _router;
    private readonly TimeProvider _time;
    private readonly ILogger<OnvifEventService> _logger;
    private readonly PullPointTiming _timing;
    private readonly AlarmDebouncer _debouncer;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, (CancellationTokenSource Stop, Task Loop)> _running = new(StringComparer.Ordinal);
    private CancellationToken _stopping;

    public OnvifEventService(OnvifDeviceCatalog catalog, OnvifClientPool clients, AlarmRouter router, TimeProvider time,
        ILogger<OnvifEventService> logger, PullPointTiming? timing = null)
    {
        _catalog = catalog;
        _clients = clients;
        _router = router;
        _time = time;
        _logger = logger;
        _timing = timing ?? new PullPointTiming();
        _debouncer = new AlarmDebouncer(TimeSpan.FromSeconds(clients.Options.AlarmDebounceSeconds));
    }

    public int ActiveSubscriptions { get { lock (_gate) { return _running.Count; } } }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        _stopping = stoppingToken;
        _catalog.Changed += Reconcile;
        Reconcile();
        try
        {
            await Task.Delay(Timeout.Infinite, stoppingToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            _catalog.Changed -= Reconcile;
            List<Task> loops;
            lock (_gate)
            {
                foreach (var r in _running.Values)
                {
                    r.Stop.Cancel();
                }
                loops = [.. _running.Values.Select(r => r.Loop)];
            }
            await Task.WhenAll(loops).ConfigureAwait(false);
        }
    }

    /// <summary>Starts loops for online ONVIF devices with an Events service; stops the others.</summary>
    private void Reconcile()
    {
        if (_stopping.IsCancellationRequested)
        {
            return;
        }
        var wanted = _catalog.Devices.Where(d => d.Online && d.Onvif?.Events is not null && d.Channels.Count > 0).ToDictionary(d => d.DeviceId, StringComparer.Ordinal);
        lock (_gate)
        {
            foreach (var id in _running.Keys.Where(k => !wanted.ContainsKey(k)).ToList())
            {
                _running[id].Stop.Cancel();
                _running.Remove(id);
            }
            foreach (var id in wanted.Keys.Where(k => !_running.ContainsKey(k)))
            {
                var stop = CancellationTokenSource.CreateLinkedTokenSource(_stopping);
                _running[id] = (stop, Task.Run(() => RunDeviceAsync(id, stop.Token)));
            }
        }
    }

    private async Task RunDeviceAsync(string deviceId, CancellationToken ct)
    {
        var failures = 0;
        // Learnt once per device: a device that faults Renew with ActionNotSupported is re-subscribed before its
        // subscription ends instead (some cameras only implement Create/Pull/Unsubscribe).
        var renewSupported = true;
        while (!ct.IsCancellationRequested)
        {
            if (!_catalog.TryGetDevice(deviceId, out var device) || device.Onvif?.Events is null)
            {
                return;
            }
            var client = _clients.For(device);
            PullPointSubscription? sub = null;
            Uri? address = null;
            var resubscribeNow = false;
            try
            {
                // :: Step 1
                sub = EventParsers.ParseCreatePullPointSubscription(await client.CallAsync(device.Onvif.Events, OnvifRequests.CreatePullPointSubscription(_timing.InitialTermination), "CreatePullPointSubscription", ct).ConfigureAwait(false));
                address = new AddressRewriter(device.Onvif.Device, null).Service(sub.Address)!;
                var life = new SubscriptionLifetime(_timing, _time.GetUtcNow(), sub.CurrentTime, sub.TerminationTime);
                Log.Subscribed(_logger, deviceId, life.Lifetime.TotalSeconds);
                while (!ct.IsCancellationRequested)
                {
                    // :: Step 3
                    if (life.MustExtend(_time.GetUtcNow()))
                    {
                        if (!renewSupported)
                        {
                            resubscribeNow = true;
                            break;
                        }
                        try
                        {
                            var renewed = EventParsers.ParseRenew(await client.CallAsync(address, OnvifRequests.Renew(_timing.InitialTermination), "Renew", ct,
                                extraHeaders: OnvifRequests.SubscriptionHeaders(address, OnvifRequests.RenewAction, sub.ReferenceParameters)).ConfigureAwait(false));
                            life.Renewed(_time.GetUtcNow(), renewed.CurrentTime, renewed.TerminationTime);
                        }
                        catch (DeviceException e) when (e.Fault() is { IsNotSupported: true })
                        {
                            renewSupported = false;
                            Log.RenewNotSupported(_logger, deviceId);
                            resubscribeNow = true;
                            break;
                        }
                    }
                    // :: Step 2
                    var pullTimeout = life.PullTimeout(_time.GetUtcNow());
                    var pulled = EventParsers.ParsePullMessages(await client.CallAsync(address, OnvifRequests.PullMessages(pullTimeout, _timing.MessageLimit), "PullMessages", ct,
                        timeout: pullTimeout + _clients.Options.RequestTimeout,
                        extraHeaders: OnvifRequests.SubscriptionHeaders(address, OnvifRequests.PullMessagesAction, sub.ReferenceParameters)).ConfigureAwait(false));
                    life.Pulled(_time.GetUtcNow(), pulled.CurrentTime, pulled.TerminationTime);
                    failures = 0;
                    foreach (var m in pulled.Messages)
                    {
                        Handle(device, m);
                    }
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
            }
            catch (Exception e) when (e is DeviceException or InvalidOperationException)
            {
                // :: Step 4
                failures++;
                Log.SubscriptionFailed(_logger, deviceId, failures, e.Message);
            }
            finally
            {
                if (sub is not null && address is not null)
                {
                    await UnsubscribeAsync(client, address, sub).ConfigureAwait(false);
                }
            }
            if (ct.IsCancellationRequested)
            {
                return;
            }
            if (resubscribeNow)
            {
                continue;
            }
            // 1 s after the first failure, doubling, capped at MaxBackoff (Core's one backoff policy, no jitter).
            var backoff = new BackoffPolicy(TimeSpan.FromSeconds(1), _timing.MaxBackoff).Delay(Math.Min(failures, 10) - 1, 0);
            try
            {
                await Task.Delay(backoff, _time, ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task UnsubscribeAsync(OnvifSoapClient client, Uri address, PullPointSubscription sub)
    {
        try
        {
            await client.CallAsync(address, OnvifRequests.Unsubscribe(), "Unsubscribe", CancellationToken.None, timeout: TimeSpan.FromSeconds(3),
                extraHeaders: OnvifRequests.SubscriptionHeaders(address, OnvifRequests.UnsubscribeAction, sub.ReferenceParameters)).ConfigureAwait(false);
        }
        catch (DeviceException)
        {
            // The subscription times out on the device anyway (InitialTerminationTime).
        }
    }

    private void Handle(DeviceInfo device, NotificationMessage m)
    {
        if (!AlarmMapping.TryMap(m, out var mapped))
        {
            return;
        }
        var channel = ResolveChannel(device, mapped.SourceToken);
        if (channel is null)
        {
            Log.UnknownSource(_logger, device.DeviceId, mapped.Kind, mapped.SourceToken ?? "(none)");
            return;
        }
        var now = _time.GetUtcNow();
        if (!_debouncer.ShouldPass(device.DeviceId, channel.Value, mapped.Kind, mapped.State, now))
        {
            return;
        }
        // The device stamps events on its own clock; bring them to ours.
        var at = mapped.DeviceTime is { } t ? t - (device.Onvif?.ClockOffset ?? TimeSpan.Zero) : now;
        _router.Route(new AlarmEvent(device.DeviceId, channel.Value, mapped.Kind, mapped.State, at));
    }

    /// <summary>Source token → channel through the catalog; a single-channel device takes everything; else a trailing number.</summary>
    private int? ResolveChannel(DeviceInfo device, string? token)
    {
        if (token is not null && _catalog.TryGetChannel(device.DeviceId, token, out var channel))
        {
            return channel;
        }
        if (device.Channels.Count == 1)
        {
            return device.Channels[0].Channel;
        }
        if (token is not null)
        {
            var i = token.Length;
            while (i > 0 && char.IsAsciiDigit(token[i - 1]))
            {
                i--;
            }
            if (i < token.Length && int.TryParse(token.AsSpan(i), out var n) && device.FindChannel(n) is not null)
            {
                return n;
            }
        }
        return null;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 4601, Level = LogLevel.Information, Message = "Subscribed to events of {DeviceId} (PullPoint, {LifetimeSeconds} s on the device's clock)")]
        public static partial void Subscribed(ILogger logger, string deviceId, double lifetimeSeconds);

        [LoggerMessage(EventId = 4604, Level = LogLevel.Information, Message = "{DeviceId} does not support Renew of event subscriptions: subscribing anew before each one ends")]
        public static partial void RenewNotSupported(ILogger logger, string deviceId);

        [LoggerMessage(EventId = 4602, Level = LogLevel.Warning, Message = "Event subscription of {DeviceId} failed ({Failures} in a row), resubscribing: {Reason}")]
        public static partial void SubscriptionFailed(ILogger logger, string deviceId, int failures, string reason);

        [LoggerMessage(EventId = 4603, Level = LogLevel.Debug, Message = "Event {Kind} from {DeviceId} names unknown source {Token}; dropped")]
        public static partial void UnknownSource(ILogger logger, string deviceId, string kind, string token);
    }
}
