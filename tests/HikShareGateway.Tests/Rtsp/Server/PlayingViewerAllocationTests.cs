using System.Buffers;
using System.Buffers.Text;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Text;
using HikShareGateway.Core.Access;
using HikShareGateway.Rtsp.Protocol;
using HikShareGateway.Rtsp.Server;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Xunit.Abstractions;

namespace HikShareGateway.Tests.Rtsp.Server;

/// <summary>
/// Not run beside other tests: the allocation counter is the process's (<see cref="GC.GetTotalAllocatedBytes"/>), and
/// what a parallel test allocates would be counted as the viewer's.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class AllocationCountingCollection
{
    public const string Name = "allocation counting (alone in the process)";
}

/// <summary>
/// What a playing viewer's own traffic costs the gateway's heap (issue 16: allocations on the packet path below 0.01 per
/// packet): its keep-alives (ffmpeg 5.1 sends <c>GET_PARAMETER</c> with its Session header at half the session timeout,
/// other players <c>OPTIONS</c>) and its RTCP receiver reports interleaved on the connection (live555, GStreamer). The
/// viewer plays on a real <see cref="RtspServer"/> over loopback, with media that sends nothing, so that the counter
/// sees only what these requests cost; the client side allocates nothing (prebuilt bytes, one receive buffer).
/// </summary>
[Trait("Category", "Unit")]
[Collection(AllocationCountingCollection.Name)]
public sealed class PlayingViewerAllocationTests(ITestOutputHelper output)
{
    private const string Token = "viewer-token";
    private const int Rounds = 6;
    private const int PerRound = 500;

    /// <summary>
    /// The bound on the bytes allocated per request, on average over a round: a third of the smallest object (24 B), so
    /// one allocation per request fails it. The counter is the process's, so a runtime or test-host timer firing during
    /// a round adds a few hundred bytes spread over 500 requests (below 1 B each), and the least of six rounds is taken.
    /// Measured: 0.0 for each kind; before keep-alives were answered from the bytes, a GET_PARAMETER cost ~2.6 KB.
    /// </summary>
    private const double MaxBytesPerRequest = 8;

    [Fact]
    public async Task APlayingViewersKeepAlives_AndReceiverReports_AllocateNothingPerRequest()
    {
        await using var rig = await Rig.StartAsync();
        await using var viewer = await PlayingViewer.ConnectAsync(rig.Port);

        var getParameter = await MeasureAsync(viewer, "GET_PARAMETER", receiverReports: 0);
        var options = await MeasureAsync(viewer, "OPTIONS", receiverReports: 0);
        // Four receiver reports per keep-alive, all in one write as a player's buffered output arrives.
        var withReports = await MeasureAsync(viewer, "GET_PARAMETER", receiverReports: 4);
        output.WriteLine($"B/request: GET_PARAMETER {getParameter:F1}, OPTIONS {options:F1}, GET_PARAMETER + 4 RR {withReports:F1}");

        Assert.True(rig.Media.ReceiverReports >= Rounds * PerRound * 4, $"the receiver reports reached the media ({rig.Media.ReceiverReports})");
        Assert.True(getParameter < MaxBytesPerRequest, $"GET_PARAMETER allocates {getParameter:F1} B per request");
        Assert.True(options < MaxBytesPerRequest, $"OPTIONS allocates {options:F1} B per request");
        Assert.True(withReports < MaxBytesPerRequest, $"GET_PARAMETER with 4 receiver reports allocates {withReports:F1} B per request");
    }

    /// <summary>
    /// While a viewer plays, nothing of its connection runs on a timer: the wait for its next request has no deadline (a
    /// TCP session lives as long as its connection) and the writer wakes only for output. An hour of the server's clock
    /// (every timer made on the injected <see cref="TimeProvider"/>, the server's own report timer among them, fired as
    /// it falls due, one second at a time) allocates nothing and leaves the viewer playing.
    /// </summary>
    [Fact]
    public async Task APlayingViewersHourOfClock_FiresNothingThatAllocates_AndKeepsItPlaying()
    {
        var time = new FakeTimeProvider();
        await using var rig = await Rig.StartAsync(time);
        await using var viewer = await PlayingViewer.ConnectAsync(rig.Port);
        var request = viewer.KeepAlive("GET_PARAMETER", receiverReports: 0);
        await viewer.RoundTripAsync(request);
        time.Advance(TimeSpan.FromSeconds(1)); // JIT of the timer paths

        var before = GC.GetTotalAllocatedBytes(precise: true);
        for (var second = 0; second < 3600; second++)
        {
            time.Advance(TimeSpan.FromSeconds(1));
        }
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
        output.WriteLine($"an hour of clock while playing: {allocated} B");

        await viewer.RoundTripAsync(request);
        Assert.Single(rig.Server.Connections, c => c.Playing);
        // Room for a runtime timer of the test host that fired meanwhile; one allocation per second would be 86 KB.
        Assert.True(allocated < 4096, $"an hour of the server's clock allocated {allocated} B");
    }

