using System.Net;
using System.Text;
using HikShareGateway.Core.Access;
using HikShareGateway.Core.Devices;
using HikShareGateway.Core.Diagnostics;
using HikShareGateway.Core.WebRtc;
using HikShareGateway.Media;
using HikShareGateway.WebRtc.Diagnostics;
using HikShareGateway.WebRtc.Dtls;
using HikShareGateway.WebRtc.Ice;
using HikShareGateway.WebRtc.Viewing;
using Microsoft.Extensions.Logging.Abstractions;

namespace HikShareGateway.WebRtc.Tests.Session;

/// <summary>
/// The viewing service with an H.265 stream (a source that announces H.265 and sends nothing): an offer with H.265 gets
/// it as is; one without gets the derived H.264 stream when a transcoder is configured, 503 when none is free, and 422
/// naming H265 when there is no transcoder at all.
/// </summary>
[Trait("Category", "Unit")]
public sealed class H265ViewingTests : IAsyncLifetime
{
    private const string Device = "nvr-1";
    private UdpMux _mux = null!;
    private WebRtcSessionContext _context = null!;
    private LiveRelay _cameras = null!, _transcoded = null!;
    private readonly Connector _camera = new("H265"), _transcoder = new("H264");

    public Task InitializeAsync()
    {
        _mux = new UdpMux(new IPEndPoint(IPAddress.Loopback, 0), TimeProvider.System, NullLogger.Instance, new DropCounters());
        _mux.Start();
        _context = new WebRtcSessionContext(_mux, DtlsCertificate.Create(TimeProvider.System), new WebRtcOptions(),
            HostCandidates.For(["127.0.0.1"], _mux.LocalEndPoint.Port), TimeProvider.System, NullLoggerFactory.Instance);
        _cameras = new LiveRelay(_camera, new RelayOptions(), TimeProvider.System, NullLoggerFactory.Instance);
        _transcoded = new LiveRelay(_transcoder, new RelayOptions { UpstreamLinger = TimeSpan.Zero }, TimeProvider.System, NullLoggerFactory.Instance);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _transcoded.DisposeAsync();
        await _cameras.DisposeAsync();
        await _mux.DisposeAsync();
    }

    private WebRtcViewingService Service(IDerivedStreams? derived) => new(_context, new WebRtcViewingOptions(), _cameras,
        new StaticDeviceCatalog([new DeviceInfo { DeviceId = Device, Channels = [new ChannelInfo { Channel = 1 }] }]),
        new AllowAll(), new NoRegistry(), new NoAudit(), GatewayMetrics.Unexported, derived: derived);

    private static WebRtcLiveOffer Offer(string sdp) =>
        new("viewer@example.com", Device, 1, StreamKind.Main, Encoding.UTF8.GetBytes(sdp), "127.0.0.1:5000", IPAddress.Loopback, WebRtcSignalling.Whep);

