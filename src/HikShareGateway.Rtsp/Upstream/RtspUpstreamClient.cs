using System.Buffers;
using System.Collections.Concurrent;
using System.Globalization;
using System.Net.Sockets;
using HikShareGateway.Core.Devices;
using HikShareGateway.Media;
using HikShareGateway.Rtsp.Protocol;
using HikShareGateway.Rtsp.Transport;
using Microsoft.Extensions.Logging;

namespace HikShareGateway.Rtsp.Upstream;

/// <summary>
/// The media the upstream session set up: the relayed tracks in order (track i = index i), as SDP (for RTSP's own
/// use: playback and talk rebuild their viewer SDP from it) and as the media core's neutral <see cref="MediaDescription"/>.
/// </summary>
public sealed record UpstreamDescription(SessionDescription Sdp, IReadOnlyList<SdpMedia> Tracks)
{
    public MediaDescription Media { get; } = new([.. Tracks.Select(t => t.ToMediaTrack())]);
    public int VideoTrack => Media.VideoTrack;
    public VideoCodec VideoCodec => Media.VideoCodec;
}

/// <summary>The device's backchannel as set up: its sendonly track and the interleaved channel that carries the talker's RTP.</summary>
public sealed record BackchannelDescription(SdpMedia Track, byte RtpChannel);

public sealed record UpstreamOptions(TimeSpan ConnectTimeout, TimeSpan ResponseTimeout, TimeSpan StallTimeout, string UserAgent)
{
    public static UpstreamOptions Default { get; } = new(TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(10), "HikShareGateway");
}

/// <summary>
/// One RTSP client session to a recorder — the adapter joining the channel (<see cref="RtspClientChannel"/>: socket,
/// pipe, one writer) and the protocol (<see cref="RtspClientProtocol"/>: requests, auth, CSeq matching, keep-alive): DESCRIBE (Digest or Basic on 401), SETUP of every video and
/// audio track as RTP over the RTSP connection (interleaved, RFC 2326 §10.12), PLAY, then a read loop
/// that turns interleaved frames into pooled <see cref="RtpBuffer"/>s, with keep-alives at half the
/// session timeout and a stall timeout. Where a camera refuses TCP (461) the tracks are set up over
/// UDP instead. Failures surface as <see cref="DeviceException"/> and never carry credentials.
/// <para>
/// Playback uses the same session differently: <see cref="ConnectAsync(bool, IReadOnlyList{ValueTuple{string, string}}, CancellationToken)"/>
/// stops after SETUP (the viewer's PLAY decides the position), and <see cref="SendAsync"/> sends PLAY/PAUSE while
/// <see cref="RunAsync"/> reads: the read loop hands each response to the request with its CSeq.
/// </para>
/// </summary>
public sealed partial class RtspUpstreamClient : IPacedMediaSource
{
    private readonly Uri _uri;
    private readonly DeviceCredentials _credentials;
    private readonly UpstreamOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly RtpBufferPool _pool;
    private readonly string _requestUri;
    private readonly RtspClientProtocol _protocol;
    private RtspClientChannel? _channel;
    private readonly Dictionary<int, (int Track, bool Rtcp)> _channels = [];
    private UdpReceiver[] _udp = [];
    private long _lastData;
    private volatile bool _readLoopRunning;
    private volatile bool _stallDetection = true;

    public const string BackchannelRequire = "www.onvif.org/ver20/backchannel";

    public RtspUpstreamClient(Uri uri, DeviceCredentials credentials, UpstreamOptions options, TimeProvider time, ILogger logger, RtpBufferPool? pool = null)
    {
        _uri = uri;
        _credentials = credentials;
        _options = options;
        _time = time;
        _logger = logger;
        _pool = pool ?? RtpBufferPool.Shared;
        // Credentials never go into the request line: strip any user info.
        _requestUri = new UriBuilder(uri) { UserName = "", Password = "" }.Uri.GetComponents(UriComponents.SchemeAndServer | UriComponents.PathAndQuery, UriFormat.UriEscaped);
        if (string.IsNullOrEmpty(_credentials.Username) && !string.IsNullOrEmpty(uri.UserInfo))
        {
            var parts = uri.UserInfo.Split(':', 2);
            _credentials = new DeviceCredentials(Uri.UnescapeDataString(parts[0]), parts.Length > 1 ? Uri.UnescapeDataString(parts[1]) : "");
        }
        _protocol = new RtspClientProtocol(_credentials, options.UserAgent);
    }

