using System.Buffers;
using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using System.Threading.Channels;
using HikShareGateway.Core.Access;
using HikShareGateway.Core.Cloud;
using HikShareGateway.Core.Resilience;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace HikShareGateway.Cloud;

/// <summary>What the client needs to know; built by the host from <see cref="CloudLinkOptions"/> and <c>Gateway</c>.</summary>
public sealed record CloudClientSettings(
    BrokerAddress Broker,
    string GatewayId,
    string TopicPrefix = CloudTopics.DefaultPrefix,
    string? Username = null,
    string? Password = null,
    string? ClientId = null,
    TimeSpan? ReconnectMin = null,
    TimeSpan? ReconnectMax = null,
    int KeepAliveSeconds = 30,
    int QueueCapacity = 10_000,
    string Software = "hikshare-gateway",
    DateTimeOffset? StartedAt = null,
    System.Security.Cryptography.X509Certificates.X509Certificate2Collection? TrustChain = null,
    IReadOnlyList<BrokerAddress>? MoreBrokers = null,
    TimeSpan? ResyncWait = null,
    TimeSpan? RejectedResyncInterval = null)
{
    public CloudTopics Topics => new(TopicPrefix, GatewayId);

    /// <summary><see cref="Broker"/> first, then <see cref="MoreBrokers"/>: the members of one cluster, tried in turn (§3.1).</summary>
    public IReadOnlyList<BrokerAddress> AllBrokers => MoreBrokers is { Count: > 0 } more ? [Broker, .. more] : [Broker];

    /// <summary>After a connect, how long to wait for a retained snapshot at or above the version held before asking for a resync. Default 5 s.</summary>
    public TimeSpan EffectiveResyncWait => ResyncWait ?? TimeSpan.FromSeconds(5);

    /// <summary>Shortest time between two resyncs asked for because a message was rejected (a rejected snapshot sent again
    /// would otherwise loop). Default 30 s.</summary>
    public TimeSpan EffectiveRejectedResyncInterval => RejectedResyncInterval ?? TimeSpan.FromSeconds(30);
    public string EffectiveClientId => ClientId ?? "hikshare-gateway-" + GatewayId;

    public static CloudClientSettings From(CloudLinkOptions o, string gatewayId, IReadOnlyList<BrokerAddress> brokers, string software, DateTimeOffset startedAt) => new(
        brokers[0], gatewayId, o.TopicPrefix, o.Username, o.Password, o.ClientId,
        TimeSpan.FromSeconds(o.ReconnectMinSeconds), TimeSpan.FromSeconds(o.ReconnectMaxSeconds),
        o.KeepAliveSeconds, o.PublishQueueCapacity, software, startedAt,
        o.CaFile is not null && CloudLinkOptions.TryLoadCaFile(o.CaFile, out var ca, out _) ? ca : null,
        brokers.Count > 1 ? brokers.Skip(1).ToArray() : null,
        TimeSpan.FromSeconds(o.ResyncWaitSeconds));
}

