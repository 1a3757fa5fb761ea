using System.Net;
using HikShareGateway.Core.Access;
using HikShareGateway.Core.Devices;
using HikShareGateway.Core.Diagnostics;
using HikShareGateway.Core.WebRtc;
using HikShareGateway.Media;
using HikShareGateway.Tests.Infrastructure;
using HikShareGateway.WebRtc.Diagnostics;
using HikShareGateway.WebRtc.Dtls;
using HikShareGateway.WebRtc.Ice;
using HikShareGateway.WebRtc.Viewing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace HikShareGateway.WebRtc.Tests.Viewing;

/// <summary>
/// The offers' <c>Ended</c> callback on the real viewing service (sessions that never connect: no browser): a playback
/// session calls it once with the reason when it is revoked or closed, as a live one does; a callback that throws is
/// logged (event 7104) and the session still ends.
/// </summary>
[Trait("Category", "Unit")]
public sealed class WebRtcViewingEndedTests : IAsyncLifetime
{
    private const string Device = "nvr-1";
    private const string Account = "viewer@example.com";
    private readonly RecordingLogger<WebRtcViewingEndedTests> _log = new();
    private readonly CapturingRegistry _registry = new();
    private UdpMux _mux = null!;
    private WebRtcSessionContext _context = null!;
    private LiveRelay _cameras = null!;

    public Task InitializeAsync()
    {
        _mux = new UdpMux(new IPEndPoint(IPAddress.Loopback, 0), TimeProvider.System, NullLogger.Instance, new DropCounters());
        _mux.Start();
        _context = new WebRtcSessionContext(_mux, DtlsCertificate.Create(TimeProvider.System), new WebRtcOptions(),
            HostCandidates.For(["127.0.0.1"], _mux.LocalEndPoint.Port), TimeProvider.System, new OneLoggerFactory(_log));
        _cameras = new LiveRelay(new Connector(), new RelayOptions(), TimeProvider.System, NullLoggerFactory.Instance);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _cameras.DisposeAsync();
        await _mux.DisposeAsync();
    }

    private WebRtcViewingService Service() => new(_context, new WebRtcViewingOptions(), _cameras,
        new StaticDeviceCatalog([new DeviceInfo { DeviceId = Device, Channels = [new ChannelInfo { Channel = 1 }] }]),
        new AllowAll(), _registry, new NoAudit(), GatewayMetrics.Unexported, playback: new Recorder());

    private static byte[] ChromiumOffer =>
        File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Fixtures", "chromium-recvonly-video.sdp"));

    private static WebRtcPlaybackOffer PlaybackOffer(Action<string, string> ended) =>
        new(Account, Device, 1, DateTimeOffset.Parse("2026-11-25T10:00:00Z", System.Globalization.CultureInfo.InvariantCulture), null,
            ChromiumOffer, "cloud", null) { Ended = ended };

    private static WebRtcLiveOffer LiveOffer(Action<string, string> ended) =>
        new(Account, Device, 1, StreamKind.Main, ChromiumOffer, "127.0.0.1:5000", IPAddress.Loopback, WebRtcSignalling.Cloud) { Ended = ended };

    [Fact]
    public async Task PlaybackSession_Revoked_CallsEndedOnce_WithItsIdAndTheRevocationReason()
    {
        await using var service = Service();
        var ended = new EndedProbe();
        var answer = await service.OpenPlaybackAsync(PlaybackOffer(ended.Call), CancellationToken.None);
        Assert.Equal(201, answer.Status);
        Assert.Equal(0, ended.Calls);

        // The registry revokes on its own thread; the handle closes on the pool.
        _registry.Single(Privilege.Playback).Revoke("the share was deleted");
        var (sessionId, reason) = await ended.First.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(answer.SessionId, sessionId);
        Assert.Equal("revoked: the share was deleted", reason);
        Assert.Equal(0, service.SessionCount);
        Assert.False(service.Close(answer.SessionId!, Account, "too late"));
        Assert.Equal(1, ended.Calls);
    }

    [Fact]
    public async Task PlaybackSession_ClosedByTheViewer_CallsEndedOnce_ASecondCloseFindsNothing()
    {
        await using var service = Service();
        var ended = new EndedProbe();
        var answer = await service.OpenPlaybackAsync(PlaybackOffer(ended.Call), CancellationToken.None);
        Assert.Equal(201, answer.Status);

        Assert.True(service.Close(answer.SessionId!, Account, "viewer DELETE"));
        Assert.False(service.Close(answer.SessionId!, Account, "viewer DELETE again"));

        Assert.True(ended.First.IsCompleted, "Ended runs within the close that ended the session");
        Assert.Equal((answer.SessionId!, "viewer DELETE"), await ended.First);
        Assert.Equal(1, ended.Calls);
        Assert.Equal(0, service.SessionCount);
    }