    /// <summary>Set after <see cref="ConnectAsync"/>.</summary>
    public UpstreamDescription? Description { get; private set; }

    /// <summary>The speed the session plays at (set by a PLAY of <see cref="ConnectAsync"/>; normal otherwise).</summary>
    public PlaybackPace Pace { get; private set; } = PlaybackPace.Normal;

    /// <summary>
    /// What a recorder's PLAY answer says about its timestamps: an answered <c>Scale</c> is the rate they run at against
    /// the clock (RFC 2326 §12.34: content time); <c>Scale: 1</c> with <c>Speed: 2</c> (gst-rtsp-server) means delivery
    /// time. No <c>Scale</c> in the answer: the speed asked for is taken as the timestamps' rate.
    /// </summary>
    public static PlaybackPace PaceOf(double requested, string? answeredScale)
    {
        if (requested == 1) return PlaybackPace.Normal;
        return double.TryParse(answeredScale, NumberStyles.Float, CultureInfo.InvariantCulture, out var answered) && answered > 0 && double.IsFinite(answered)
            ? new PlaybackPace(requested, answered)
            : new PlaybackPace(requested, requested);
    }

    MediaDescription IMediaSource.Media => Description?.Media ?? throw new InvalidOperationException("not connected");

    /// <summary>Connects and sets the session up, up to PLAY.</summary>
    public Task<UpstreamDescription> ConnectAsync(CancellationToken ct) => ConnectAsync(play: true, [], ct);

    /// <summary>The aggregate control URI (for PLAY, PAUSE) once set up; the device's address, never shown to viewers.</summary>
    public string? ControlUri { get; private set; }

    /// <summary>The resolved control URI of each track (index = track), as the device names them in RTP-Info.</summary>
    public IReadOnlyList<string> TrackControls { get; private set; } = [];

    /// <summary>
    /// False while the device is not expected to send media (a paused playback): the read loop then does not end the
    /// session for lack of data. Keep-alives go on. Setting it back to true restarts the stall clock.
    /// </summary>
    public bool StallDetection
    {
        get => _stallDetection;
        set
        {
            if (value)
            {
                Volatile.Write(ref _lastData, _time.GetTimestamp());
            }
            _stallDetection = value;
        }
    }