/// <summary>
/// The MQTT client to the cloud broker (contract §3) and the gateway's <see cref="ICloudPublisher"/>.
/// </summary>
/// <remarks>
/// 1. Connect (TLS for mqtts://, username/password) with a will: retained <c>status</c> <c>{"state":"offline"}</c>.
/// 2. Subscribe (QoS 1) to <c>grants</c> (retained snapshot) and <c>grants/delta</c>; every message goes
///    to <see cref="IGrantsInbox.Receive"/>, which verifies and applies it (MQTTnet delivers them in order);
///    when its receipt says so, publish <c>grants/resync</c> with the version held.
/// 3. Publish the retained <c>status</c> online (again whenever the grants version changes).
/// 4. Drain the outgoing queue: retained messages keep only the latest per topic; others sit in a
///    bounded queue that drops the oldest when the broker is away for long.
/// 5. On a failed connect or a lost connection: move to the next broker of <c>Cloud:Brokers</c> (§3.1; with one broker,
///    the same one) and reconnect with exponential backoff and ±20 % jitter. After each connect, when no retained
///    snapshot at or above the version held arrives within <see cref="CloudClientSettings.EffectiveResyncWait"/>
///    (another cluster node may not have it: retained messages are not replicated in every cluster), publish
///    <c>grants/resync</c>.
/// Every connection reads through a <see cref="PacketSizeGuardChannel"/>: a packet larger than the grants limit is
/// refused before anything allocates room for it; an oversized or refused grants message is reported in the
/// retained status (<c>grantsRejected</c>) and a resync asked for, at most once per
/// <see cref="CloudClientSettings.EffectiveRejectedResyncInterval"/>.
/// 6. On shutdown: publish <c>status</c> offline (a clean disconnect does not fire the will) and disconnect.
/// </remarks>
public sealed partial class MqttCloudClient : BackgroundService, ICloudPublisher
{
    private readonly CloudClientSettings _settings;
    private readonly CloudTopics _topics;
    private readonly IGrantsInbox _store;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly IMqttClient _client;
    private readonly Channel<Outgoing> _queue;
    private readonly ConcurrentDictionary<string, byte[]> _retained = new(StringComparer.Ordinal);
    /// <summary>
    /// The latest value of every retained topic ever published (inventory, status), kept to publish again after each
    /// reconnect: a broker restarted without persistence (or another cluster node) has lost them, and nothing else
    /// would send them until the content changes.
    /// </summary>
    private readonly ConcurrentDictionary<string, byte[]> _lastRetained = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (string SubTopic, ICloudInbound Receiver)> _inbound = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _signal = new(0);
    private long _dropped;
    private const int PublishWindow = 64;
    private readonly List<Outgoing> _inFlight = new(PublishWindow); // only touched by the drain loop
    private volatile bool _disposed;
    private readonly BrokerLinkStatus _status;
    private int _failedConnects;
    private readonly IReadOnlyList<BrokerAddress> _brokers;
    private int _brokerIndex; // only touched by the connect loop
    /// <summary>Publishes the guard cut to their header, by topic: their payload arrives empty, their length is here.</summary>
    private readonly ConcurrentDictionary<string, int> _oversized = new(StringComparer.Ordinal);
    private readonly object _rejectLock = new();
    private Rejection? _lastRejection;
    private DateTimeOffset _lastRejectedResyncAt = DateTimeOffset.MinValue;
    private long _versionAtConnect;
    private volatile bool _freshSnapshotSeen;
    private int _connectGeneration;
    private ITimer? _resyncTimer;

    /// <param name="status">Where the link reports whether it is up; the host shares it as <see cref="IBrokerStatus"/>.</param>
    /// <param name="inbound">Receivers of the other cloud → gateway topics (v1.1 §3.1 WebRTC signalling).</param>
    public MqttCloudClient(CloudClientSettings settings, IGrantsInbox store, TimeProvider time, ILogger<MqttCloudClient> logger, BrokerLinkStatus? status = null,
        IReadOnlyList<ICloudInbound>? inbound = null)
    {
        foreach (var receiver in inbound ?? [])
        {
            foreach (var sub in receiver.SubTopics)
            {
                _inbound[settings.Topics.For(sub)] = (sub, receiver);
            }
        }
        _status = status ?? new BrokerLinkStatus();
        _settings = settings;
        _topics = settings.Topics;
        _store = store;
        _time = time;
        _logger = logger;
        _queue = Channel.CreateBounded<Outgoing>(new BoundedChannelOptions(settings.QueueCapacity)
        {
            FullMode = BoundedChannelFullMode.DropOldest,
            SingleReader = true,
        }, _ => { Interlocked.Increment(ref _dropped); });
        _brokers = settings.AllBrokers;
        // The guard's limit: the largest grants message plus room for the fixed and variable headers.
        var maxPacket = (int)Math.Min(MqttFrameHeader.MaxRemainingLength, (long)store.MaxMessageBytes + 64 * 1024);
        _client = new MqttClientFactory().CreateMqttClient(new PacketSizeGuardAdapterFactory(maxPacket, OnOversizedPacket));
        _client.ApplicationMessageReceivedAsync += OnMessageAsync;
        _client.DisconnectedAsync += e =>
        {
            _status.Set(false);
            _signal.Release();
            return Task.CompletedTask;
        };
        _store.Changed += PublishStatusOnline;
    }

