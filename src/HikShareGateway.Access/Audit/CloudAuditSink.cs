using System.Globalization;
using System.Text.Json;
using HikShareGateway.Core.Access;
using HikShareGateway.Core.Cloud;
using HikShareGateway.Core.Diagnostics;
using Microsoft.Extensions.Logging;

namespace HikShareGateway.Access.Audit;

/// <summary>
/// <see cref="IAuditSink"/>: each event goes to <c>{p}/gateways/{gw}/audit</c> as the JSON of contract §8
/// (through the non-blocking <see cref="ICloudPublisher"/> queue), to a structured log line, and to
/// <see cref="GatewayMetrics.Decisions"/> (and <see cref="GatewayMetrics.Revocations"/> is counted by the registry).
/// </summary>
public sealed partial class CloudAuditSink(ICloudPublisher publisher, ILogger<CloudAuditSink> logger, GatewayMetrics? metrics = null) : IAuditSink
{
    private readonly GatewayMetrics _metrics = metrics ?? GatewayMetrics.Unexported;

    private readonly ILogger _logger = logger;

    public void Record(AuditEvent e)
    {
        var action = e.Action.ToContractName();
        var decision = DecisionName(e.Decision);
        _metrics.Decisions.Add(1, new KeyValuePair<string, object?>("action", action), new KeyValuePair<string, object?>("decision", decision));
        LogAudit(e.SessionId, e.Account, e.DeviceId, e.Channel, action, decision, e.Reason, e.Remote);
        publisher.Publish("audit", ToJson(e), retain: false);
    }

    public static string DecisionName(AuditDecision d) => d switch
    {
        AuditDecision.Allow => "allow",
        AuditDecision.Deny => "deny",
        AuditDecision.Revoked => "revoked",
        _ => "end",
    };

    /// <summary>Contract §8 field names and values.</summary>
    public static byte[] ToJson(AuditEvent e)
    {
        using var ms = new MemoryStream(256);
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            w.WriteString("at", e.At.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture));
            w.WriteString("sessionId", e.SessionId);
            w.WriteString("account", e.Account);
            w.WriteString("deviceId", e.DeviceId);
            w.WriteNumber("channel", e.Channel);
            w.WriteString("action", e.Action.ToContractName());
            w.WriteString("decision", DecisionName(e.Decision));
            w.WriteString("reason", e.Reason);
            w.WriteString("remote", e.Remote);
            w.WriteEndObject();
        }
        return ms.ToArray();
    }

    [LoggerMessage(EventId = 3400, Level = LogLevel.Information, Message = "Audit {Decision} {Action} session {SessionId} account {Account} device {DeviceId}/{Channel} from {Remote}: {Reason}")]
    private partial void LogAudit(string sessionId, string account, string deviceId, int channel, string action, string decision, string reason, string remote);
}