    /// <summary>
    /// Connects and sets the session up; PLAYs from the start only when <paramref name="play"/>.
    /// <paramref name="sessionHeaders"/> go on every request of the session (ONVIF replay: <c>Require: onvif-replay</c>
    /// on DESCRIBE, SETUP, PLAY and PAUSE, ONVIF Streaming §6.2).
    /// </summary>
    /// <param name="playRange">The Range of that PLAY (default <c>npt=0.000-</c>; ONVIF replay plays from a <c>clock=</c> position).</param>
    /// <param name="playScale">The speed of that PLAY (<c>Scale</c>, RFC 2326 §12.34), 1 for none; what the recorder answered is <see cref="Pace"/>.</param>
    public async Task<UpstreamDescription> ConnectAsync(bool play, IReadOnlyList<(string Name, string Value)> sessionHeaders, CancellationToken ct, string? playRange = null,
        double playScale = 1)
    {
        _protocol.SessionHeaders = [.. sessionHeaders];
        await OpenAsync(ct);

        var describe = await RequestAsync("DESCRIBE", _requestUri, ct, ("Accept", "application/sdp"));
        ExpectOk(describe, "DESCRIBE");
        var sdp = SessionDescription.Parse(describe.BodyText);
        var tracks = sdp.Media.Where(m => m.Type is "video" or "audio" && m.Direction != "sendonly").ToList();
        if (tracks.Count == 0)
        {
            throw new DeviceException(DeviceErrorKind.Failed, "the device's SDP has no video or audio track");
        }
        var baseUri = describe.Headers.Get("Content-Base") ?? describe.Headers.Get("Content-Location") ?? _requestUri;
        var useUdp = false;
        var controls = new string[tracks.Count];
        for (var i = 0; i < tracks.Count; i++)
        {
            var control = ResolveControl(baseUri, tracks[i].Control ?? sdp.SessionControl);
            controls[i] = control;
            var setup = useUdp ? null : await SetupAsync(control, new TransportSpec { Tcp = true, Interleaved = (2 * i, 2 * i + 1) }, ct);
            if (setup is { StatusCode: 461 } || useUdp)
            {
                // RTSP 461: the camera will not interleave; take RTP over UDP from it.
                useUdp = true;
                var udp = UdpReceiver.Open(i, _pool, _time);
                _udp = [.. _udp, udp];
                setup = await SetupAsync(control, new TransportSpec { ClientPort = (udp.RtpPort, udp.RtcpPort) }, ct);
                ExpectOk(setup, "SETUP");
                var answered = TransportHeader.Parse(setup.Headers.Get("Transport")).FirstOrDefault();
                udp.Connect(_channel!.RemoteAddress, answered?.ServerPort);
                continue;
            }
            ExpectOk(setup!, "SETUP");
            var transport = TransportHeader.Parse(setup!.Headers.Get("Transport")).FirstOrDefault();
            var (rtp, rtcp) = transport?.Interleaved ?? (2 * i, 2 * i + 1);
            _channels[rtp] = (i, false);
            _channels[rtcp] = (i, true);
        }

        TrackControls = controls;
        ControlUri = ResolveControl(baseUri, sdp.SessionControl ?? "*");
        if (play)
        {
            var range = ("Range", playRange ?? "npt=0.000-");
            var response = playScale == 1
                ? await RequestAsync("PLAY", ControlUri, ct, range)
                : await RequestAsync("PLAY", ControlUri, ct, range, ("Scale", playScale.ToString("0.###", CultureInfo.InvariantCulture)));
            ExpectOk(response, "PLAY");
            Pace = PaceOf(playScale, response.Headers.Get("Scale"));
        }
        Description = new UpstreamDescription(sdp, tracks);
        LogConnected(_logger, Redacted, tracks.Count, useUdp ? "UDP" : "TCP interleaved");
        return Description;
    }

    /// <summary>Set after <see cref="ConnectBackchannelAsync"/>.</summary>
    public BackchannelDescription? Backchannel { get; private set; }

    /// <summary>
    /// ONVIF audio backchannel (ONVIF Streaming spec §5.3): DESCRIBE with <c>Require: www.onvif.org/ver20/backchannel</c>
    /// (kept on every later request of this session), SETUP of the first <c>a=sendonly</c> audio track only, interleaved,
    /// then PLAY. Afterwards <see cref="WriteInterleavedAsync"/> carries the talker's RTP and <see cref="RunAsync"/> keeps the
    /// session alive (the device sends nothing, so there is no stall timeout). Throws <see cref="DeviceException"/> with
    /// <see cref="DeviceErrorKind.NotSupported"/> when the device answers 551 or offers no sendonly track.
    /// </summary>
    public async Task<BackchannelDescription> ConnectBackchannelAsync(CancellationToken ct)
    {
        _protocol.SessionHeaders = [("Require", BackchannelRequire)];
        _stallDetection = false;
        await OpenAsync(ct);
        var describe = await RequestAsync("DESCRIBE", _requestUri, ct, ("Accept", "application/sdp"));
        if (describe.StatusCode == 551)
        {
            throw new DeviceException(DeviceErrorKind.NotSupported, "the device has no audio backchannel (551)");
        }
        ExpectOk(describe, "DESCRIBE");
        var sdp = SessionDescription.Parse(describe.BodyText);
        var track = sdp.Media.Find(m => m.Type == "audio" && m.Direction == "sendonly")
                    ?? throw new DeviceException(DeviceErrorKind.NotSupported, "the device's SDP has no sendonly audio track (no backchannel)");
        var baseUri = describe.Headers.Get("Content-Base") ?? describe.Headers.Get("Content-Location") ?? _requestUri;
        var setup = await SetupAsync(ResolveControl(baseUri, track.Control ?? sdp.SessionControl), new TransportSpec { Tcp = true, Interleaved = (0, 1) }, ct);
        if (setup.StatusCode == 461)
        {
            throw new DeviceException(DeviceErrorKind.NotSupported, "the device refuses its backchannel over TCP (461)");
        }
        ExpectOk(setup, "SETUP");
        var transport = TransportHeader.Parse(setup.Headers.Get("Transport")).FirstOrDefault();
        var (rtp, _) = transport?.Interleaved ?? (0, 1);
        var play = await RequestAsync("PLAY", ResolveControl(baseUri, sdp.SessionControl ?? "*"), ct, ("Range", "npt=0.000-"));
        ExpectOk(play, "PLAY");
        Backchannel = new BackchannelDescription(track, (byte)rtp);
        LogBackchannel(_logger, Redacted, track.EncodingName ?? "?");
        return Backchannel;
    }