    public bool IsConnected => _client.IsConnected;
    /// <summary>Connected and subscribed to the grants topics (<see cref="IBrokerStatus"/>).</summary>
    public IBrokerStatus Status => _status;
    /// <summary>Connects (or subscriptions) that failed since start; tests wait on it to see the client keep retrying.</summary>
    public int FailedConnects => Volatile.Read(ref _failedConnects);
    /// <summary>Non-retained messages dropped because the queue was full.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);
    /// <summary>The broker of <see cref="CloudClientSettings.AllBrokers"/> in use (or tried next).</summary>
    public BrokerAddress CurrentBroker => _brokers[Volatile.Read(ref _brokerIndex)];
    /// <summary>Resyncs asked for because no fresh retained snapshot came after a connect; tests wait on it.</summary>
    public int ConnectResyncs => Volatile.Read(ref _connectResyncs);
    private int _connectResyncs;
    /// <summary>Resyncs asked for because a grants message was refused (at a bounded rate); tests read it.</summary>
    public int RejectedResyncs => Volatile.Read(ref _rejectedResyncs);
    private int _rejectedResyncs;

    /// <summary>Raised (on the MQTT thread) once subscribed after each connect; tests wait on it.</summary>
    public event Action? Connected;

    /// <summary>A connection attempt failed (refused, unreachable, TLS): what tests wait for instead of a sleep.</summary>
    public event Action<Exception>? ConnectionFailed;

    public void Publish(string subTopic, ReadOnlyMemory<byte> payload, bool retain)
    {
        var topic = _topics.For(subTopic);
        if (retain)
        {
            var bytes = payload.ToArray();
            _lastRetained[topic] = bytes;
            _retained[topic] = bytes; // Only the latest value of a retained topic matters.
        }
        else
        {
            _queue.Writer.TryWrite(new Outgoing(topic, payload.ToArray()));
        }
        _signal.Release();
    }

    private void PublishStatusOnline() => Publish(CloudTopics.StatusSubTopic, StatusPayload("online"), retain: true);

    /// <summary>Contract §3: <c>{"version": N}</c>, the version held, so that the cloud sends a fresh snapshot.</summary>
    private void PublishResync(long heldVersion)
        => Publish(CloudTopics.GrantsResyncSubTopic, ResyncPayload(heldVersion), retain: false);