    [Fact]
    public async Task PlaybackSession_EndedThatThrows_IsLoggedAs7104_AndTheSessionStillEnds()
    {
        await using var service = Service();
        var answer = await service.OpenPlaybackAsync(PlaybackOffer((_, _) => throw new InvalidOperationException("the callback broke")), CancellationToken.None);
        Assert.Equal(201, answer.Status);

        Assert.True(service.Close(answer.SessionId!, Account, "viewer DELETE"));

        Assert.Equal(0, service.SessionCount);
        var entry = Assert.Single(_log.Entries, e => e.EventId.Id == 7104);
        Assert.Equal(LogLevel.Error, entry.Level);
        Assert.Contains(answer.SessionId!, entry.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task LiveSession_Revoked_CallsEndedOnce_WithItsIdAndTheRevocationReason_AsBefore()
    {
        await using var service = Service();
        var ended = new EndedProbe();
        var answer = await service.OpenLiveAsync(LiveOffer(ended.Call), CancellationToken.None);
        Assert.Equal(201, answer.Status);

        _registry.Single(Privilege.LiveView).Revoke("the share was deleted");
        var (sessionId, reason) = await ended.First.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(answer.SessionId, sessionId);
        Assert.Equal("revoked: the share was deleted", reason);
        Assert.False(service.Close(answer.SessionId!, Account, "too late"));
        Assert.Equal(1, ended.Calls);
    }

    [Fact]
    public async Task LiveSession_EndedThatThrows_IsLoggedAs7104_InsteadOfThrowingIntoTheCloser()
    {
        await using var service = Service();
        var answer = await service.OpenLiveAsync(LiveOffer((_, _) => throw new InvalidOperationException("the callback broke")), CancellationToken.None);
        Assert.Equal(201, answer.Status);

        Assert.True(service.Close(answer.SessionId!, Account, "viewer DELETE"));

        Assert.Equal(0, service.SessionCount);
        Assert.Single(_log.Entries, e => e.EventId.Id == 7104 && e.Message.Contains(answer.SessionId!, StringComparison.Ordinal));
    }

    /// <summary>Counts the calls of an <c>Ended</c> callback and hands over the first.</summary>
    private sealed class EndedProbe
    {
        private readonly TaskCompletionSource<(string SessionId, string Reason)> _first = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _calls;

        public Task<(string SessionId, string Reason)> First => _first.Task;
        public int Calls => Volatile.Read(ref _calls);

        public void Call(string sessionId, string reason)
        {
            Interlocked.Increment(ref _calls);
            _first.TrySetResult((sessionId, reason));
        }
    }

    private static MediaDescription H264Media() => new(
    [
        new MediaTrack { Type = "video", EncodingName = "H264", ClockRate = 90000, PayloadType = 96, FormatParameters = "packetization-mode=1;profile-level-id=42e01f" },
    ]);

    /// <summary>A recorder whose sessions announce H.264 and send nothing until closed.</summary>
    private sealed class Recorder : IPlaybackSourceConnector
    {
        public Task<IMediaSource> ConnectAsync(string deviceId, int channel, DateTimeOffset start, DateTimeOffset? end, CancellationToken ct)
            => Task.FromResult<IMediaSource>(new SilentMediaSource(H264Media()));
    }

    private sealed class Connector : IMediaSourceConnector
    {
        public Task<IMediaSource> ConnectAsync(string deviceId, int channel, StreamKind kind, CancellationToken ct)
            => Task.FromResult<IMediaSource>(new SilentMediaSource(H264Media()));
    }

    /// <summary>Keeps what was registered, so that a test can revoke it as a grant change would.</summary>
    private sealed class CapturingRegistry : ISessionRegistry
    {
        private readonly List<ViewerSession> _sessions = [];

        public IDisposable Register(ViewerSession session)
        {
            lock (_sessions) _sessions.Add(session);
            return new Nothing();
        }

        public IReadOnlyList<ViewerSession> ActiveSessions { get { lock (_sessions) return [.. _sessions]; } }

        public ViewerSession Single(Privilege action) => Assert.Single(ActiveSessions, s => s.Action == action);

        private sealed class Nothing : IDisposable { public void Dispose() { } }
    }

    private sealed class AllowAll : IAccessPolicy
    {
        public long Version => 1;
        public bool IsAllowed(string account, string deviceId, int channel, Privilege privilege) => true;
        public IReadOnlyList<DeviceAccess> GetVisibleDevices(string account) => [];
        public IReadOnlyList<string> GetAlarmRecipients(string deviceId, int channel) => [];
        public event Action? Changed { add { } remove { } }
    }

    private sealed class NoAudit : IAuditSink
    {
        public void Record(AuditEvent auditEvent) { }
    }

    /// <summary>Every category to one recording logger.</summary>
    private sealed class OneLoggerFactory(ILogger logger) : ILoggerFactory
    {
        public ILogger CreateLogger(string categoryName) => logger;
        public void AddProvider(ILoggerProvider provider) { }
        public void Dispose() { }
    }
}