    /// <summary>
    /// Sends one interleaved frame (<c>$</c>, channel, length, then the RTP or RTCP packet: RFC 2326 §10.12) to the
    /// device on the RTSP connection, serialised with requests (keep-alives) by the write lock. The caller keeps
    /// <paramref name="frame"/>'s buffer and may reuse it once the task completed.
    /// </summary>
    public ValueTask WriteInterleavedAsync(ReadOnlyMemory<byte> frame, CancellationToken ct) => new(WriteAsync(frame, ct));

    private async Task OpenAsync(CancellationToken ct)
    {
        var port = _uri.Port > 0 ? _uri.Port : 554;
        _channel = await RtspClientChannel.ConnectAsync(_uri.Host, port, _options.ConnectTimeout, _time, ct);
    }

    /// <summary>
    /// The URI for logs: only scheme and path (<c>rtsp://(device)/Streaming/Channels/101</c>). Contract §6: upstream
    /// addresses, like credentials and queries, never reach a log; the log lines name the device by its id.
    /// </summary>
    public string Redacted => _uri.Scheme + "://(device)" + _uri.GetComponents(UriComponents.Path | UriComponents.KeepDelimiter, UriFormat.UriEscaped);

    private async Task<RtspMessage> SetupAsync(string control, TransportSpec transport, CancellationToken ct)
    {
        var headers = new List<(string, string)> { ("Transport", transport.ToString()) };
        if (_protocol.Session is not null)
        {
            headers.Add(("Session", _protocol.Session));
        }
        var response = await RequestAsync("SETUP", control, ct, [.. headers]);
        _protocol.OnSetupResponse(response);
        return response;
    }

    /// <summary>
    /// Relative controls are appended to the base (what cameras expect, rather than RFC 3986 resolution);
    /// absolute ones keep their path but use the address we reached the device on (Hikvision names its own IP).
    /// </summary>
    internal static string ResolveControl(string baseUri, string? control)
    {
        if (string.IsNullOrEmpty(control) || control == "*")
        {
            return baseUri;
        }
        if (control.StartsWith("rtsp://", StringComparison.OrdinalIgnoreCase) || control.StartsWith("rtsps://", StringComparison.OrdinalIgnoreCase))
        {
            if (Uri.TryCreate(control, UriKind.Absolute, out var abs) && Uri.TryCreate(baseUri, UriKind.Absolute, out var b))
            {
                return b.GetLeftPart(UriPartial.Authority) + abs.PathAndQuery;
            }
            return control;
        }
        return baseUri.EndsWith('/') ? baseUri + control : baseUri + "/" + control;
    }

    internal static void ExpectOk(RtspMessage response, string method)
    {
        switch (response.StatusCode)
        {
            case 200:
                return;
            case 401 or 403:
                throw new DeviceException(DeviceErrorKind.Unauthorized, $"the device refused the gateway's credentials on {method} ({response.StatusCode})");
            case 404:
                throw new DeviceException(DeviceErrorKind.NotSupported, $"the device has no such stream ({method}: 404)");
            default:
                throw new DeviceException(DeviceErrorKind.Failed, $"the device answered {method} with {response.StatusCode} {response.Reason}");
        }
    }

    /// <summary>Sends a request and waits for its response, answering one authentication challenge.</summary>
    private async Task<RtspMessage> RequestAsync(string method, string uri, CancellationToken ct, params (string Name, string Value)[] headers)
    {
        for (var attempt = 0; ; attempt++)
        {
            var request = _protocol.BuildRequest(method, uri, headers);
            await WriteAsync(request.ToBytes(), ct);
            var response = await ReadResponseAsync(request.CSeq, ct);
            if (!_protocol.TryTakeChallenge(response, attempt))
            {
                return response;
            }
        }
    }