    private byte[] StatusPayload(string state)
    {
        Rejection? rejection;
        lock (_rejectLock)
        {
            rejection = _lastRejection;
        }
        // Written by hand (no reflection: NativeAOT), the same bytes the serializer wrote from a dictionary.
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("state", state);
            w.WriteNumber("grantsVersion", _store.Version);
            w.WriteString("startedAt", Iso(_settings.StartedAt ?? _time.GetUtcNow()));
            w.WriteString("software", _settings.Software);
            if (rejection is { } r)
            {
                // §3 status, v1.1 implementation note: the last grants message refused since the last one applied.
                w.WriteStartObject("grantsRejected");
                w.WriteString("kind", r.Kind == GrantMessageKind.Snapshot ? "snapshot" : "delta");
                w.WriteString("reason", r.Reason);
                w.WriteNumber("bytes", r.Bytes);
                w.WriteString("at", Iso(r.At));
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    private static byte[] ResyncPayload(long heldVersion)
    {
        var buffer = new ArrayBufferWriter<byte>(32);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteNumber("version", heldVersion);
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    private static string Iso(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    private MqttClientOptions BuildOptions()
    {
        var b = new MqttClientOptionsBuilder()
            .WithTcpServer(CurrentBroker.Host, CurrentBroker.Port)
            .WithClientId(_settings.EffectiveClientId)
            .WithProtocolVersion(MqttProtocolVersion.V311)
            // One broker: a persistent session, so QoS 1 deltas published while we are away are queued by the broker.
            // A cluster (Cloud:Brokers): a clean session. A persistent session lives on one node in clusters that do
            // not replicate sessions (RabbitMQ 3.x keeps it in a classic queue on its home node); with that node down,
            // every other node refuses the subscription. The retained snapshot on subscribing and the resync after
            // each connect (step 5) bring the grants up to date instead.
            .WithCleanSession(_brokers.Count > 1)
            .WithKeepAlivePeriod(TimeSpan.FromSeconds(_settings.KeepAliveSeconds))
            .WithTimeout(TimeSpan.FromSeconds(10))
            .WithWillTopic(_topics.Status)
            .WithWillPayload(StatusPayload("offline"))
            .WithWillRetain(true)
            .WithWillQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce);
        if (_settings.Username is not null)
        {
            b = b.WithCredentials(_settings.Username, _settings.Password ?? "");
        }
        if (CurrentBroker.Tls)
        {
            b = MqttOneShot.WithTls(b, _settings.TrustChain);
        }
        return b.Build();
    }

    /// <summary>The reconnect policy: min·2^n capped at max, ×[0.8, 1.2) jitter (defaults 1 s and 60 s).</summary>
    public static BackoffPolicy ReconnectBackoff(TimeSpan? min, TimeSpan? max)
        => BackoffPolicy.WithJitter(min ?? TimeSpan.FromSeconds(1), max ?? TimeSpan.FromSeconds(60));

    protected override async Task ExecuteAsync(CancellationToken ct)
    {
        var backoff = ReconnectBackoff(_settings.ReconnectMin, _settings.ReconnectMax);
        // :: Step 5: failed connects are retried with exponential backoff and jitter, so that many gateways do not
        // reconnect in lockstep (Polly, on the injected clock). The count starts again once the link was up.
        var reconnect = backoff.RetryForever(_time, e => e is not LinkLostException && !_disposed,
            (_, delay, _) => LogReconnecting(delay.TotalSeconds));
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await reconnect.ExecuteAsync(ConnectAndServeAsync, ct);
            }
            catch (LinkLostException)
            {
                // The link was up and went: its loss is the first failure of a new count.
                var delay = backoff.Delay(0);
                LogReconnecting(delay.TotalSeconds);
                try
                {
                    await Task.Delay(delay, _time, ct);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
            catch (Exception) when (ct.IsCancellationRequested || _disposed)
            {
                break;
            }
        }
    }

    /// <summary>Steps 1-4 once: throws on a failed connect, or <see cref="LinkLostException"/> when an established link drops.</summary>
    private async ValueTask ConnectAndServeAsync(CancellationToken ct)
    {
        try
        {
            // :: Step 1.
            var result = await _client.ConnectAsync(BuildOptions(), ct);
            if (result.ResultCode != MqttClientConnectResultCode.Success)
            {
                throw new MqttCloudException($"broker refused the connection: {result.ResultCode}");
            }
            LogConnected(CurrentBroker.ToString(), _settings.EffectiveClientId);
            // :: Step 2.
            var subscribe = new MqttClientSubscribeOptionsBuilder()
                .WithTopicFilter(f => f.WithTopic(_topics.Grants).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce))
                .WithTopicFilter(f => f.WithTopic(_topics.GrantsDelta).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce));
            foreach (var topic in _inbound.Keys)
            {
                subscribe.WithTopicFilter(f => f.WithTopic(topic).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce));
            }
            var subscribeOptions = subscribe.Build();
            var sub = await _client.SubscribeAsync(subscribeOptions, ct);
            foreach (var item in sub.Items)
            {
                if ((int)item.ResultCode > 2)
                {
                    throw new MqttCloudException($"broker refused the subscription to {item.TopicFilter.Topic}: {item.ResultCode}");
                }
            }
        }
        catch (Exception e) when (!ct.IsCancellationRequested && !_disposed)
        {
            LogConnectionFailed(CurrentBroker.ToString(), e.GetType().Name, e.Message);
            await DropAsync();
            Interlocked.Increment(ref _failedConnects);
            MoveToNextBroker();
            ConnectionFailed?.Invoke(e);
            throw;
        }
        _status.Set(true);
        ArmConnectResync();
        // :: Step 3: every retained topic again (the broker may have lost them), status online last.
        foreach (var (topic, payload) in _lastRetained)
        {
            _retained.TryAdd(topic, payload);
        }
        PublishStatusOnline();
        Connected?.Invoke();
        try
        {
            // :: Step 4.
            await DrainAsync(ct);
        }
        catch (Exception e) when (!ct.IsCancellationRequested && !_disposed)
        {
            LogConnectionFailed(CurrentBroker.ToString(), e.GetType().Name, e.Message);
            await DropAsync();
            MoveToNextBroker();
            throw new LinkLostException(e);
        }
    }

