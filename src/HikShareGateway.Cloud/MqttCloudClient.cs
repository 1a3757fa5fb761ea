using System.Buffers;
using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using System.Threading.Channels;
using HikShareGateway.Access;
using HikShareGateway.Access.Grants;
using HikShareGateway.Core.Cloud;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace HikShareGateway.Cloud;

/// <summary>What the client needs to know; built by the host from <see cref="CloudOptions"/> and <c>Gateway</c>.</summary>
public sealed record CloudClientSettings(
    BrokerAddress Broker,
    string GatewayId,
    string TopicPrefix = "hikshare/v1",
    string? Username = null,
    string? Password = null,
    string? ClientId = null,
    TimeSpan? ReconnectMin = null,
    TimeSpan? ReconnectMax = null,
    int KeepAliveSeconds = 30,
    int QueueCapacity = 10_000,
    int MaxGrantMessageBytes = 1024 * 1024,
    string Software = "hikshare-gateway",
    DateTimeOffset? StartedAt = null,
    System.Security.Cryptography.X509Certificates.X509Certificate2Collection? TrustChain = null)
{
    public string Topic(string subTopic) => $"{TopicPrefix}/gateways/{GatewayId}/{subTopic}";
    public string EffectiveClientId => ClientId ?? "hikshare-gateway-" + GatewayId;

    public static CloudClientSettings From(CloudOptions o, string gatewayId, BrokerAddress broker, string software, DateTimeOffset startedAt) => new(
        broker, gatewayId, o.TopicPrefix, o.Username, o.Password, o.ClientId,
        TimeSpan.FromSeconds(o.ReconnectMinSeconds), TimeSpan.FromSeconds(o.ReconnectMaxSeconds),
        o.KeepAliveSeconds, o.PublishQueueCapacity, o.MaxGrantMessageBytes, software, startedAt,
        o.CaFile is not null && CloudOptions.TryLoadCaFile(o.CaFile, out var ca, out _) ? ca : null);
}

/// <summary>
/// The MQTT client to the cloud broker (contract §3) and the gateway's <see cref="ICloudPublisher"/>.
/// </summary>
/// <remarks>
/// 1. Connect (TLS for mqtts://, username/password) with a will: retained <c>status</c> <c>{"state":"offline"}</c>.
/// 2. Subscribe (QoS 1) to <c>grants</c> (retained snapshot) and <c>grants/delta</c>; every message goes
///    to <see cref="GrantsStore.Apply"/>, which verifies and applies it (MQTTnet delivers them in order).
/// 3. Publish the retained <c>status</c> online (again whenever the grants version changes).
/// 4. Drain the outgoing queue: retained messages keep only the latest per topic; others sit in a
///    bounded queue that drops the oldest when the broker is away for long.
/// 5. On a lost connection: reconnect with exponential backoff and ±20 % jitter.
/// 6. On shutdown: publish <c>status</c> offline (a clean disconnect does not fire the will) and disconnect.
/// </remarks>
public sealed partial class MqttCloudClient : BackgroundService, ICloudPublisher
{
    private readonly CloudClientSettings _settings;
    private readonly GrantsStore _store;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly IMqttClient _client;
    private readonly Channel<Outgoing> _queue;
    private readonly ConcurrentDictionary<string, byte[]> _retained = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _signal = new(0);
    private readonly string _grantsTopic;
    private readonly string _deltaTopic;
    private long _dropped;
    private const int PublishWindow = 64;
    private readonly List<Outgoing> _inFlight = new(PublishWindow); // only touched by the drain loop
    private volatile bool _disposed;

    public MqttCloudClient(CloudClientSettings settings, GrantsStore store, TimeProvider time, ILogger<MqttCloudClient> logger)
    {
        _settings = settings;
        _store = store;
        _time = time;
        _logger = logger;
        _grantsTopic = settings.Topic("grants");
        _deltaTopic = settings.Topic("grants/delta");
        _queue = Channel.CreateBounded<Outgoing>(new BoundedChannelOptions(settings.QueueCapacity)
        {
            FullMode = BoundedChannelFullMode.DropOldest,
            SingleReader = true,
        }, _ => { Interlocked.Increment(ref _dropped); });
        _client = new MqttClientFactory().CreateMqttClient();
        _client.ApplicationMessageReceivedAsync += OnMessageAsync;
        _client.DisconnectedAsync += e =>
        {
            _store.BrokerConnected = false;
            _signal.Release();
            return Task.CompletedTask;
        };
        _store.Changed += PublishStatusOnline;
    }