    /// <summary>
    /// Sends a request on the session's control URI while <see cref="RunAsync"/> reads, and returns its response
    /// (answering one authentication challenge). <paramref name="onReadLoop"/> runs on the read loop when the
    /// response arrives, before any packet that follows it is handed to the sink: the moment a seek takes effect.
    /// </summary>
    public async Task<RtspMessage> SendAsync(string method, IReadOnlyList<(string Name, string Value)> headers, Action<RtspMessage>? onReadLoop, CancellationToken ct)
    {
        if (!_readLoopRunning || ControlUri is null)
        {
            throw new InvalidOperationException("SendAsync needs a set-up session with its read loop running.");
        }
        for (var attempt = 0; ; attempt++)
        {
            var request = _protocol.BuildRequest(method, ControlUri, headers);
            var pending = _protocol.Expect(request.CSeq, onReadLoop);
            RtspMessage response;
            try
            {
                if (!_readLoopRunning)
                {
                    throw new DeviceException(DeviceErrorKind.Failed, "the device closed the RTSP connection");
                }
                await WriteAsync(request.ToBytes(), ct);
                response = await pending.Response.Task.WaitAsync(_options.ResponseTimeout, _time, ct);
            }
            catch (TimeoutException)
            {
                throw new DeviceException(DeviceErrorKind.Timeout, $"the device did not answer {method} in time");
            }
            finally
            {
                _protocol.Forget(request.CSeq);
            }
            // A 401 here is a stale nonce: the new challenge is taken and the request sent once more.
            if (!_protocol.TryTakeChallenge(response, attempt))
            {
                return response;
            }
        }
    }

    private void FailPending(Exception e)
    {
        _readLoopRunning = false;
        _protocol.FailPending(e);
    }

    /// <summary>Requests and interleaved frames share the connection: the channel lets one writer at a time.</summary>
    private Task WriteAsync(ReadOnlyMemory<byte> bytes, CancellationToken ct) => _channel!.WriteAsync(bytes, ct);

    /// <summary>During set-up: reads until the response with that CSeq, skipping interleaved data and stray messages.</summary>
    private async Task<RtspMessage> ReadResponseAsync(int cseq, CancellationToken ct)
    {
        using var timeout = new Deadline(_options.ResponseTimeout, _time, ct);
        try
        {
            var waiter = new ResponseWaiter(cseq);
            while (true)
            {
                var input = _channel!.Input;
                var result = await input.ReadAsync(timeout.Token);
                var pass = RtspInput.Consume(input, result, waiter);
                if (pass.Status == RtspReadStatus.Error)
                {
                    throw new DeviceException(DeviceErrorKind.Failed, "the device sent malformed RTSP: " + pass.Error);
                }
                if (waiter.Found is { } found)
                {
                    return found;
                }
                if (pass.Completed)
                {
                    throw new DeviceException(DeviceErrorKind.Failed, "the device closed the RTSP connection");
                }
            }
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new DeviceException(DeviceErrorKind.Timeout, "the device did not answer in time");
        }
        catch (IOException e)
        {
            throw new DeviceException(DeviceErrorKind.Failed, "the device closed the RTSP connection", e);
        }
    }

    /// <summary>
    /// The read loop after PLAY, until the device closes, stalls, or <paramref name="ct"/> fires. Each
    /// interleaved frame is copied once, into a pooled buffer the sink takes over.
    /// </summary>
    public async Task RunAsync(IMediaSink sink, CancellationToken ct)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        _lastData = _time.GetTimestamp();
        _readLoopRunning = true;
        var keepAlive = KeepAliveLoopAsync(cts.Token);
        var udpLoops = _udp.Select(u => u.RunAsync(sink, () => _lastData = _time.GetTimestamp(), cts.Token)).ToArray();
        try
        {
            var handler = new PlayingHandler(this, sink);
            var input = _channel!.Input;
            while (true)
            {
                var result = await input.ReadAsync(cts.Token);
                handler.Now = _time.GetTimestamp();
                var pass = RtspInput.Consume(input, result, handler);
                if (pass.Status == RtspReadStatus.Error)
                {
                    throw new DeviceException(DeviceErrorKind.Failed, "the device sent malformed RTSP: " + pass.Error);
                }
                sink.OnBatchEnd();
                if (pass.Completed)
                {
                    throw new DeviceException(DeviceErrorKind.Failed, "the device closed the RTSP connection");
                }
            }
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new DeviceException(DeviceErrorKind.Timeout, $"no media from the device for {_options.StallTimeout.TotalSeconds:0} s");
        }
        catch (IOException e)
        {
            throw new DeviceException(DeviceErrorKind.Failed, "the device closed the RTSP connection", e);
        }
        finally
        {
            FailPending(new DeviceException(DeviceErrorKind.Failed, "the device's RTSP session ended"));
            await cts.CancelAsync();
            await keepAlive;
            await Task.WhenAll(udpLoops);
        }

