using System.Collections.Concurrent;
using HikShareGateway.Core.Access;
using HikShareGateway.Core.Diagnostics;
using Microsoft.Extensions.Logging;

namespace HikShareGateway.Access.Sessions;

/// <summary>
/// Running sessions, cut when their grant goes away (contract §4). The re-evaluation runs
/// synchronously inside <see cref="IAccessPolicy.Changed"/>, i.e. right after the new grants were swapped
/// in, so a session is told to close well within 100 ms: one allocation-free check per session, and
/// <see cref="ViewerSession.Revoke"/> only queues the close.
/// </summary>
public sealed partial class SessionRegistry : ISessionRegistry, IDisposable
{
    private readonly IAccessPolicy _policy;
    private readonly IAuditSink _audit;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly GatewayMetrics _metrics;
    private readonly ConcurrentDictionary<long, Entry> _sessions = new();
    private readonly object _evaluateLock = new();
    private long _nextId;

    public SessionRegistry(IAccessPolicy policy, IAuditSink audit, TimeProvider time, ILogger<SessionRegistry> logger, GatewayMetrics? metrics = null)
    {
        _metrics = metrics ?? GatewayMetrics.Unexported;
        _policy = policy;
        _audit = audit;
        _time = time;
        _logger = logger;
        _policy.Changed += Reevaluate;
    }

    public IReadOnlyList<ViewerSession> ActiveSessions => _sessions.Values.Select(e => e.Session).ToList();

    public IDisposable Register(ViewerSession session)
    {
        var entry = new Entry(this, Interlocked.Increment(ref _nextId), session, _time.GetTimestamp());
        _sessions[entry.Id] = entry;
        // The grants may have changed between the caller's check and this registration: check again.
        if (!_policy.IsAllowed(session.Account, session.DeviceId, session.Channel, session.Action))
        {
            Cut(entry, "grant withdrawn while the session started");
        }
        return entry;
    }

    /// <summary>
    /// Re-checks every registered session against the grants now in force. Two passes: every withdrawn session is told
    /// first (its <see cref="ViewerSession.Revoke"/> queues the close) and logged, then audited. A delta that cuts 100
    /// sessions thus has all 100 closes under way before the audit work (a JSON event and a log line each) begins: on a
    /// loaded machine a preemption of this thread in the audit pass no longer holds back the later sessions' closes.
    /// </summary>
    public void Reevaluate()
    {
        lock (_evaluateLock)
        {
            List<ViewerSession>? cut = null;
            string? reason = null;
            foreach (var entry in _sessions.Values)
            {
                var s = entry.Session;
                if (!_policy.IsAllowed(s.Account, s.DeviceId, s.Channel, s.Action))
                {
                    reason ??= $"grant withdrawn (grants version {_policy.Version})";
                    if (TryCut(entry, reason))
                    {
                        (cut ??= []).Add(s);
                    }
                }
            }
            if (cut is null)
            {
                return;
            }
            var now = _time.GetUtcNow();
            foreach (var s in cut)
            {
                _audit.Record(new AuditEvent(now, s.SessionId, s.Account, s.DeviceId, s.Channel, s.Action, AuditDecision.Revoked, reason!, s.Remote));
            }
        }
    }

    private void Cut(Entry entry, string reason)
    {
        if (TryCut(entry, reason))
        {
            var s = entry.Session;
            _audit.Record(new AuditEvent(_time.GetUtcNow(), s.SessionId, s.Account, s.DeviceId, s.Channel, s.Action, AuditDecision.Revoked, reason, s.Remote));
        }
    }

    /// <summary>Removes, tells and logs one session (once); the caller audits it.</summary>
    private bool TryCut(Entry entry, string reason)
    {
        if (!_sessions.TryRemove(entry.Id, out _) || Interlocked.Exchange(ref entry.Revoked, 1) != 0)
        {
            return false;
        }
        RecordDuration(entry);
        var s = entry.Session;
        try
        {
            s.Revoke(reason);
        }
        catch (Exception e)
        {
            LogRevokeFailed(e, s.SessionId);
        }
        _metrics.Revocations.Add(1, new KeyValuePair<string, object?>("action", s.Action.ToContractName()));
        LogRevoked(s.SessionId, s.Account, s.DeviceId, s.Channel, s.Action.ToContractName(), reason);
        return true;
    }

    public void Dispose() => _policy.Changed -= Reevaluate;

    /// <summary>Once per session, when it leaves the registry (ended or cut).</summary>
    private void RecordDuration(Entry entry) =>
        _metrics.SessionDuration.Record(_time.GetElapsedTime(entry.StartedAt).TotalSeconds, new KeyValuePair<string, object?>("action", entry.Session.Action.ToContractName()));

    private sealed class Entry(SessionRegistry owner, long id, ViewerSession session, long startedAt) : IDisposable
    {
        public readonly long Id = id;
        public readonly ViewerSession Session = session;
        public readonly long StartedAt = startedAt;
        public int Revoked;

        public void Dispose()
        {
            if (owner._sessions.TryRemove(Id, out _))
            {
                owner.RecordDuration(this);
            }
        }
    }

    [LoggerMessage(EventId = 3300, Level = LogLevel.Information, Message = "Revoked session {SessionId} of {Account} on {DeviceId}/{Channel} ({Action}): {Reason}")]
    private partial void LogRevoked(string sessionId, string account, string deviceId, int channel, string action, string reason);

    [LoggerMessage(EventId = 3301, Level = LogLevel.Error, Message = "The Revoke callback of session {SessionId} threw")]
    private partial void LogRevokeFailed(Exception e, string sessionId);
}