    /// <summary>The least, over <see cref="Rounds"/> rounds, of the bytes the process allocated per request.</summary>
    private static async Task<double> MeasureAsync(PlayingViewer viewer, string method, int receiverReports)
    {
        var request = viewer.KeepAlive(method, receiverReports);
        // Warm-up: first calls JIT, grow pools and lists to their steady size.
        for (var i = 0; i < PerRound; i++)
        {
            await viewer.RoundTripAsync(request);
        }
        var least = double.MaxValue;
        for (var round = 0; round < Rounds; round++)
        {
            var before = GC.GetTotalAllocatedBytes(precise: true);
            for (var i = 0; i < PerRound; i++)
            {
                await viewer.RoundTripAsync(request);
            }
            least = Math.Min(least, (double)(GC.GetTotalAllocatedBytes(precise: true) - before) / PerRound);
        }
        return least;
    }

    /// <summary>A viewer client that allocates nothing per request once it plays.</summary>
    private sealed class PlayingViewer : IAsyncDisposable
    {
        private readonly Socket _socket;
        private readonly byte[] _receive = new byte[4096];
        private string _session = "";
        private int _cseq;

        private PlayingViewer(Socket socket) => _socket = socket;

        public static async Task<PlayingViewer> ConnectAsync(int port)
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            await socket.ConnectAsync(IPAddress.Loopback, port);
            var viewer = new PlayingViewer(socket);
            var url = $"rtsp://127.0.0.1:{port}/live/dev1/1/main?token={Token}";
            await viewer.ExpectOkAsync($"DESCRIBE {url} RTSP/1.0\r\nCSeq: {++viewer._cseq}\r\nAccept: application/sdp\r\n\r\n");
            var setup = await viewer.ExpectOkAsync(
                $"SETUP {url}/trackID=0 RTSP/1.0\r\nCSeq: {++viewer._cseq}\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n");
            var session = setup.Split("\r\n").First(l => l.StartsWith("Session:", StringComparison.OrdinalIgnoreCase));
            viewer._session = session["Session:".Length..].Split(';')[0].Trim();
            await viewer.ExpectOkAsync($"PLAY {url} RTSP/1.0\r\nCSeq: {++viewer._cseq}\r\nRange: npt=0.000-\r\nSession: {viewer._session}\r\n\r\n");
            return viewer;
        }

        /// <summary>
        /// A keep-alive as ffmpeg 5.1 sends it (URL, CSeq, User-Agent, Session), after <paramref name="receiverReports"/>
        /// interleaved RTCP receiver reports on channel 1; its CSeq is rewritten in place before each send.
        /// </summary>
        public KeepAliveRequest KeepAlive(string method, int receiverReports)
        {
            var rr = new byte[] { 0x81, 201, 0, 7, 0x12, 0x34, 0x56, 0x78, 0xDE, 0xAD, 0xBE, 0xEF, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
            var bytes = new List<byte>();
            for (var i = 0; i < receiverReports; i++)
            {
                bytes.AddRange([(byte)'$', 1, 0, (byte)rr.Length]);
                bytes.AddRange(rr);
            }
            var head = Encoding.ASCII.GetBytes($"{method} rtsp://127.0.0.1/live/dev1/1/main?token={Token}/ RTSP/1.0\r\nCSeq: ");
            var cseqAt = bytes.Count + head.Length;
            bytes.AddRange(head);
            bytes.AddRange("0000000"u8.ToArray());
            bytes.AddRange(Encoding.ASCII.GetBytes($"\r\nUser-Agent: Lavf59.27.100\r\nSession: {_session}\r\n\r\n"));
            return new KeepAliveRequest(bytes.ToArray(), cseqAt);
        }

        /// <summary>Sends the request with the next CSeq and reads its whole response (a header block, no body).</summary>
        /// <remarks>Its state machine is pooled: the client's own awaits must not be counted as the gateway's allocations.</remarks>
        [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
        public async ValueTask RoundTripAsync(KeepAliveRequest request)
        {
            var cseq = ++_cseq;
            // Seven digits, zero-padded: the request keeps its length.
            Assert.True(Utf8Formatter.TryFormat(cseq, request.Bytes.AsSpan(request.CSeqAt, 7), out _, new StandardFormat('D', 7)));
            for (var sent = 0; sent < request.Bytes.Length;)
            {
                sent += await _socket.SendAsync(request.Bytes.AsMemory(sent), SocketFlags.None);
            }
            var filled = 0;
            while (true)
            {
                var n = await _socket.ReceiveAsync(_receive.AsMemory(filled), SocketFlags.None);
                Assert.True(n > 0, "the gateway closed the connection");
                filled += n;
                if (filled >= 4 && _receive.AsSpan(filled - 4, 4).SequenceEqual("\r\n\r\n"u8))
                {
                    break;
                }
            }
            if (!_receive.AsSpan(0, filled).StartsWith("RTSP/1.0 200 OK\r\n"u8))
            {
                Assert.Fail(Encoding.ASCII.GetString(_receive, 0, filled));
            }
        }

        private async Task<string> ExpectOkAsync(string request)
        {
            await _socket.SendAsync(Encoding.ASCII.GetBytes(request), SocketFlags.None);
            var text = new StringBuilder();
            while (true)
            {
                var n = await _socket.ReceiveAsync(_receive, SocketFlags.None);
                Assert.True(n > 0, "the gateway closed the connection");
                text.Append(Encoding.ASCII.GetString(_receive, 0, n));
                var s = text.ToString();
                var end = s.IndexOf("\r\n\r\n", StringComparison.Ordinal);
                if (end < 0)
                {
                    continue;
                }
                var length = s.Split("\r\n").FirstOrDefault(l => l.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase)) is { } cl
                    ? int.Parse(cl["Content-Length:".Length..].Trim(), System.Globalization.CultureInfo.InvariantCulture) : 0;
                if (s.Length >= end + 4 + length)
                {
                    Assert.StartsWith("RTSP/1.0 200 OK\r\n", s);
                    return s;
                }
            }
        }

        public ValueTask DisposeAsync()
        {
            _socket.Dispose();
            return ValueTask.CompletedTask;
        }
    }

