using System.Text;
using System.Text.Json;
using HikShareGateway.Access.Jose;
using HikShareGateway.Core.Access;
using HikShareGateway.Core.Cloud;
using HikShareGateway.Core.Diagnostics;
using Microsoft.Extensions.Logging;

namespace HikShareGateway.Access.Grants;

public enum GrantApplyOutcome
{
    /// <summary>The message changed the grants in force.</summary>
    Applied,
    /// <summary>Valid but at or below the version held (replay / rollback): ignored.</summary>
    Stale,
    /// <summary>A delta whose baseVersion is not the version held: ignored, resync requested.</summary>
    Gap,
    /// <summary>Unsigned, forged, unknown key, other alg, wrong gateway, malformed or too large: ignored.</summary>
    Rejected,
}

/// <param name="Reason">Short, stable, safe to log (never the payload).</param>
/// <param name="ResyncNeeded">The cloud should send a fresh snapshot (a delta gap, or a long delta chain): the cloud link
/// publishes <c>grants/resync</c>; the store itself publishes nothing.</param>
public readonly record struct GrantApplyResult(GrantApplyOutcome Outcome, string? Reason, long HeldVersion, bool ResyncNeeded = false);

public sealed record GrantsStoreSettings(string GatewayId, string? StateDirectory, int MaxMessageBytes = 1024 * 1024)
{
    public const string StateFileName = "grants.json";
    public string? StateFile => StateDirectory is null ? null : Path.Combine(StateDirectory, StateFileName);
}

/// <summary>
/// Holds the grants in force and applies signed grant messages (contract §3).
/// </summary>
/// <remarks>
/// Apply pipeline:
/// 1. size limit, JWS verification (alg EdDSA, trusted kid, Ed25519 signature) — before any payload is parsed;
/// 2. strict payload parsing (<see cref="GrantsJson"/>), gatewayId check;
/// 3. version rules: snapshot if version &gt; held; delta if baseVersion == held, gap → "resync needed"; else stale;
/// 4. a new immutable <see cref="GrantsState"/> and <see cref="AccessIndex"/> are swapped in;
/// 5. <see cref="Changed"/> is raised (the session registry cuts sessions synchronously in it);
/// 6. the signed messages are written to the state file (temp + fsync + rename).
/// A share reaching <c>expiresAt</c> re-runs 4–5 from a timer on the injected <see cref="TimeProvider"/>.
/// The store never publishes: a result that needs the cloud's attention says so (<see cref="GrantApplyResult.ResyncNeeded"/>)
/// and the cloud link (<see cref="IGrantsInbox"/>'s caller) acts on it.
/// </remarks>
public sealed partial class GrantsStore : IAccessPolicy, IGrantsStatus, IGrantsInbox, IDisposable
{
    private const int StateFileFormat = 1;
    /// <summary>
    /// The state file keeps the signed snapshot and every delta since (the gateway cannot re-sign a merged
    /// state). After this many deltas the gateway asks the cloud for a fresh snapshot with a resync, and
    /// again every time as many more arrive, so that the file stays small.
    /// </summary>
    public const int DeltasBeforeResync = 256;

    /// <summary>The longest the expiry timer waits at once (timers refuse more than ~49.7 days).</summary>
    public static readonly TimeSpan MaxExpiryWait = TimeSpan.FromDays(1);

    private readonly GrantsStoreSettings _settings;
    private readonly TrustedKeySet _keys;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly IBrokerStatus? _broker;
    private readonly GatewayMetrics _metrics;
    private readonly object _lock = new();
    private readonly ITimer _expiryTimer;

    private volatile AccessIndex _index = AccessIndex.Empty;
    private GrantsState _state = GrantsState.Empty;
    // The signed messages that produced _state, kept to persist them (re-verified on load).
    private string? _snapshotJws;
    private readonly List<string> _deltaJws = [];
    private DateTimeOffset? _appliedAt;
    private string _source = "none";
    private bool _disposed;

