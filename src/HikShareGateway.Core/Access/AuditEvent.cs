namespace HikShareGateway.Core.Access;

public enum AuditDecision { Allow, Deny, Revoked, End }

/// <summary>One viewer decision (contract §8).</summary>
public sealed record AuditEvent(
    DateTimeOffset At,
    string SessionId,
    string Account,
    string DeviceId,
    int Channel,
    Privilege Action,
    AuditDecision Decision,
    string Reason,
    string Remote);

/// <summary>Where audit events go (MQTT <c>{p}/gateways/{gw}/audit</c>, logs, metrics). Must not block.</summary>
public interface IAuditSink
{
    void Record(AuditEvent auditEvent);
}