    private static string ChromiumWithoutH265 =>
        File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "chromium-recvonly-video-audio.sdp"));

    [Fact]
    public async Task OfferWithH265_GetsTheCameraStreamAsIs_NoTranscoderAsked()
    {
        var derived = new Derived(_transcoded, refuse: null);
        await using var service = Service(derived);
        var answer = await service.OpenLiveAsync(Offer(Sdp.H265NegotiationTests.OfferWithH265()), CancellationToken.None);
        Assert.Equal(201, answer.Status);
        Assert.Contains("a=rtpmap:49 H265/90000", answer.AnswerSdp);
        Assert.Equal(0, derived.Asked);
        Assert.True(service.Close(answer.SessionId!, "viewer@example.com", "test over"));
    }

    [Fact]
    public async Task OfferWithoutH265_GetsTheDerivedH264Stream_AndItsLeaseGoesWithTheSession()
    {
        var derived = new Derived(_transcoded, refuse: null);
        await using var service = Service(derived);
        var answer = await service.OpenLiveAsync(Offer(ChromiumWithoutH265), CancellationToken.None);
        Assert.Equal(201, answer.Status);
        Assert.Contains(" H264/90000", answer.AnswerSdp);
        Assert.DoesNotContain("H265", answer.AnswerSdp);
        // Asked twice: by the service, for a refusal with its reason, then by the packetized stream over it; one transcoder.
        Assert.Equal(2, derived.Asked);
        Assert.Single(_transcoded.Streams);
        Assert.True(service.Close(answer.SessionId!, "viewer@example.com", "test over"));
        await Wait.UntilAsync(() => _transcoded.Streams.Count == 0, "the derived stream released with the session", 10_000);
    }

    [Fact]
    public async Task OfferWithoutH265_WhenNoTranscoderIsFree_Is503WithTheReason()
    {
        await using var service = Service(new Derived(_transcoded, refuse: "all 1 transcoders are in use (Media:MaxTranscoders = 1)"));
        var answer = await service.OpenLiveAsync(Offer(ChromiumWithoutH265), CancellationToken.None);
        Assert.Equal(503, answer.Status);
        Assert.Contains("MaxTranscoders", answer.Detail);
        Assert.Equal(0, service.SessionCount);
    }

    [Fact]
    public async Task OfferWithoutH265_WithoutATranscoder_Is422NamingH265()
    {
        await using var service = Service(derived: null);
        var answer = await service.OpenLiveAsync(Offer(ChromiumWithoutH265), CancellationToken.None);
        Assert.Equal(422, answer.Status);
        Assert.Contains("H265", answer.Detail);
    }

    [Fact]
    public async Task OfferWithNeitherH265NorH264_Is422_WithoutStartingATranscoder()
    {
        var derived = new Derived(_transcoded, refuse: null);
        await using var service = Service(derived);
        var answer = await service.OpenLiveAsync(Offer(ChromiumWithoutH265.Replace(" H264/90000", " XVID/90000", StringComparison.Ordinal)), CancellationToken.None);
        Assert.Equal(422, answer.Status);
        Assert.Contains("H265", answer.Detail);
        Assert.Equal(0, derived.Asked);
    }

    private sealed class Derived(LiveRelay relay, string? refuse) : IDerivedStreams
    {
        public int Asked;

        public bool TryAcquire(string deviceId, int channel, StreamKind kind, DerivedFormat format, out LiveStreamLease? lease, out string? reason)
        {
            Interlocked.Increment(ref Asked);
            Assert.Equal(DerivedFormat.H264, format);
            lease = refuse is null ? relay.Acquire(deviceId, channel, kind) : null;
            reason = refuse;
            return refuse is null;
        }
    }

    /// <summary>A source that announces one video track of <paramref name="codec"/> plus PCMU, and then sends nothing.</summary>
    private sealed class Connector(string codec) : IMediaSourceConnector
    {
        public Task<IMediaSource> ConnectAsync(string deviceId, int channel, StreamKind kind, CancellationToken ct)
            => Task.FromResult<IMediaSource>(new SilentMediaSource(new MediaDescription(
            [
                new MediaTrack { Type = "video", EncodingName = codec, ClockRate = 90000, PayloadType = 96,
                    FormatParameters = codec == "H264" ? "packetization-mode=1;profile-level-id=42e01f" : null },
                new MediaTrack { Type = "audio", EncodingName = "PCMU", ClockRate = 8000, PayloadType = 0 },
            ])));
    }

    private sealed class AllowAll : IAccessPolicy
    {
        public long Version => 1;
        public bool IsAllowed(string account, string deviceId, int channel, Privilege privilege) => true;
        public IReadOnlyList<DeviceAccess> GetVisibleDevices(string account) => [];
        public IReadOnlyList<string> GetAlarmRecipients(string deviceId, int channel) => [];
        public event Action? Changed { add { } remove { } }
    }

    private sealed class NoRegistry : ISessionRegistry
    {
        public IDisposable Register(ViewerSession session) => new Nothing();
        public IReadOnlyList<ViewerSession> ActiveSessions => [];
        private sealed class Nothing : IDisposable { public void Dispose() { } }
    }

    private sealed class NoAudit : IAuditSink
    {
        public void Record(AuditEvent auditEvent) { }
    }
}
