using System.Collections.Concurrent;
using HikShareGateway.Core.Access;
using HikShareGateway.Core.Ptz;
using Microsoft.Extensions.Logging;

namespace HikShareGateway.Http.Ptz;

/// <summary>Who sends a PTZ command.</summary>
public sealed record PtzCaller(string Account, string Remote);

/// <summary>A continuous move that is running: it ends at its timeout, on stop, on revoke, or when superseded.</summary>
public sealed class PtzMoveHandle
{
    internal PtzMoveHandle(string sessionId, DateTimeOffset stopsAt) { SessionId = sessionId; StopsAt = stopsAt; }
    public string SessionId { get; }
    public DateTimeOffset StopsAt { get; }
    internal readonly TaskCompletionSource EndedSource = new(TaskCreationOptions.RunContinuationsAsynchronously);
    /// <summary>Completes when the move no longer runs (stopped, timed out, revoked or replaced by a newer command).</summary>
    public Task Ended => EndedSource.Task;
}

/// <summary>
/// Runs PTZ commands with the safety rules of the HTTP API:
/// <list type="number">
/// <item>every command checks <see cref="Privilege.Ptz"/> on the device's channel, and is audited (allow/deny);</item>
/// <item>commands on one channel are serialised (one <see cref="SemaphoreSlim"/> per device/channel), so two callers' commands never interleave;</item>
/// <item>a continuous move always stops: the gateway itself sends Stop when its timeout elapses (the camera's own timeout is
/// only a second line), when the caller's grant is revoked (the move is a <see cref="ViewerSession"/> with action ptz),
/// and when a holding caller goes away;</item>
/// <item>a device command that takes longer than <see cref="PtzApiOptions.CommandTimeoutMs"/> is cancelled (→ 504).</item>
/// </list>
/// </summary>
public sealed partial class PtzController(
    IPtzService ptz,
    IAccessPolicy policy,
    ISessionRegistry sessions,
    IAuditSink audit,
    TimeProvider time,
    PtzApiOptions options,
    ILogger<PtzController> logger) : IDisposable
{
    private readonly ConcurrentDictionary<(string DeviceId, int Channel), ChannelState> _channels = new();
    private int _subscribed;

    /// <summary>
    /// Defence in depth beside <see cref="ViewerSession.Revoke"/>: on every grant change, running moves whose
    /// caller lost <c>ptz</c> are stopped too (idempotent with the registry's revoke).
    /// </summary>
    private void EnsureSubscribed()
    {
        if (Interlocked.Exchange(ref _subscribed, 1) == 0)
        {
            policy.Changed += OnGrantsChanged;
        }
    }

    private void OnGrantsChanged()
    {
        foreach (var state in _channels.Values)
        {
            if (Volatile.Read(ref state.Running) is { } r && !policy.IsAllowed(r.Caller.Account, r.DeviceId, r.Channel, Privilege.Ptz))
            {
                Finish(state, r, "revoked: grant changed", AuditDecision.Revoked);
            }
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _subscribed, 2) == 1)
        {
            policy.Changed -= OnGrantsChanged;
        }
    }

    /// <summary>Checks <c>ptz</c> and audits the decision. False: answer 403 (also for unknown devices).</summary>
    public bool Authorize(PtzCaller caller, string deviceId, int channel, string what)
    {
        var allowed = channel >= 1 && policy.IsAllowed(caller.Account, deviceId, channel, Privilege.Ptz);
        Audit(NewId(), caller, deviceId, channel, allowed ? AuditDecision.Allow : AuditDecision.Deny, allowed ? what : what + ": no ptz grant");
        if (!allowed)
        {
            LogDenied(logger, caller.Account, deviceId, channel, what, caller.Remote);
        }
        return allowed;
    }

    /// <summary>Moves the channel. A continuous move returns a handle; absolute/relative moves return null.</summary>
    public async Task<PtzMoveHandle?> MoveAsync(PtzCaller caller, string deviceId, int channel, PtzMove move, CancellationToken cancellationToken)
    {
        EnsureSubscribed();
        var state = _channels.GetOrAdd((deviceId, channel), static _ => new ChannelState());
        await state.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using (var cts = CommandTimeout(cancellationToken))
            {
                await ptz.MoveAsync(deviceId, channel, move, cts.Token).ConfigureAwait(false);
            }
            // The device took the newer command, which replaces the running continuous move: no Stop is sent
            // for the old one; its timer and registration go. (Had the command failed, the old move would
            // keep its own timer and still be stopped.)
            Detach(state);
            LogMoved(logger, caller.Account, deviceId, channel, move.Mode.ToString().ToLowerInvariant(), caller.Remote);
            if (move.Mode != PtzMoveMode.Continuous || IsStill(move))
            {
                return null;
            }

            var timeout = move.Timeout ?? TimeSpan.FromMilliseconds(options.DefaultTimeoutMs);
            var handle = new PtzMoveHandle(NewId(), time.GetUtcNow() + timeout);
            var running = new RunningMove(handle, caller, deviceId, channel);
            running.Registration = sessions.Register(new ViewerSession
            {
                SessionId = handle.SessionId,
                Account = caller.Account,
                DeviceId = deviceId,
                Channel = channel,
                Action = Privilege.Ptz,
                Remote = caller.Remote,
                // Must not block: the stop is queued and waits for the channel's gate.
                Revoke = reason => Finish(state, running, "revoked: " + reason, AuditDecision.Revoked),
            });
            running.Timer = time.CreateTimer(
                static s => { var (c, st, r) = ((PtzController, ChannelState, RunningMove))s!; c.Finish(st, r, "timeout", AuditDecision.End); },
                (this, state, running), timeout, Timeout.InfiniteTimeSpan);
            Volatile.Write(ref state.Running, running);
            // A grant change between the check and the registration would not reach this session: look once more.
            if (!policy.IsAllowed(caller.Account, deviceId, channel, Privilege.Ptz))
            {
                Finish(state, running, "revoked: grant removed during the command", AuditDecision.Revoked);
            }
            return handle;
        }
        finally
        {
            state.Gate.Release();
        }
    }

    /// <summary>Stops the channel (and forgets its running continuous move).</summary>
    public async Task StopAsync(PtzCaller caller, string deviceId, int channel, CancellationToken cancellationToken)
    {
        var state = _channels.GetOrAdd((deviceId, channel), static _ => new ChannelState());
        await state.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using var cts = CommandTimeout(cancellationToken);
            await ptz.StopAsync(deviceId, channel, cts.Token).ConfigureAwait(false);
            // Only once the device stopped: a failed stop leaves the running move's own timer armed.
            Detach(state);
            LogStopped(logger, caller.Account, deviceId, channel, "stop command", caller.Remote);
        }
        finally
        {
            state.Gate.Release();
        }
    }

    public async Task<IReadOnlyList<PtzPreset>> GetPresetsAsync(string deviceId, int channel, CancellationToken cancellationToken)
    {
        using var cts = CommandTimeout(cancellationToken);
        return await ptz.GetPresetsAsync(deviceId, channel, cts.Token).ConfigureAwait(false);
    }

    public async Task GotoPresetAsync(PtzCaller caller, string deviceId, int channel, string presetToken, CancellationToken cancellationToken)
    {
        var state = _channels.GetOrAdd((deviceId, channel), static _ => new ChannelState());
        await state.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using var cts = CommandTimeout(cancellationToken);
            await ptz.GotoPresetAsync(deviceId, channel, presetToken, cts.Token).ConfigureAwait(false);
            Detach(state);
            LogMoved(logger, caller.Account, deviceId, channel, "preset", caller.Remote);
        }
        finally
        {
            state.Gate.Release();
        }
    }

    /// <summary>The holding caller went away: stop its move if it still runs.</summary>
    public void Abandon(PtzMoveHandle handle, string reason)
    {
        foreach (var state in _channels.Values)
        {
            if (Volatile.Read(ref state.Running) is { } r && ReferenceEquals(r.Handle, handle))
            {
                Finish(state, r, reason, AuditDecision.End);
                return;
            }
        }
    }

    /// <summary>A linked token that fires after <see cref="PtzApiOptions.CommandTimeoutMs"/> (device timeout → 504).</summary>
    private CommandTimeoutScope CommandTimeout(CancellationToken cancellationToken) =>
        new(new CancellationTokenSource(TimeSpan.FromMilliseconds(options.CommandTimeoutMs), time), cancellationToken);

    private readonly struct CommandTimeoutScope(CancellationTokenSource timeout, CancellationToken outer) : IDisposable
    {
        private readonly CancellationTokenSource _linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, outer);
        public CancellationToken Token => _linked.Token;
        public void Dispose()
        {
            _linked.Dispose();
            timeout.Dispose();
        }
    }

    /// <summary>Under the gate: the running move (if any) no longer belongs to the channel.</summary>
    private static void Detach(ChannelState state)
    {
        if (state.Running is { } old)
        {
            Interlocked.Exchange(ref old.Finished, 1);
            old.Cleanup();
            Volatile.Write(ref state.Running, null);
        }
    }

    /// <summary>Ends a running move from a timer, a revoke or an abort: queued, never blocks the caller.</summary>
    private void Finish(ChannelState state, RunningMove running, string reason, AuditDecision decision)
    {
        if (Interlocked.Exchange(ref running.Finished, 1) != 0)
        {
            return;
        }
        _ = Task.Run(() => FinishAsync(state, running, reason, decision));
    }

    private async Task FinishAsync(ChannelState state, RunningMove running, string reason, AuditDecision decision)
    {
        await state.Gate.WaitAsync().ConfigureAwait(false);
        try
        {
            running.Timer?.Dispose();
            if (!ReferenceEquals(state.Running, running))
            {
                // Replaced by a newer command or an explicit stop meanwhile: that one owns the channel now.
                running.Cleanup();
                return;
            }
            Volatile.Write(ref state.Running, null);
            try
            {
                using var cts = CommandTimeout(CancellationToken.None);
                await ptz.StopAsync(running.DeviceId, running.Channel, cts.Token).ConfigureAwait(false);
                LogStopped(logger, running.Caller.Account, running.DeviceId, running.Channel, reason, running.Caller.Remote);
            }
            catch (Exception e)
            {
                // The camera's own timeout (sent with the move) is the second line of defence here.
                LogStopFailed(logger, e, running.Caller.Account, running.DeviceId, running.Channel, reason);
            }
            running.Cleanup();
            Audit(running.Handle.SessionId, running.Caller, running.DeviceId, running.Channel, decision, "continuous move ended: " + reason);
        }
        finally
        {
            state.Gate.Release();
        }
    }

    private void Audit(string sessionId, PtzCaller caller, string deviceId, int channel, AuditDecision decision, string reason) =>
        audit.Record(new AuditEvent(time.GetUtcNow(), sessionId, caller.Account, deviceId, channel, Privilege.Ptz, decision, reason, caller.Remote));

    private static bool IsStill(PtzMove m) => (m.Pan ?? 0) == 0 && (m.Tilt ?? 0) == 0 && (m.Zoom ?? 0) == 0;

    private static string NewId() => "ptz-" + Guid.NewGuid().ToString("N")[..16];

    private sealed class ChannelState
    {
        public readonly SemaphoreSlim Gate = new(1, 1);
        public RunningMove? Running;
    }

    private sealed class RunningMove(PtzMoveHandle handle, PtzCaller caller, string deviceId, int channel)
    {
        public PtzMoveHandle Handle { get; } = handle;
        public PtzCaller Caller { get; } = caller;
        public string DeviceId { get; } = deviceId;
        public int Channel { get; } = channel;
        public ITimer? Timer;
        public IDisposable? Registration;
        public int Finished;

        public void Cleanup()
        {
            Timer?.Dispose();
            Registration?.Dispose();
            Handle.EndedSource.TrySetResult();
        }
    }

    [LoggerMessage(EventId = 5101, Level = LogLevel.Information, Message = "PTZ {Mode} by {Account} on {DeviceId}/{Channel} from {Remote}")]
    private static partial void LogMoved(ILogger logger, string account, string deviceId, int channel, string mode, string remote);

    [LoggerMessage(EventId = 5102, Level = LogLevel.Information, Message = "PTZ stopped for {Account} on {DeviceId}/{Channel} ({Reason}) from {Remote}")]
    private static partial void LogStopped(ILogger logger, string account, string deviceId, int channel, string reason, string remote);

    [LoggerMessage(EventId = 5103, Level = LogLevel.Warning, Message = "PTZ {What} denied for {Account} on {DeviceId}/{Channel} from {Remote}")]
    private static partial void LogDenied(ILogger logger, string account, string deviceId, int channel, string what, string remote);

    [LoggerMessage(EventId = 5104, Level = LogLevel.Error, Message = "PTZ stop failed for {Account} on {DeviceId}/{Channel} ({Reason})")]
    private static partial void LogStopFailed(ILogger logger, Exception exception, string account, string deviceId, int channel, string reason);
}
