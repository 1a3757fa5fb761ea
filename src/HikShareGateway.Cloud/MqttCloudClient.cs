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
    System.Security.Cryptography.X509Certificates.X509Certificate2Collection? TrustChain = null)
{
    public CloudTopics Topics => new(TopicPrefix, GatewayId);
    public string EffectiveClientId => ClientId ?? "hikshare-gateway-" + GatewayId;

    public static CloudClientSettings From(CloudLinkOptions o, string gatewayId, BrokerAddress broker, string software, DateTimeOffset startedAt) => new(
        broker, gatewayId, o.TopicPrefix, o.Username, o.Password, o.ClientId,
        TimeSpan.FromSeconds(o.ReconnectMinSeconds), TimeSpan.FromSeconds(o.ReconnectMaxSeconds),
        o.KeepAliveSeconds, o.PublishQueueCapacity, software, startedAt,
        o.CaFile is not null && CloudLinkOptions.TryLoadCaFile(o.CaFile, out var ca, out _) ? ca : null);
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
/// 5. On a lost connection: reconnect with exponential backoff and ±20 % jitter.
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
        _client = new MqttClientFactory().CreateMqttClient();
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
        => Publish(CloudTopics.GrantsResyncSubTopic, JsonSerializer.SerializeToUtf8Bytes(new { version = heldVersion }), retain: false);

    private byte[] StatusPayload(string state) => JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object?>
    {
        ["state"] = state,
        ["grantsVersion"] = _store.Version,
        ["startedAt"] = (_settings.StartedAt ?? _time.GetUtcNow()).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture),
        ["software"] = _settings.Software,
    });

    private MqttClientOptions BuildOptions()
    {
        var b = new MqttClientOptionsBuilder()
            .WithTcpServer(_settings.Broker.Host, _settings.Broker.Port)
            .WithClientId(_settings.EffectiveClientId)
            .WithProtocolVersion(MqttProtocolVersion.V311)
            // A persistent session: QoS 1 deltas published while we are away are queued by the broker.
            .WithCleanSession(false)
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
        if (_settings.Broker.Tls)
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
            LogConnected(_settings.Broker.ToString(), _settings.EffectiveClientId);
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
            LogConnectionFailed(_settings.Broker.ToString(), e.GetType().Name, e.Message);
            await DropAsync();
            Interlocked.Increment(ref _failedConnects);
            ConnectionFailed?.Invoke(e);
            throw;
        }
        _status.Set(true);
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
            LogConnectionFailed(_settings.Broker.ToString(), e.GetType().Name, e.Message);
            await DropAsync();
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
            if (payload.Length > _store.MaxMessageBytes)
            {
                _store.RejectOversized(kind, payload.Length); // Not even copied.
                return Task.CompletedTask;
            }
            var receipt = payload.IsSingleSegment ? _store.Receive(kind, payload.FirstSpan) : _store.Receive(kind, payload.ToArray());
            if (receipt.ResyncNeeded)
            {
                PublishResync(receipt.HeldVersion);
            }
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
                LogConnectionFailed(_settings.Broker.ToString(), e.GetType().Name, e.Message);
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

    public override void Dispose()
    {
        _disposed = true;
        _store.Changed -= PublishStatusOnline;
        _client.Dispose();
        base.Dispose();
    }

    private readonly record struct Outgoing(string Topic, byte[] Payload);

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