    public bool IsConnected => _client.IsConnected;
    /// <summary>Non-retained messages dropped because the queue was full.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Raised (on the MQTT thread) once subscribed after each connect; tests wait on it.</summary>
    public event Action? Connected;

    /// <summary>Raised (on the client's loop) each time a connection attempt or connection fails, before the backoff; tests wait on it.</summary>
    public event Action<Exception>? ConnectionFailed;

    public void Publish(string subTopic, ReadOnlyMemory<byte> payload, bool retain)
    {
        var topic = _settings.Topic(subTopic);
        if (retain)
        {
            _retained[topic] = payload.ToArray(); // Only the latest value of a retained topic matters.
        }
        else
        {
            _queue.Writer.TryWrite(new Outgoing(topic, payload.ToArray()));
        }
        _signal.Release();
    }

    private void PublishStatusOnline() => Publish("status", StatusPayload("online"), retain: true);

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
            .WithWillTopic(_settings.Topic("status"))
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

    protected override async Task ExecuteAsync(CancellationToken ct)
    {
        var attempt = 0;
        var min = _settings.ReconnectMin ?? TimeSpan.FromSeconds(1);
        var max = _settings.ReconnectMax ?? TimeSpan.FromSeconds(60);
        while (!ct.IsCancellationRequested)
        {
            try
            {
                // :: Step 1.
                var result = await _client.ConnectAsync(BuildOptions(), ct);
                if (result.ResultCode != MqttClientConnectResultCode.Success)
                {
                    throw new MqttCloudException($"broker refused the connection: {result.ResultCode}");
                }
                attempt = 0;
                LogConnected(_settings.Broker.ToString(), _settings.EffectiveClientId);
                // :: Step 2.
                var subscribe = new MqttClientSubscribeOptionsBuilder()
                    .WithTopicFilter(f => f.WithTopic(_grantsTopic).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce))
                    .WithTopicFilter(f => f.WithTopic(_deltaTopic).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce))
                    .Build();
                var sub = await _client.SubscribeAsync(subscribe, ct);
                foreach (var item in sub.Items)
                {
                    if ((int)item.ResultCode > 2)
                    {
                        throw new MqttCloudException($"broker refused the subscription to {item.TopicFilter.Topic}: {item.ResultCode}");
                    }
                }
                _store.BrokerConnected = true;
                // :: Step 3.
                PublishStatusOnline();
                Connected?.Invoke();
                // :: Step 4.
                await DrainAsync(ct);
            }
            catch (Exception) when (ct.IsCancellationRequested || _disposed)
            {
                break;
            }
            catch (Exception e)
            {
                LogConnectionFailed(_settings.Broker.ToString(), e.GetType().Name, e.Message);
                ConnectionFailed?.Invoke(e);
            }
            _store.BrokerConnected = false;
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
            // :: Step 5: exponential backoff with jitter, so that many gateways do not reconnect in lockstep.
            var delay = Backoff(attempt++, min, max, Random.Shared.NextDouble());
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
    }

    /// <summary>min·2^attempt capped at max, times a jitter factor in [0.8, 1.2).</summary>
    public static TimeSpan Backoff(int attempt, TimeSpan min, TimeSpan max, double random01)
    {
        var baseSeconds = Math.Min(max.TotalSeconds, min.TotalSeconds * Math.Pow(2, Math.Min(attempt, 30)));
        return TimeSpan.FromSeconds(baseSeconds * (0.8 + 0.4 * random01));
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
        if (topic == _grantsTopic)
        {
            kind = GrantMessageKind.Snapshot;
        }
        else if (topic == _deltaTopic)
        {
            kind = GrantMessageKind.Delta;
        }
        else
        {
            return Task.CompletedTask;
        }
        var payload = e.ApplicationMessage.Payload;
        try
        {
            if (payload.Length > _settings.MaxGrantMessageBytes)
            {
                _store.RejectOversized(kind, payload.Length); // Not even copied.
            }
            else if (payload.IsSingleSegment)
            {
                _store.Apply(kind, payload.FirstSpan);
            }
            else
            {
                _store.Apply(kind, payload.ToArray());
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
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(TimeSpan.FromSeconds(3));
                // :: Step 6.
                await PublishNowAsync(_settings.Topic("status"), StatusPayload("offline"), retain: true, timeout.Token);
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

public sealed class MqttCloudException(string message) : Exception(message);