    private sealed record KeepAliveRequest(byte[] Bytes, int CSeqAt);

    /// <summary>An <see cref="RtspServer"/> on loopback that lets one token view one silent stream.</summary>
    private sealed class Rig : IAsyncDisposable
    {
        private readonly RtspServer _server;

        private Rig(RtspServer server, SilentMedia media)
        {
            _server = server;
            Media = media;
        }

        public SilentMedia Media { get; }
        public RtspServer Server => _server;
        public int Port => _server.Port;

        public static Task<Rig> StartAsync(TimeProvider? time = null)
        {
            var media = new SilentMedia();
            var services = new ViewerServices(new TokenAuthenticator(), new AllowAll(), new Sessions(), new NoAudit(), new Resolver(media),
                ViewerQueueLimits.Default, TimeSpan.FromSeconds(60), time ?? TimeProvider.System, NullLogger.Instance);
            var server = new RtspServer(services, ConnectionLimits.Default, NullLogger<RtspServer>.Instance);
            server.Start("127.0.0.1", 0);
            return Task.FromResult(new Rig(server, media));
        }

        public ValueTask DisposeAsync() => _server.DisposeAsync();
    }

    private sealed class TokenAuthenticator : IViewerAuthenticator
    {
        public AuthResult Authenticate(in ViewerCredentials credentials, IPAddress? remote)
            => credentials.QueryToken == Token ? AuthResult.Success("viewer@example.com") : AuthResult.Missing;
    }

    private sealed class AllowAll : IAccessPolicy
    {
        public long Version => 1;
        public bool IsAllowed(string account, string deviceId, int channel, Privilege privilege) => true;
        public IReadOnlyList<DeviceAccess> GetVisibleDevices(string account) => [];
        public IReadOnlyList<string> GetAlarmRecipients(string deviceId, int channel) => [];
        public event Action? Changed { add { } remove { } }
    }

    private sealed class Sessions : ISessionRegistry
    {
        public IDisposable Register(ViewerSession session) => new Registration();
        public IReadOnlyList<ViewerSession> ActiveSessions => [];

        private sealed class Registration : IDisposable
        {
            public void Dispose()
            {
            }
        }
    }

    private sealed class NoAudit : IAuditSink
    {
        public void Record(AuditEvent auditEvent)
        {
        }
    }

    private sealed class Resolver(SilentMedia media) : IViewerMediaResolver
    {
        public Privilege RequiredPrivilege(ViewerRequestPath path, RtspMessage request) => Privilege.LiveView;
        public Task<IViewerMedia> OpenAsync(ViewerRequestPath path, RtspMessage request, ViewerContext viewer, CancellationToken ct) => Task.FromResult<IViewerMedia>(media);
    }

    /// <summary>A live media of one video track that sends nothing and counts the viewer's RTCP.</summary>
    private sealed class SilentMedia : IViewerMedia
    {
        private long _receiverReports;

        public long ReceiverReports => Interlocked.Read(ref _receiverReports);
        public Privilege Action => Privilege.LiveView;
        public string Sdp => "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=silent\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:trackID=0\r\n";
        public int TrackCount => 1;
        public bool HasVideo => false;
        public event Action<string>? Ended { add { } remove { } }

        public Task<(RtspMessage Response, Action? AfterResponse)> PlayAsync(RtspMessage request, ViewerOutput output, CancellationToken ct)
        {
            var response = RtspMessage.Response(200);
            response.Headers.Add("Range", "npt=now-");
            return Task.FromResult<(RtspMessage, Action?)>((response, null));
        }

        public Task<RtspMessage> PauseAsync(RtspMessage request, ViewerOutput output, CancellationToken ct) => Task.FromResult(RtspMessage.Response(200));

        public void Stop(ViewerOutput output)
        {
        }

        public void OnViewerPacket(int track, bool rtcp, ReadOnlySequence<byte> packet)
        {
            if (rtcp)
            {
                Interlocked.Increment(ref _receiverReports);
            }
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