    private async Task DropAsync()
    {
        _status.Set(false);
        if (_client.IsConnected)
        {
            try
            {
                await _client.DisconnectAsync(new MqttClientDisconnectOptionsBuilder().Build(), CancellationToken.None);
            }
            catch (Exception)
            {
                // Already gone.
            }
        }
    }

    private async Task DrainAsync(CancellationToken ct)
    {
        while (_client.IsConnected)
        {
            foreach (var (topic, payload) in _retained)
            {
                await PublishNowAsync(topic, payload, retain: true, ct);
                // Remove only if nobody replaced it meanwhile (reference comparison of the arrays).
                _retained.TryRemove(new KeyValuePair<string, byte[]>(topic, payload));
            }
            // Up to PublishWindow QoS 1 publishes in flight at once: a serial await per PUBACK would cap
            // alarms/audit at one message per round trip to a distant broker. A batch that fails stays in
            // _inFlight and is sent again after the reconnect (QoS 1 is at-least-once anyway).
            while (_inFlight.Count < PublishWindow && _queue.Reader.TryRead(out var m))
            {
                _inFlight.Add(m);
            }
            if (_inFlight.Count > 0)
            {
                var sends = new Task[_inFlight.Count];
                for (var i = 0; i < sends.Length; i++)
                {
                    sends[i] = PublishNowAsync(_inFlight[i].Topic, _inFlight[i].Payload, retain: false, ct);
                }
                await Task.WhenAll(sends);
                _inFlight.Clear();
                continue;
            }
            await _signal.WaitAsync(TimeSpan.FromSeconds(1), ct);
        }
        throw new MqttCloudException("connection lost");
    }

    private Task PublishNowAsync(string topic, byte[] payload, bool retain, CancellationToken ct)
        => _client.PublishAsync(new MqttApplicationMessageBuilder()
            .WithTopic(topic)
            .WithPayload(payload)
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
            .WithRetainFlag(retain)
            .Build(), ct);

