using System.Net;
using HikShareGateway.Core.Access;
using HikShareGateway.Core.Devices;
using HikShareGateway.Core.Diagnostics;
using HikShareGateway.Core.Ptz;
using Microsoft.Extensions.Logging;

namespace HikShareGateway.Http;

// Defaults registered with TryAdd for interfaces other features own: each one fails safe (nobody is let
// in, nothing is claimed) so that the HTTP API works, and denies, in a build without those features.

/// <summary>No authenticator configured: every token is refused.</summary>
internal sealed class RejectAllAuthenticator : IViewerAuthenticator
{
    public AuthResult Authenticate(in ViewerCredentials credentials, IPAddress? remote) =>
        credentials.IsEmpty ? AuthResult.Missing : AuthResult.Fail("no viewer authenticator is configured (Cloud:TrustedKeys)");
}

/// <summary>No grants feature: nothing was ever received.</summary>
internal sealed class NoGrantsStatus : IGrantsStatus
{
    public long Version => 0;
    public DateTimeOffset? AppliedAt => null;
    public string Source => "none";
    public bool BrokerConnected => false;
}

/// <summary>Keeps the running sessions for status and metrics; without the access feature nothing revokes them.</summary>
internal sealed class InMemorySessionRegistry : ISessionRegistry
{
    private readonly Lock _gate = new();
    private readonly List<ViewerSession> _sessions = [];

    public IReadOnlyList<ViewerSession> ActiveSessions { get { lock (_gate) { return [.. _sessions]; } } }

    public IDisposable Register(ViewerSession session)
    {
        lock (_gate) { _sessions.Add(session); }
        return new Registration(this, session);
    }

    private sealed class Registration(InMemorySessionRegistry owner, ViewerSession session) : IDisposable
    {
        private int _disposed;
        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                lock (owner._gate) { owner._sessions.Remove(session); }
            }
        }
    }
}

/// <summary>Audit into the log only (the access feature publishes to MQTT).</summary>
internal sealed partial class LogAuditSink(ILogger<LogAuditSink> logger) : IAuditSink
{
    public void Record(AuditEvent e) =>
        LogAudit(logger, e.Action.ToContractName(), e.Decision.ToString().ToLowerInvariant(), e.Account, e.DeviceId, e.Channel, e.SessionId, e.Reason, e.Remote);

    [LoggerMessage(EventId = 5900, Level = LogLevel.Information,
        Message = "Audit {Action} {Decision} account={Account} device={DeviceId} channel={Channel} session={SessionId} reason={Reason} remote={Remote}")]
    private static partial void LogAudit(ILogger logger, string action, string decision, string account, string deviceId, int channel, string sessionId, string reason, string remote);
}

/// <summary>No PTZ backend in this build: every command is "not supported" (409).</summary>
internal sealed class UnavailablePtzService : IPtzService
{
    private static DeviceException NotAvailable() => new(DeviceErrorKind.NotSupported, "PTZ control is not available in this build of the gateway.");
    public Task MoveAsync(string deviceId, int channel, PtzMove move, CancellationToken cancellationToken) => throw NotAvailable();
    public Task StopAsync(string deviceId, int channel, CancellationToken cancellationToken) => throw NotAvailable();
    public Task<IReadOnlyList<PtzPreset>> GetPresetsAsync(string deviceId, int channel, CancellationToken cancellationToken) => throw NotAvailable();
    public Task GotoPresetAsync(string deviceId, int channel, string presetToken, CancellationToken cancellationToken) => throw NotAvailable();
}
