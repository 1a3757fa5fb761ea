using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using HikShareCloud.Service.Gateways;
using HikShareGateway.Cloud;
using Microsoft.Extensions.Logging;

namespace HikShareCloud.Service.Mqtt;

/// <summary>What the gateway answered to a relayed offer (contract §3.1 <c>webrtc/answer</c>).</summary>
/// <param name="Problem">The RFC 9457 problem JSON of a refusal, verbatim (null on 201).</param>
public sealed record RelayedAnswer(string SessionId, int Status, string? Sdp, string? Problem);

/// <summary>
/// WebRTC signalling from a browser that reaches only the service to a gateway behind NAT (contract §3.1): the offer,
/// with the viewer's own token and the configured ICE servers, goes out on <c>{p}/gateways/{gw}/webrtc/offer</c>; the
/// gateway's <c>webrtc/answer</c> with the same <c>sessionId</c> completes the waiting request. Nothing is stored: the
/// request waits in this instance's memory, and every instance subscribes to every answer (an answer for a session
/// another instance relayed is ignored here), so any instance behind a load balancer can relay.
/// </summary>
public sealed partial class WebRtcRelay(ServiceOptions options, ILogger<WebRtcRelay> logger)
{
    private readonly ConcurrentDictionary<string, (string GatewayId, TaskCompletionSource<RelayedAnswer> Answer)> _pending = new(StringComparer.Ordinal);

    /// <summary>Set by <see cref="SharingMqttLink"/>: publishes a payload (QoS 1, not retained) on a gateway's sub-topic.</summary>
    internal Func<string, string, byte[], CancellationToken, Task>? Publish { get; set; }

    /// <summary>Offers in flight (tests and metrics).</summary>
    public int Pending => _pending.Count;

    /// <summary>Relays an offer and waits for the answer; <see cref="ServiceException"/> 503 without a broker, 504 without an answer.</summary>
    public async Task<RelayedAnswer> OfferAsync(string gatewayId, string token, string path, string sdp, CancellationToken ct)
    {
        var publish = Publish ?? throw new ServiceException(503, "no-broker", "the service is not connected to the broker; try again");
        var sessionId = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12));
        var answer = new TaskCompletionSource<RelayedAnswer>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[sessionId] = (gatewayId, answer);
        try
        {
            var message = new JsonObject
            {
                ["sessionId"] = sessionId,
                ["token"] = token,
                ["path"] = path,
                ["sdp"] = sdp,
                ["iceServers"] = IceServersJson(options.IceServers),
            };
            try
            {
                await publish(gatewayId, HikShareGateway.Core.Cloud.CloudTopics.WebRtcOfferSubTopic, JsonSerializer.SerializeToUtf8Bytes(message), ct);
            }
            catch (Exception e) when (e is MqttCloudException or MQTTnet.Exceptions.MqttCommunicationException or InvalidOperationException)
            {
                throw new ServiceException(503, "no-broker", "the service could not reach the broker; try again");
            }
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(options.WebRtcAnswerSeconds));
            try
            {
                return await answer.Task.WaitAsync(timeout.Token);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                LogNoAnswer(logger, LogText.Escape(gatewayId), options.WebRtcAnswerSeconds);
                // The gateway may still answer and start a session nobody takes: tell it to drop it.
                _ = CloseAsync(gatewayId, sessionId, "no answer in time at the service", CancellationToken.None);
                throw new ServiceException(504, "gateway-timeout", $"the gateway did not answer within {options.WebRtcAnswerSeconds} s (is it connected to the broker?)");
            }
        }
        finally
        {
            _pending.TryRemove(sessionId, out _);
        }
    }

    /// <summary>Publishes <c>webrtc/close</c> for a relayed session.</summary>
    public async Task CloseAsync(string gatewayId, string sessionId, string reason, CancellationToken ct)
    {
        var publish = Publish ?? throw new ServiceException(503, "no-broker", "the service is not connected to the broker; try again");
        try
        {
            await publish(gatewayId, HikShareGateway.Core.Cloud.CloudTopics.WebRtcCloseSubTopic,
                JsonSerializer.SerializeToUtf8Bytes(new JsonObject { ["sessionId"] = sessionId, ["reason"] = reason }), ct);
        }
        catch (Exception e) when (e is MqttCloudException or MQTTnet.Exceptions.MqttCommunicationException or InvalidOperationException)
        {
            LogCloseFailed(logger, LogText.Escape(gatewayId), e.GetType().Name);
        }
    }

    /// <summary>A <c>webrtc/answer</c> from a gateway: completes the offer waiting for it, if this instance relayed it.</summary>
    internal void OnAnswer(string gatewayId, ReadOnlySpan<byte> payload)
    {
        string? sessionId;
        int status;
        string? sdp = null, problem = null;
        try
        {
            using var doc = JsonDocument.Parse(payload.ToArray());
            var root = doc.RootElement;
            sessionId = root.TryGetProperty("sessionId", out var s) && s.ValueKind == JsonValueKind.String ? s.GetString() : null;
            status = root.TryGetProperty("status", out var st) && st.TryGetInt32(out var n) ? n : 0;
            if (root.TryGetProperty("sdp", out var d) && d.ValueKind == JsonValueKind.String)
            {
                sdp = d.GetString();
            }
            if (root.TryGetProperty("problem", out var p) && p.ValueKind == JsonValueKind.Object)
            {
                problem = p.GetRawText();
            }
        }
        catch (JsonException)
        {
            LogBadAnswer(logger, LogText.Escape(gatewayId), "not JSON");
            return;
        }
        if (sessionId is null || !_pending.TryGetValue(sessionId, out var waiting))
        {
            return; // another instance's, or too late
        }
        if (waiting.GatewayId != gatewayId)
        {
            LogBadAnswer(logger, LogText.Escape(gatewayId), "answer for a session relayed to another gateway");
            return;
        }
        if (status is < 200 or > 599 || (status == 201 && string.IsNullOrEmpty(sdp)))
        {
            LogBadAnswer(logger, LogText.Escape(gatewayId), "no status, or 201 without sdp");
            waiting.Answer.TrySetResult(new RelayedAnswer(sessionId, 502, null, null));
            return;
        }
        waiting.Answer.TrySetResult(new RelayedAnswer(sessionId, status, sdp, problem));
    }

    internal static JsonArray IceServersJson(IReadOnlyList<IceServerOptions> servers)
    {
        var array = new JsonArray();
        foreach (var s in servers)
        {
            var o = new JsonObject { ["urls"] = new JsonArray(s.Urls.Select(u => (JsonNode?)JsonValue.Create(u)).ToArray()) };
            if (s.Username is not null)
            {
                o["username"] = s.Username;
            }
            if (s.Credential is not null)
            {
                o["credential"] = s.Credential;
            }
            array.Add(o);
        }
        return array;
    }

    [LoggerMessage(EventId = 7040, Level = LogLevel.Warning, Message = "Gateway {GatewayId} did not answer a relayed WebRTC offer within {Seconds} s")]
    private static partial void LogNoAnswer(ILogger logger, string gatewayId, int seconds);

    [LoggerMessage(EventId = 7041, Level = LogLevel.Warning, Message = "Ignored a webrtc/answer from gateway {GatewayId}: {Reason}")]
    private static partial void LogBadAnswer(ILogger logger, string gatewayId, string reason);

    [LoggerMessage(EventId = 7042, Level = LogLevel.Warning, Message = "Could not relay webrtc/close to gateway {GatewayId} ({Error})")]
    private static partial void LogCloseFailed(ILogger logger, string gatewayId, string error);
}