        async Task KeepAliveLoopAsync(CancellationToken token)
        {
            var interval = _protocol.KeepAliveTick(_options.StallTimeout);
            var sinceKeepAlive = TimeSpan.Zero;
            try
            {
                while (true)
                {
                    await Task.Delay(interval, _time, token);
                    sinceKeepAlive += interval;
                    if (_stallDetection && _time.GetElapsedTime(Volatile.Read(ref _lastData)) > _options.StallTimeout)
                    {
                        await cts.CancelAsync(); // stalled: end the read loop
                        return;
                    }
                    if (sinceKeepAlive >= _protocol.SessionTimeout / 2)
                    {
                        sinceKeepAlive = TimeSpan.Zero;
                        await WriteAsync(_protocol.BuildRequest(_protocol.KeepAliveMethod, _requestUri, []).ToBytes(), token);
                    }
                }
            }
            catch (Exception e) when (e is OperationCanceledException or DeviceException or ObjectDisposedException)
            {
            }
        }
    }

    /// <summary>During set-up: waits for the response with one CSeq, skipping interleaved data and stray messages.</summary>
    private sealed class ResponseWaiter(int cseq) : IRtspFrameHandler
    {
        public RtspMessage? Found { get; private set; }

        public void OnInterleaved(InterleavedHeader frame, ReadOnlySequence<byte> payload)
        {
        }

        public bool OnMessage(RtspMessage message)
        {
            if (RtspClientProtocol.IsResponseTo(message, cseq))
            {
                Found = message;
                return false;
            }
            return true;
        }
    }

    /// <summary>After PLAY: frames become pooled packets for the sink, responses go to their pending requests.</summary>
    private sealed class PlayingHandler(RtspUpstreamClient client, IMediaSink sink) : IRtspFrameHandler
    {
        /// <summary>When the current read returned; the receive time of its packets.</summary>
        public long Now;

        public void OnInterleaved(InterleavedHeader frame, ReadOnlySequence<byte> payload)
        {
            if (client._channels.TryGetValue(frame.Channel, out var map) && frame.Length > 0)
            {
                // The only copy: pipe segment → pooled, pinned buffer that the sink takes over.
                var b = client._pool.Rent();
                payload.CopyTo(b.Prepare(frame.Length));
                b.Commit(frame.Length, map.Track, map.Rtcp, Now);
                sink.OnPacket(b);
            }
            client._lastData = Now;
        }

        public bool OnMessage(RtspMessage message)
        {
            client._protocol.OnResponse(message);
            return true;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_channel is null)
        {
            return;
        }
        try
        {
            if (_protocol.Session is not null && _channel.Connected)
            {
                using var teardown = new Deadline(TimeSpan.FromMilliseconds(500), _time, CancellationToken.None);
                await WriteAsync(_protocol.BuildRequest("TEARDOWN", _requestUri, []).ToBytes(), teardown.Token);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or DeviceException or ObjectDisposedException or SocketException)
        {
        }
        foreach (var u in _udp)
        {
            u.Dispose();
        }
        await _channel.DisposeAsync();
    }

    [LoggerMessage(EventId = 2100, Level = LogLevel.Information, Message = "Upstream {Uri} playing: {Tracks} track(s) over {Transport}")]
    private static partial void LogConnected(ILogger logger, string uri, int tracks, string transport);

    [LoggerMessage(EventId = 2101, Level = LogLevel.Information, Message = "Upstream {Uri} backchannel open ({Encoding})")]
    private static partial void LogBackchannel(ILogger logger, string uri, string encoding);
}
