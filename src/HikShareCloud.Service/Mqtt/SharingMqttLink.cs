using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using HikShareCloud.Service.Gateways;
using HikShareCloud.Service.Storage;
using HikShareGateway.Access;
using HikShareGateway.Cloud;
using Microsoft.Extensions.Logging;
using MQTTnet;
using MQTTnet.Protocol;

namespace HikShareCloud.Service.Mqtt;

/// <summary>
/// The service's side of the broker (contract §3): publishes the grants versions the database holds
/// and feeds what gateways publish (binding, inventory, resync, audit) into the services.
/// <list type="number">
/// <item>Connect (MQTT 3.1.1, clean session, QoS 1) and subscribe to every gateway's resync, devices, binding and audit.</item>
/// <item>Republish the latest snapshot of every gateway, retained: a broker that restarted without persistence lost them.</item>
/// <item>Then, on each commit that wrote grants (and every <see cref="PollInterval"/>, for versions other instances wrote),
///   publish the unpublished versions in order — delta first, then the retained snapshot — and mark them published.</item>
/// <item><c>grants/resync</c> from a gateway: its latest snapshot again, retained.</item>
/// <item>On a lost connection: back off (the gateway client's formula) and start again at 1.</item>
/// </list>
/// The database is the outbox: nothing is held only in memory, so a crash between commit and publish
/// loses nothing, and several instances may publish the same version (gateways ignore the replay).
/// </summary>
public sealed partial class SharingMqttLink : IAsyncDisposable
{
    public static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(5);
    private const int MaxInboundBytes = 1024 * 1024;
    /// <summary>1 s, doubling to 30 s, ±20 % jitter: Core's one backoff policy.</summary>
    private static readonly HikShareGateway.Core.Resilience.BackoffPolicy Reconnect =
        HikShareGateway.Core.Resilience.BackoffPolicy.WithJitter(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30));

    private readonly ServiceDb _db;
    private readonly GatewayService _gateways;
    private readonly ServiceOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<SharingMqttLink> _logger;
    private readonly SharingTopics _topics;
    private readonly BrokerAddress _broker;
    private readonly System.Security.Cryptography.X509Certificates.X509Certificate2Collection? _ca;
    private readonly IMqttClient _client = new MqttClientFactory().CreateMqttClient();
    private readonly WebRtcRelay? _relay;
    /// <summary>null = look at the outbox; a gateway id = answer its resync.</summary>
    private readonly Channel<string?> _work = Channel.CreateUnbounded<string?>(new UnboundedChannelOptions { SingleReader = true });

    public SharingMqttLink(ServiceDb db, GatewayService gateways, ServiceOptions options, TimeProvider time, ILogger<SharingMqttLink> logger,
        System.Security.Cryptography.X509Certificates.X509Certificate2Collection? ca = null, WebRtcRelay? relay = null)
    {
        _relay = relay;
        _db = db;
        _gateways = gateways;
        _options = options;
        _time = time;
        _logger = logger;
        _ca = ca;
        _topics = new SharingTopics(options.TopicPrefix);
        _broker = BrokerAddress.TryParse(options.Broker, out var b, out var why) ? b! : throw new ArgumentException($"Sharing:Broker {why}");
        _gateways.GrantsWritten += () => _work.Writer.TryWrite(null);
        _client.ApplicationMessageReceivedAsync += OnMessageAsync;
        if (relay is not null)
        {
            relay.Publish = PublishSignallingAsync;
        }
        // Wakes the pump so that a lost connection is noticed at once, not at the next poll.
        _client.DisconnectedAsync += _ => { _work.Writer.TryWrite(null); return Task.CompletedTask; };
    }

    public bool Connected => _client.IsConnected;
    /// <summary>Connections made so far (tests wait for a reconnect with it).</summary>
    public int Connections => Volatile.Read(ref _connections);
    private int _connections;

    public async Task RunAsync(CancellationToken ct)
    {
        var attempt = 0;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                // :: Step 1
                await ConnectAsync(ct);
                attempt = 0;
                Interlocked.Increment(ref _connections);
                LogConnected(_logger, _broker.ToString());
                // :: Step 2
                await RepublishAllAsync(ct);
                // :: Steps 3 and 4
                await PumpAsync(ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e) when (e is MQTTnet.Exceptions.MqttCommunicationException or MqttCloudException or OperationCanceledException or System.Net.Sockets.SocketException
                                      or InvalidOperationException or System.Data.Common.DbException)
            {
                LogLinkDown(_logger, _broker.ToString(), e.GetType().Name, LogText.Escape(e.Message));
            }
            // :: Step 5
            var delay = Reconnect.Delay(attempt++);
            try
            {
                await Task.Delay(delay, _time, ct);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    private async Task ConnectAsync(CancellationToken ct)
    {
        var b = new MqttClientOptionsBuilder()
            .WithTcpServer(_broker.Host, _broker.Port)
            .WithClientId("hikshare-sharing-" + Guid.NewGuid().ToString("N")[..10])
            .WithProtocolVersion(MQTTnet.Formatter.MqttProtocolVersion.V311)
            .WithCleanSession(true)
            .WithKeepAlivePeriod(TimeSpan.FromSeconds(30))
            .WithTimeout(TimeSpan.FromSeconds(10));
        if (_options.BrokerUsername is not null)
        {
            b = b.WithCredentials(_options.BrokerUsername, _options.BrokerPassword ?? "");
        }
        if (_broker.Tls)
        {
            b = MqttOneShot.WithTls(b, _ca);
        }
        if (_client.IsConnected)
        {
            await _client.DisconnectAsync(new MqttClientDisconnectOptionsBuilder().Build(), ct);
        }
        var result = await _client.ConnectAsync(b.Build(), ct);
        if (result.ResultCode != MqttClientConnectResultCode.Success)
        {
            throw new MqttCloudException($"{_broker} refused the connection: {result.ResultCode}");
        }
        var subscribe = new MqttClientSubscribeOptionsBuilder();
        foreach (var filter in _topics.Subscriptions)
        {
            subscribe.WithTopicFilter(f => f.WithTopic(filter).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce));
        }
        await _client.SubscribeAsync(subscribe.Build(), ct);
    }

    private async Task PumpAsync(CancellationToken ct)
    {
        await PublishPendingAsync(ct);
        using var poll = new PeriodicTimer(PollInterval, _time);
        var tick = poll.WaitForNextTickAsync(ct).AsTask();
        while (_client.IsConnected)
        {
            var read = _work.Reader.WaitToReadAsync(ct).AsTask();
            var done = await Task.WhenAny(read, tick);
            if (done == tick)
            {
                await tick;
                tick = poll.WaitForNextTickAsync(ct).AsTask();
                await PublishPendingAsync(ct);
                continue;
            }
            await read;
            var outbox = false;
            while (_work.Reader.TryRead(out var item))
            {
                if (item is null)
                {
                    outbox = true;
                }
                else
                {
                    await RepublishAsync(item, ct);
                }
            }
            if (outbox)
            {
                await PublishPendingAsync(ct);
            }
        }
        ct.ThrowIfCancellationRequested();
        throw new MqttCloudException("connection lost");
    }

    private async Task PublishPendingAsync(CancellationToken ct)
    {
        while (await PublishPendingOnceAsync(ct))
        {
        }
    }

    /// <summary>One pass over the unpublished versions; true when a newer one was committed meanwhile and is still unpublished.</summary>
    private async Task<bool> PublishPendingOnceAsync(CancellationToken ct)
    {
        var again = false;
        var rows = await _db.InTransactionAsync(tx => tx.QueryAsync(
            "SELECT gateway_id, version, snapshot_jws, delta_jws FROM grants_versions WHERE published_at IS NULL ORDER BY gateway_id, version",
            r => (Gateway: r.GetString(0), Version: r.GetInt64(1), Snapshot: r.GetString(2), Delta: r.IsDBNull(3) ? null : r.GetString(3))), ct);
        foreach (var group in rows.GroupBy(r => r.Gateway))
        {
            foreach (var row in group)
            {
                if (row.Delta is not null)
                {
                    await PublishAsync(_topics.Delta(row.Gateway), row.Delta, retain: false, ct);
                }
            }
            var last = group.Last();
            await PublishAsync(_topics.Grants(last.Gateway), last.Snapshot, retain: true, ct);
            await _db.InTransactionAsync(tx => tx.ExecuteAsync("UPDATE grants_versions SET published_at = @now WHERE gateway_id = @g AND version <= @v AND published_at IS NULL",
                ("@now", _time.GetUtcNow().ToUnixTimeMilliseconds()), ("@g", last.Gateway), ("@v", last.Version)), ct);
            LogPublished(_logger, LogText.Escape(last.Gateway), last.Version);
            // A newer version committed meanwhile (here or by another instance) may have had its retained snapshot
            // overwritten on the broker by the older one just sent: a gateway connecting later would get the older one.
            // Its commit came before its publish, so it is visible now. Already published: put its snapshot back. Not
            // yet: publish it now, delta first (another instance may be doing the same; a gateway ignores a version
            // it has), so that a connected gateway still gets every delta in order rather than a snapshot jumping ahead.
            var latest = await _db.InTransactionAsync(tx => tx.QueryAsync(
                "SELECT v.version, CASE WHEN v.published_at IS NULL THEN 0 ELSE 1 END FROM grants_versions v JOIN gateways g ON g.id = v.gateway_id AND v.version = g.grants_version WHERE g.id = @g",
                r => (Version: r.GetInt64(0), Published: Convert.ToInt64(r.GetValue(1), System.Globalization.CultureInfo.InvariantCulture) != 0), ("@g", last.Gateway)), ct);
            if (latest.Count == 1 && latest[0].Version > last.Version)
            {
                if (latest[0].Published)
                {
                    await RepublishAsync(last.Gateway, ct);
                }
                else
                {
                    again = true;
                }
            }
        }
        return again;
    }

    private async Task RepublishAllAsync(CancellationToken ct)
    {
        var latest = await _db.InTransactionAsync(tx => tx.QueryAsync("""
            SELECT v.gateway_id, v.snapshot_jws FROM grants_versions v JOIN gateways g ON g.id = v.gateway_id AND v.version = g.grants_version
            WHERE v.published_at IS NOT NULL
            """, r => (Gateway: r.GetString(0), Snapshot: r.GetString(1))), ct);
        foreach (var (gateway, snapshot) in latest)
        {
            await PublishAsync(_topics.Grants(gateway), snapshot, retain: true, ct);
        }
    }

    private async Task RepublishAsync(string gatewayId, CancellationToken ct)
    {
        var snapshot = await _db.InTransactionAsync(tx => tx.ScalarAsync(
            "SELECT v.snapshot_jws FROM grants_versions v JOIN gateways g ON g.id = v.gateway_id AND v.version = g.grants_version WHERE g.id = @g", ("@g", gatewayId)), ct);
        if (snapshot is string jws)
        {
            await PublishAsync(_topics.Grants(gatewayId), jws, retain: true, ct);
            LogResyncAnswered(_logger, LogText.Escape(gatewayId));
        }
    }

    private async Task PublishAsync(string topic, string jws, bool retain, CancellationToken ct)
    {
        var result = await _client.PublishAsync(new MqttApplicationMessageBuilder()
            .WithTopic(topic).WithPayload(Encoding.ASCII.GetBytes(jws))
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).WithRetainFlag(retain).Build(), ct);
        if (!result.IsSuccess)
        {
            throw new MqttCloudException($"{_broker} did not accept the message on {topic}: {result.ReasonCode}");
        }
    }

    /// <summary>WebRTC signalling (contract §3.1): QoS 1, never retained; refused at once when the link is down.</summary>
    private async Task PublishSignallingAsync(string gatewayId, string subTopic, byte[] payload, CancellationToken ct)
    {
        if (!_client.IsConnected || !GatewayIds.IsValid(gatewayId))
        {
            throw new MqttCloudException($"{_broker} is not connected");
        }
        var result = await _client.PublishAsync(new MqttApplicationMessageBuilder()
            .WithTopic(_topics.Of(gatewayId, subTopic)).WithPayload(payload)
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).WithRetainFlag(false).Build(), ct);
        if (!result.IsSuccess)
        {
            throw new MqttCloudException($"{_broker} did not accept the message on {subTopic}: {result.ReasonCode}");
        }
    }

    private async Task OnMessageAsync(MqttApplicationMessageReceivedEventArgs e)
    {
        var m = e.ApplicationMessage;
        if (!_topics.TryParse(m.Topic, out var gatewayId, out var kind) || !GatewayIds.IsValid(gatewayId) || m.Payload.Length > MaxInboundBytes)
        {
            return;
        }
        try
        {
            var payload = m.Payload.ToArray();
            switch (kind)
            {
                case SharingTopics.ResyncKind:
                    _work.Writer.TryWrite(gatewayId);
                    break;
                case SharingTopics.DevicesKind when payload.Length > 0:
                    await _gateways.RecordInventoryAsync(gatewayId, payload);
                    break;
                case SharingTopics.BindingKind when payload.Length > 0:
                    await _gateways.RecordBindingAsync(gatewayId, payload);
                    break;
                case SharingTopics.AuditKind:
                    await RecordAuditAsync(gatewayId, payload);
                    break;
                case SharingTopics.WebRtcAnswerKind:
                    _relay?.OnAnswer(gatewayId, payload);
                    break;
            }
        }
        catch (Exception ex) when (ex is System.Data.Common.DbException or JsonException or InvalidOperationException)
        {
            LogInboundFailed(_logger, kind, LogText.Escape(gatewayId), LogText.Escape(ex.Message));
        }
    }

    /// <summary>Keeps a gateway's audit event (contract §8: who watched what, when) as it came, with the time it arrived.</summary>
    private async Task RecordAuditAsync(string gatewayId, byte[] payload)
    {
        using var doc = JsonDocument.Parse(payload); // refuse what is not JSON; the event is kept verbatim
        if (doc.RootElement.ValueKind != JsonValueKind.Object)
        {
            return;
        }
        await _db.InTransactionAsync(tx => tx.ExecuteAsync("INSERT INTO audit_events (gateway_id, received_at, event) VALUES (@g, @now, @e)",
            ("@g", gatewayId), ("@now", _time.GetUtcNow().ToUnixTimeMilliseconds()), ("@e", Encoding.UTF8.GetString(payload))));
    }

    public async ValueTask DisposeAsync()
    {
        if (_client.IsConnected)
        {
            try
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                await _client.DisconnectAsync(new MqttClientDisconnectOptionsBuilder().Build(), cts.Token);
            }
            catch (Exception e) when (e is MQTTnet.Exceptions.MqttCommunicationException or OperationCanceledException)
            {
                // Closing anyway.
            }
        }
        _client.Dispose();
    }

    [LoggerMessage(EventId = 7020, Level = LogLevel.Information, Message = "Connected to {Broker}; republishing the latest grants of every gateway")]
    private static partial void LogConnected(ILogger logger, string broker);

    [LoggerMessage(EventId = 7021, Level = LogLevel.Warning, Message = "Broker link to {Broker} down ({Error}: {Message}); reconnecting")]
    private static partial void LogLinkDown(ILogger logger, string broker, string error, string message);

    [LoggerMessage(EventId = 7022, Level = LogLevel.Debug, Message = "Published grants of {GatewayId} up to version {Version}")]
    private static partial void LogPublished(ILogger logger, string gatewayId, long version);

    [LoggerMessage(EventId = 7023, Level = LogLevel.Information, Message = "Answered grants/resync of {GatewayId} with its snapshot")]
    private static partial void LogResyncAnswered(ILogger logger, string gatewayId);

    [LoggerMessage(EventId = 7024, Level = LogLevel.Warning, Message = "Could not take a {Kind} message of gateway {GatewayId}: {Message}")]
    private static partial void LogInboundFailed(ILogger logger, string kind, string gatewayId, string message);
}