    private Task OnMessageAsync(MqttApplicationMessageReceivedEventArgs e)
    {
        var topic = e.ApplicationMessage.Topic;
        GrantMessageKind kind;
        if (topic == _topics.Grants)
        {
            kind = GrantMessageKind.Snapshot;
        }
        else if (topic == _topics.GrantsDelta)
        {
            kind = GrantMessageKind.Delta;
        }
        else if (_inbound.TryGetValue(topic, out var inbound))
        {
            var message = e.ApplicationMessage.Payload;
            try
            {
                if (message.IsSingleSegment) inbound.Receiver.Receive(inbound.SubTopic, message.FirstSpan);
                else inbound.Receiver.Receive(inbound.SubTopic, message.ToArray());
            }
            catch (Exception ex)
            {
                LogApplyFailed(ex, topic);
            }
            return Task.CompletedTask;
        }
        else
        {
            return Task.CompletedTask;
        }
        var payload = e.ApplicationMessage.Payload;
        try
        {
            GrantsReceipt receipt;
            var heldBefore = _store.Version;
            var cut = 0;
            if (payload.Length == 0 && _oversized.TryRemove(topic, out cut))
            {
                receipt = _store.RejectOversized(kind, cut); // Cut by the guard: never read from the socket.
            }
            else if (payload.Length > _store.MaxMessageBytes)
            {
                receipt = _store.RejectOversized(kind, payload.Length); // Not even copied.
            }
            else
            {
                receipt = payload.IsSingleSegment ? _store.Receive(kind, payload.FirstSpan) : _store.Receive(kind, payload.ToArray());
            }
            HandleReceipt(kind, receipt, payload.Length == 0 ? cut : payload.Length, heldBefore);
        }
        catch (Exception ex)
        {
            // Apply never throws on bad input; this is a bug, but the client must keep running.
            LogApplyFailed(ex, topic);
        }
        return Task.CompletedTask;
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        _store.Changed -= PublishStatusOnline;
        if (_client.IsConnected)
        {
            try
            {
                // The 3 s bound runs on the injected clock (CancelAfter would use the system's).
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(3), _time);
                using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
                // :: Step 6.
                await PublishNowAsync(_topics.Status, StatusPayload("offline"), retain: true, linked.Token);
                LogOfflinePublished();
            }
            catch (Exception e)
            {
                LogConnectionFailed(CurrentBroker.ToString(), e.GetType().Name, e.Message);
            }
        }
        await base.StopAsync(cancellationToken);
        try
        {
            if (_client.IsConnected)
            {
                await _client.DisconnectAsync(new MqttClientDisconnectOptionsBuilder().Build(), CancellationToken.None);
            }
        }
        catch (Exception)
        {
            // Best effort on the way out.
        }
    }

    /// <summary>Step 5: the next broker of the list (a no-op with one). Called by the connect loop only.</summary>
    private void MoveToNextBroker()
    {
        if (_brokers.Count < 2)
        {
            return;
        }
        var from = CurrentBroker;
        Volatile.Write(ref _brokerIndex, (_brokerIndex + 1) % _brokers.Count);
        LogMovingBroker(from.ToString(), CurrentBroker.ToString());
    }

    private void ArmConnectResync()
    {
        _versionAtConnect = _store.Version;
        _freshSnapshotSeen = false;
        var generation = Interlocked.Increment(ref _connectGeneration);
        _resyncTimer?.Dispose();
        _resyncTimer = _time.CreateTimer(_ =>
        {
            if (generation != Volatile.Read(ref _connectGeneration) || _freshSnapshotSeen || !_client.IsConnected || _disposed)
            {
                return;
            }
            Interlocked.Increment(ref _connectResyncs);
            LogNoFreshSnapshot(CurrentBroker.ToString(), _settings.EffectiveResyncWait.TotalSeconds, _store.Version);
            PublishResync(_store.Version);
        }, null, _settings.EffectiveResyncWait, Timeout.InfiniteTimeSpan);
    }

    private void HandleReceipt(GrantMessageKind kind, GrantsReceipt receipt, long bytes, long heldBefore)
    {
        if (receipt.RejectedReason is { } reason)
        {
            var now = _time.GetUtcNow();
            bool resync;
            lock (_rejectLock)
            {
                _lastRejection = new Rejection(kind, reason, bytes, now);
                resync = now - _lastRejectedResyncAt >= _settings.EffectiveRejectedResyncInterval;
                if (resync)
                {
                    _lastRejectedResyncAt = now;
                }
            }
            // The cloud sees the refusal in the retained status, and is asked for a fresh snapshot (bounded rate:
            // a snapshot refused again would otherwise loop). The grants held stay in force.
            PublishStatusOnline();
            if (resync)
            {
                Interlocked.Increment(ref _rejectedResyncs);
                LogRejectedResync(kind == GrantMessageKind.Snapshot ? "snapshot" : "delta", reason, receipt.HeldVersion);
                PublishResync(receipt.HeldVersion);
            }
            return;
        }
        if (kind == GrantMessageKind.Snapshot && receipt.HeldVersion >= _versionAtConnect && receipt.HeldVersion > 0)
        {
            // The broker holds a snapshot at least as new as ours (an equal one is reported Stale: nothing missed).
            _freshSnapshotSeen = true;
        }
        if (receipt.HeldVersion != heldBefore)
        {
            // Applied: the refusal is history. The status went out already on the change, with the report: again without.
            bool had;
            lock (_rejectLock)
            {
                had = _lastRejection is not null;
                _lastRejection = null;
            }
            if (had)
            {
                PublishStatusOnline();
            }
        }
        if (receipt.ResyncNeeded)
        {
            PublishResync(receipt.HeldVersion);
        }
    }

    private void OnOversizedPacket(OversizedPacket p)
    {
        if (p.Topic is { } topic)
        {
            _oversized[topic] = p.Length;
        }
        LogOversizedPacket(p.Topic ?? "(not a PUBLISH)", p.Length); // Values are escaped by the host's log enricher.
    }

    public override void Dispose()
    {
        _disposed = true;
        _resyncTimer?.Dispose();
        _store.Changed -= PublishStatusOnline;
        _client.Dispose();
        base.Dispose();
    }

    private readonly record struct Outgoing(string Topic, byte[] Payload);
    private sealed record Rejection(GrantMessageKind Kind, string Reason, long Bytes, DateTimeOffset At);

    [LoggerMessage(EventId = 3500, Level = LogLevel.Information, Message = "Connected to the cloud broker {Broker} as {ClientId}")]
    private partial void LogConnected(string broker, string clientId);

    [LoggerMessage(EventId = 3501, Level = LogLevel.Warning, Message = "Cloud broker {Broker}: {ErrorType}: {Error}")]
    private partial void LogConnectionFailed(string broker, string errorType, string error);

    [LoggerMessage(EventId = 3502, Level = LogLevel.Information, Message = "Reconnecting to the cloud broker in {Seconds:F1} s; enforcing the grants held meanwhile")]
    private partial void LogReconnecting(double seconds);

    [LoggerMessage(EventId = 3503, Level = LogLevel.Error, Message = "Applying a message from {Topic} failed unexpectedly")]
    private partial void LogApplyFailed(Exception e, string topic);

    [LoggerMessage(EventId = 3504, Level = LogLevel.Information, Message = "Published status offline to the cloud broker")]
    private partial void LogOfflinePublished();

    [LoggerMessage(EventId = 3505, Level = LogLevel.Warning, Message = "Cloud broker {From} is not usable; moving to {To}")]
    private partial void LogMovingBroker(string from, string to);

    [LoggerMessage(EventId = 3506, Level = LogLevel.Information, Message = "No retained grants snapshot at or above version {Version} within {Seconds:F0} s of connecting to {Broker}; asked the cloud for a resync")]
    private partial void LogNoFreshSnapshot(string broker, double seconds, long version);

    [LoggerMessage(EventId = 3507, Level = LogLevel.Warning, Message = "A grants {Kind} was refused ({Reason}); reported in the status and asked the cloud for a resync; version {Version} stays in force")]
    private partial void LogRejectedResync(string kind, string reason, long version);

    [LoggerMessage(EventId = 3508, Level = LogLevel.Warning, Message = "The broker sent a packet of {Length} bytes on {Topic}, more than the grants limit allows; its payload was skipped unread")]
    private partial void LogOversizedPacket(string topic, int length);
}

/// <summary>
/// The cloud link's <see cref="IBrokerStatus"/>: written by <see cref="MqttCloudClient"/> only, read by anyone. A
/// separate object so that readers (the grants store's status) need not depend on the client, which depends on them.
/// </summary>
public sealed class BrokerLinkStatus : IBrokerStatus
{
    private volatile bool _up;
    public bool BrokerConnected => _up;
    internal void Set(bool up) => _up = up;
}

public sealed class MqttCloudException(string message) : Exception(message);

/// <summary>An established link dropped (as opposed to a failed connect): the reconnect count starts again.</summary>
internal sealed class LinkLostException(Exception inner) : Exception("the link to the broker was lost", inner);