    /// <param name="broker">The cloud link's status, only reported (<see cref="IGrantsStatus.BrokerConnected"/>); null: no link.</param>
    public GrantsStore(GrantsStoreSettings settings, TrustedKeySet keys, TimeProvider time, ILogger<GrantsStore> logger, IBrokerStatus? broker = null, GatewayMetrics? metrics = null)
    {
        _metrics = metrics ?? GatewayMetrics.Unexported;
        _settings = settings;
        _keys = keys;
        _time = time;
        _logger = logger;
        _broker = broker;
        _expiryTimer = time.CreateTimer(_ => OnExpiryTimer(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <inheritdoc/>
    public event Action? Changed;

    public long Version => Volatile.Read(ref _state).Version;
    public DateTimeOffset? AppliedAt => _appliedAt;
    public string Source => _source;
    /// <summary>Reported from the cloud link's <see cref="IBrokerStatus"/> (the store does not know the broker).</summary>
    public bool BrokerConnected => _broker?.BrokerConnected ?? false;
    public int MaxMessageBytes => _settings.MaxMessageBytes;
    public GrantsState State => Volatile.Read(ref _state);
    /// <summary>Deltas applied since the last snapshot (all kept in the state file).</summary>
    public int DeltaCount { get { lock (_lock) { return _deltaJws.Count; } } }
    public AccessIndex Index => _index;

    public bool IsAllowed(string account, string deviceId, int channel, Privilege privilege) => _index.IsAllowed(account, deviceId, channel, privilege);
    public IReadOnlyList<DeviceAccess> GetVisibleDevices(string account) => _index.GetVisibleDevices(account);
    public IReadOnlyList<string> GetAlarmRecipients(string deviceId, int channel) => _index.GetAlarmRecipients(deviceId, channel);

    /// <summary>Applies one message received from the broker (or a test). Never throws on bad input.</summary>
    public GrantApplyResult Apply(GrantMessageKind kind, ReadOnlySpan<byte> message)
    {
        var result = ApplyCore(kind, message, persist: true, source: "mqtt");
        switch (result.Outcome)
        {
            case GrantApplyOutcome.Rejected:
                _metrics.GrantMessagesRejected.Add(1, new KeyValuePair<string, object?>("reason", result.Reason));
                LogRejected(kind, message.Length, result.Reason!, result.HeldVersion);
                break;
            case GrantApplyOutcome.Stale:
                LogStale(kind, result.Reason!, result.HeldVersion);
                break;
            case GrantApplyOutcome.Gap:
                LogGap(result.Reason!, result.HeldVersion);
                result = result with { ResyncNeeded = true };
                break;
            case GrantApplyOutcome.Applied:
                LogApplied(kind, result.HeldVersion, _state.Devices.Count, _state.Shares.Count);
                if (kind == GrantMessageKind.Delta && DeltaCount > 0 && DeltaCount % DeltasBeforeResync == 0)
                {
                    LogLongDeltaChain(DeltaCount, result.HeldVersion);
                    result = result with { ResyncNeeded = true };
                }
                break;
        }
        return result;
    }

    GrantsReceipt IGrantsInbox.Receive(GrantMessageKind kind, ReadOnlySpan<byte> message)
    {
        var r = Apply(kind, message);
        return new GrantsReceipt(r.HeldVersion, r.ResyncNeeded, r.Outcome == GrantApplyOutcome.Rejected ? ReasonCode(r.Reason) : null);
    }

    /// <summary>A message too large to even copy (the MQTT client checks the length first): counted and logged like any rejection.</summary>
    public GrantsReceipt RejectOversized(GrantMessageKind kind, long length)
    {
        _metrics.GrantMessagesRejected.Add(1, new KeyValuePair<string, object?>("reason", "too-large"));
        LogRejected(kind, (int)Math.Min(length, int.MaxValue), "too-large", Version);
        return new GrantsReceipt(Version, false, "too-large");
    }

    /// <summary>The stable code of a rejection reason (the part before any detail: "invalid-payload: …" → "invalid-payload").</summary>
    private static string ReasonCode(string? reason)
    {
        if (string.IsNullOrEmpty(reason))
        {
            return "rejected";
        }
        var colon = reason.IndexOf(':');
        return colon < 0 ? reason : reason[..colon];
    }

    private GrantApplyResult ApplyCore(GrantMessageKind kind, ReadOnlySpan<byte> message, bool persist, string source)
    {
        // :: Step 1: size and signature, before the payload is even decoded.
        if (message.Length > _settings.MaxMessageBytes)
        {
            return new(GrantApplyOutcome.Rejected, "too-large", Version);
        }
        var jwsError = Jws.TryVerify(message, _keys, _settings.MaxMessageBytes, out var payload, out _);
        if (jwsError != JwsError.None)
        {
            return new(GrantApplyOutcome.Rejected, jwsError.ReasonName(), Version);
        }

        // :: Step 2: strict parse; the gateway id must be ours.
        GrantsSnapshot? snapshot = null;
        GrantsDelta? delta = null;
        string? error;
        var ok = kind == GrantMessageKind.Snapshot
            ? GrantsJson.TryParseSnapshot(payload, out snapshot, out error)
            : GrantsJson.TryParseDelta(payload, out delta, out error);
        if (!ok)
        {
            return new(GrantApplyOutcome.Rejected, "invalid-payload: " + error, Version);
        }
        var gatewayId = snapshot?.GatewayId ?? delta!.GatewayId;
        if (!string.Equals(gatewayId, _settings.GatewayId, StringComparison.Ordinal))
        {
            return new(GrantApplyOutcome.Rejected, "wrong-gateway", Version);
        }
        var jws = Encoding.ASCII.GetString(message.Trim(" \t\r\n"u8));

        lock (_lock)
        {
            if (_disposed)
            {
                return new(GrantApplyOutcome.Stale, "store stopped", _state.Version);
            }
            var held = _state.Version;
            // :: Step 3: version rules (contract §3).
            GrantsState next;
            if (snapshot is not null)
            {
                if (snapshot.Version <= held)
                {
                    return new(GrantApplyOutcome.Stale, $"snapshot version {snapshot.Version} <= held", held);
                }
                next = GrantsState.FromSnapshot(snapshot);
                _snapshotJws = jws;
                _deltaJws.Clear();
            }
            else
            {
                if (delta!.Version <= held)
                {
                    return new(GrantApplyOutcome.Stale, $"delta version {delta.Version} <= held", held);
                }
                if (delta.BaseVersion != held)
                {
                    return new(GrantApplyOutcome.Gap, $"delta base {delta.BaseVersion} != held", held);
                }
                next = _state.Apply(delta);
                _deltaJws.Add(jws);
            }
            // :: Steps 4-6.
            SwapLocked(next, source);
            if (persist)
            {
                PersistLocked();
            }
            return new(GrantApplyOutcome.Applied, null, next.Version);
        }
    }

    private void SwapLocked(GrantsState next, string source)
    {
        var now = _time.GetUtcNow();
        var index = AccessIndex.Build(next, now);
        Volatile.Write(ref _state, next);
        _index = index;
        _appliedAt = now;
        _source = source;
        ScheduleExpiryLocked(index, now);
        RaiseChanged();
    }

    private void RaiseChanged()
    {
        var handlers = Changed;
        if (handlers is null)
        {
            return;
        }
        foreach (var h in handlers.GetInvocationList())
        {
            try
            {
                ((Action)h)();
            }
            catch (Exception e)
            {
                LogChangedHandlerFailed(e);
            }
        }
    }

    private void ScheduleExpiryLocked(AccessIndex index, DateTimeOffset now)
    {
        if (index.NextExpiry is { } at)
        {
            // A timer takes at most 2^32-2 ms (~49.7 days); a share expiring later wakes the store once a day, which
            // rebuilds the index (nothing expired yet) and schedules again.
            var due = at - now;
            _expiryTimer.Change(due < TimeSpan.Zero ? TimeSpan.Zero : due > MaxExpiryWait ? MaxExpiryWait : due, Timeout.InfiniteTimeSpan);
        }
        else
        {
            _expiryTimer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>A share reached its expiresAt: rebuild the index at the new instant and tell everyone (no message needed).</summary>
    private void OnExpiryTimer()
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }
            var now = _time.GetUtcNow();
            var index = AccessIndex.Build(_state, now);
            _index = index;
            ScheduleExpiryLocked(index, now);
            LogExpiryReevaluated(_state.Version);
            RaiseChanged();
        }
    }

    // :: Persistence.

    private void PersistLocked()
    {
        var file = _settings.StateFile;
        if (file is null || _snapshotJws is null)
        {
            return;
        }
        try
        {
            Directory.CreateDirectory(_settings.StateDirectory!);
            var content = JsonSerializer.SerializeToUtf8Bytes(new PersistedGrants
            {
                Format = StateFileFormat,
                GatewayId = _settings.GatewayId,
                Version = _state.Version,
                Snapshot = _snapshotJws,
                Deltas = [.. _deltaJws],
            }, GrantsStateJson.Default.PersistedGrants);
            AtomicFile.Write(file, content);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Keep enforcing what is in memory; the next change tries again.
            LogPersistFailed(file, e.Message);
        }
    }

    /// <summary>
    /// Loads the state file (at start, before the broker is reached). Every message in it is verified
    /// again against today's trusted keys; a corrupt or untrusted file is reported and ignored (deny by default).
    /// </summary>
    public bool Load()
    {
        var file = _settings.StateFile;
        if (file is null || !File.Exists(file))
        {
            LogNoStateFile(file ?? "(none)");
            return false;
        }
        PersistedGrants? persisted;
        try
        {
            persisted = JsonSerializer.Deserialize(File.ReadAllBytes(file), GrantsStateJson.Default.PersistedGrants);
        }
        catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException)
        {
            LogStateFileIgnored(file, "unreadable: " + e.Message.Split('\n')[0]);
            return false;
        }
        if (persisted is null || persisted.Format != StateFileFormat || persisted.Snapshot is null)
        {
            LogStateFileIgnored(file, "not a grants state file of format 1");
            return false;
        }

        lock (_lock)
        {
            var saved = (_state, _snapshotJws, Deltas: _deltaJws.ToList(), _source, _appliedAt);
            _state = GrantsState.Empty;
            _snapshotJws = null;
            _deltaJws.Clear();
            var r = ApplyCoreUnlocked(GrantMessageKind.Snapshot, persisted.Snapshot);
            for (var i = 0; r.Outcome == GrantApplyOutcome.Applied && i < (persisted.Deltas?.Count ?? 0); i++)
            {
                r = ApplyCoreUnlocked(GrantMessageKind.Delta, persisted.Deltas![i]);
            }
            if (r.Outcome != GrantApplyOutcome.Applied)
            {
                (_state, _snapshotJws) = (saved._state, saved._snapshotJws);
                _deltaJws.Clear();
                _deltaJws.AddRange(saved.Deltas);
                (_source, _appliedAt) = (saved._source, saved._appliedAt);
                var now = _time.GetUtcNow();
                _index = AccessIndex.Build(_state, now);
                ScheduleExpiryLocked(_index, now);
                RaiseChanged(); // a valid prefix of the file may have been applied for a moment
                _metrics.GrantMessagesRejected.Add(1, new KeyValuePair<string, object?>("reason", "state-file"));
                LogStateFileIgnored(file, r.Reason ?? r.Outcome.ToString());
                return false;
            }
            LogLoaded(file, _state.Version, _state.Devices.Count, _state.Shares.Count);
            return true;
        }
    }

    // Load() holds the lock already; Monitor is re-entrant so ApplyCore can be reused as is.
    private GrantApplyResult ApplyCoreUnlocked(GrantMessageKind kind, string jws)
        => ApplyCore(kind, Encoding.ASCII.GetBytes(jws), persist: false, source: "state-file");

    public void Dispose()
    {
        lock (_lock)
        {
            _disposed = true;
        }
        _expiryTimer.Dispose();
    }

    internal sealed class PersistedGrants
    {
        public int Format { get; set; }
        public string? GatewayId { get; set; }
        public long Version { get; set; }
        public string? Snapshot { get; set; }
        public List<string>? Deltas { get; set; }
    }

    [LoggerMessage(EventId = 3100, Level = LogLevel.Warning, Message = "Rejected a grants {Kind} of {Length} bytes: {Reason}; nothing changed (holding version {Held})")]
    private partial void LogRejected(GrantMessageKind kind, int length, string reason, long held);

    [LoggerMessage(EventId = 3101, Level = LogLevel.Information, Message = "Ignored a grants {Kind}: {Reason} (holding version {Held}; replay or rollback)")]
    private partial void LogStale(GrantMessageKind kind, string reason, long held);

    [LoggerMessage(EventId = 3102, Level = LogLevel.Warning, Message = "Grants delta gap: {Reason} (holding version {Held}); kept the grants held and requested a resync")]
    private partial void LogGap(string reason, long held);

    [LoggerMessage(EventId = 3103, Level = LogLevel.Information, Message = "Applied grants {Kind}: version {Version}, {Devices} devices, {Shares} shares")]
    private partial void LogApplied(GrantMessageKind kind, long version, int devices, int shares);

    [LoggerMessage(EventId = 3104, Level = LogLevel.Information, Message = "A share reached its expiry: access re-evaluated (grants version {Version})")]
    private partial void LogExpiryReevaluated(long version);

    [LoggerMessage(EventId = 3105, Level = LogLevel.Error, Message = "Could not write the grants state file {File}: {Error}; grants stay in force in memory")]
    private partial void LogPersistFailed(string file, string error);

    [LoggerMessage(EventId = 3106, Level = LogLevel.Error, Message = "Ignored the grants state file {File}: {Reason}. No access until signed grants arrive from the cloud")]
    private partial void LogStateFileIgnored(string file, string reason);

    [LoggerMessage(EventId = 3107, Level = LogLevel.Information, Message = "Loaded grants from {File}: version {Version}, {Devices} devices, {Shares} shares (enforced until the broker sends newer ones)")]
    private partial void LogLoaded(string file, long version, int devices, int shares);

    [LoggerMessage(EventId = 3108, Level = LogLevel.Information, Message = "No grants state file at {File}: nobody has access until signed grants arrive")]
    private partial void LogNoStateFile(string file);

    [LoggerMessage(EventId = 3110, Level = LogLevel.Information, Message = "{Deltas} grants deltas applied since the last snapshot (version {Version}); requested a fresh snapshot with a resync")]
    private partial void LogLongDeltaChain(int deltas, long version);

    [LoggerMessage(EventId = 3109, Level = LogLevel.Error, Message = "A grants Changed handler failed")]
    private partial void LogChangedHandlerFailed(Exception e);
}

/// <summary>Write-temp + fsync + rename, so a crash leaves either the old or the new file, never half of one.</summary>
public static class AtomicFile
{
    public static void Write(string path, ReadOnlySpan<byte> content)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        var temp = Path.Combine(dir, "." + Path.GetFileName(path) + "." + Environment.ProcessId + ".tmp");
        using (var fs = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 4096, FileOptions.None))
        {
            fs.Write(content);
            fs.Flush(flushToDisk: true); // fsync(2) before the rename makes it visible.
        }
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(temp, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
        File.Move(temp, path, overwrite: true); // rename(2): atomic on POSIX file systems.
    }
}
