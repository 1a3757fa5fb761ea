using System.Buffers;
using System.Text;
using HikShareGateway.Core.Access;
using HikShareGateway.Core.Devices;
using HikShareGateway.Media;
using HikShareGateway.Rtsp.Protocol;
using HikShareGateway.Rtsp.Server;
using HikShareGateway.Rtsp.Transport;
using HikShareGateway.Rtsp.Upstream;
using Microsoft.Extensions.Logging;

namespace HikShareGateway.Rtsp.Playback;

/// <summary>
/// One viewer's playback of a recording: its own upstream session (each viewer has its own position), whose
/// packets go to this viewer's <see cref="ViewerOutput"/> only.
/// <para>
/// :: Step 1: <see cref="OpenAsync"/> connects, DESCRIBEs and SETUPs every track, without PLAY, and starts the
///    upstream read loop (stall detection off until something plays).
/// :: Step 2: each viewer PLAY (first start, seek with <c>Range: npt=</c>/<c>clock=</c>, <c>Scale</c>, resume) becomes an
///    upstream PLAY with the Range in the source's unit (<see cref="PlaybackTimeline"/>). From the moment it is sent,
///    packets of the old position are dropped; from the moment its response arrives (seen on the read loop, in
///    order with the packets) packets are held; once the viewer's response, with the upstream's Range, Scale and
///    RTP-Info (url= rewritten to the viewer's own track URLs), is queued, the held packets follow it. So a player
///    never sees a packet of the new position before the RTP-Info that maps its timestamps.
/// :: Step 3: PAUSE is passed on; packets flow until the upstream answered it, and stall detection pauses with it.
/// :: Step 4: the end of the recording (RTCP BYE on every track, or the recorder closing the session) ends the viewer
///    session once what is queued for it was sent (<see cref="Ended"/>).
/// </para>
/// Authorization, session registration and audit are the connection's (<see cref="Action"/> is <c>playback</c>).
/// </summary>
public sealed partial class PlaybackViewerMedia : IViewerMedia, IMediaSink
{
    /// <summary>Packets held between the upstream's and the viewer's PLAY response; a few milliseconds' worth in practice.</summary>
    private const int MaxHeldPackets = 4096;
    private static readonly string[] PassedPlayHeaders = ["Scale", "Speed", "Rate-Control", "Frames"];

    private readonly RtspUpstreamClient _client;
    private readonly PlaybackTimeline _timeline;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly string _deviceId;
    private readonly int _channel;
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _gate = new();
    private readonly List<RtpBuffer> _held = [];
    private readonly string?[] _viewerTrackUris;
    private readonly bool[] _bye;
    private readonly KeyframeTracker _keyframes;
    private readonly int _videoTrack;
    private ViewerOutput? _output;
    private Flow _flow = Flow.Drop;
    private bool _started, _paused;
    private RangeUnit _viewerUnit = RangeUnit.Npt;
    private Task? _loop;
    private int _ended;

    private enum Flow
    {
        /// <summary>Nothing plays for the viewer, or what arrives belongs to a position it left.</summary>
        Drop,
        /// <summary>The upstream answered a PLAY; the viewer's answer is not queued yet.</summary>
        Hold,
        Forward,
    }

    private PlaybackViewerMedia(RtspUpstreamClient client, UpstreamDescription description, PlaybackTimeline timeline, string sdp,
        string deviceId, int channel, TimeProvider time, ILogger logger)
    {
        _client = client;
        _timeline = timeline;
        _time = time;
        _logger = logger;
        _deviceId = deviceId;
        _channel = channel;
        Sdp = sdp;
        TrackCount = description.Tracks.Count;
        _videoTrack = description.VideoTrack;
        _keyframes = new KeyframeTracker(description.VideoCodec);
        HasVideo = _videoTrack >= 0;
        _viewerTrackUris = new string?[TrackCount];
        _bye = new bool[TrackCount];
    }

    public Privilege Action => Privilege.Playback;
    public string Sdp { get; }
    public int TrackCount { get; }
    public bool HasVideo { get; }
    public event Action<string>? Ended;

    /// <summary>Step 1: sets the upstream session up (no PLAY yet) and starts reading it.</summary>
    public static async Task<PlaybackViewerMedia> OpenAsync(PlaybackSource source, DeviceCredentials credentials, UpstreamOptions options,
        string deviceId, int channel, long sdpSessionId, TimeSpan timeout, TimeProvider time, ILoggerFactory loggers, CancellationToken ct)
    {
        var client = new RtspUpstreamClient(source.Uri, credentials, options, time, loggers.CreateLogger<RtspUpstreamClient>());
        try
        {
            UpstreamDescription description;
            using (var deadline = new Deadline(timeout, time, ct))
            {
                try
                {
                    description = await client.ConnectAsync(play: false,
                        source.Timeline.SourceUsesClock ? [("Require", RequireOptions.Replay)] : [], deadline.Token);
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                {
                    throw new RtspRefusal(504, "the recorder did not set the playback up in time");
                }
            }
            var upstreamRange = description.Sdp.SessionAttributes.Find(a => a.Key.Equals("range", StringComparison.OrdinalIgnoreCase)).Value;
            var sdp = SdpBuilder.Build($"{deviceId} channel {channel} playback", sdpSessionId, description.Tracks, range: source.Timeline.SdpRange(upstreamRange));
            var media = new PlaybackViewerMedia(client, description, source.Timeline, sdp, deviceId, channel, time, loggers.CreateLogger<PlaybackViewerMedia>());
            // Called, not Task.Run: the client marks its read loop running before the first await, so a viewer's PLAY
            // that comes at once finds it (with Task.Run, SendAsync could run first and refuse: "needs a set-up session
            // with its read loop running", about one playback in four under load).
            media._loop = media.ReadLoopAsync();
            LogOpened(media._logger, deviceId, channel, source.Kind, client.Redacted);
            return media;
        }
        catch (DeviceException e)
        {
            await client.DisposeAsync();
            throw LiveViewerMedia.Map(e);
        }
        catch
        {
            await client.DisposeAsync();
            throw;
        }
    }

    public void OnSetup(int track, string requestUri)
    {
        if (track >= 0 && track < _viewerTrackUris.Length)
        {
            _viewerTrackUris[track] = requestUri;
        }
    }

    /// <summary>Step 2.</summary>
    public async Task<(RtspMessage Response, Action? AfterResponse)> PlayAsync(RtspMessage request, ViewerOutput output, CancellationToken ct)
    {
        RtspRange? viewerRange = null;
        if (request.Headers.Get("Range") is { } rangeHeader && !RtspRange.TryParse(rangeHeader, out viewerRange))
        {
            return (ViewerError(457, "the Range must be npt=… or clock=… (UTC, basic ISO 8601)"), null);
        }
        var headers = new List<(string, string)>();
        if (viewerRange is { HasStart: true })
        {
            _viewerUnit = viewerRange.Unit;
            headers.Add(("Range", _timeline.ToUpstream(viewerRange)));
        }
        else if (!_started)
        {
            // The first PLAY starts at the URL's start (npt=now- and no Range alike).
            headers.Add(("Range", _timeline.InitialUpstreamRange()));
        }
        foreach (var name in PassedPlayHeaders)
        {
            if (request.Headers.Get(name) is { } v)
            {
                headers.Add((name, v));
            }
        }

        Flow previous;
        lock (_gate)
        {
            previous = _flow;
            _output = output;
            _flow = Flow.Drop;
            ReleaseHeld();
        }
        RtspMessage upstream;
        try
        {
            upstream = await _client.SendAsync("PLAY", headers, r =>
            {
                if (r.StatusCode == 200)
                {
                    lock (_gate)
                    {
                        _flow = Flow.Hold;
                        Array.Clear(_bye);
                    }
                }
            }, ct);
        }
        catch (DeviceException e)
        {
            Restore(previous);
            throw LiveViewerMedia.Map(e);
        }
        if (upstream.StatusCode != 200)
        {
            Restore(previous);
            LogUpstreamRefused(_logger, _deviceId, _channel, "PLAY", upstream.StatusCode);
            return (RelayedError(upstream, "PLAY"), null);
        }
        _started = true;
        _paused = false;
        _client.StallDetection = true;

        var response = RtspMessage.Response(200);
        if (_timeline.ToViewer(upstream.Headers.Get("Range"), _viewerUnit) is { } range)
        {
            response.Headers.Add("Range", range);
        }
        foreach (var name in PassedPlayHeaders)
        {
            if (upstream.Headers.Get(name) is { } v)
            {
                response.Headers.Add(name, v);
            }
        }
        if (RewriteRtpInfo(upstream.Headers.Get("RTP-Info")) is { } rtpInfo)
        {
            response.Headers.Add("RTP-Info", rtpInfo);
        }
        return (response, () => ReleaseHeldTo(output));
    }

    /// <summary>After the viewer's PLAY response is queued: the held packets, then live forwarding.</summary>
    private void ReleaseHeldTo(ViewerOutput output)
    {
        lock (_gate)
        {
            if (!ReferenceEquals(_output, output) || _flow != Flow.Hold)
            {
                return;
            }
            var now = _time.GetTimestamp();
            foreach (var b in _held)
            {
                output.Enqueue(b, now);
                b.Release();
            }
            _held.Clear();
            _flow = Flow.Forward;
        }
        output.Flush();
    }

    private void Restore(Flow previous)
    {
        lock (_gate)
        {
            // A refused seek leaves the old position playing (the device did not act on it).
            _flow = previous == Flow.Forward ? Flow.Forward : Flow.Drop;
        }
    }

    /// <summary>Step 3.</summary>
    public async Task<RtspMessage> PauseAsync(RtspMessage request, ViewerOutput output, CancellationToken ct)
    {
        if (!_started || _paused)
        {
            return RtspMessage.Response(200);
        }
        RtspMessage upstream;
        try
        {
            upstream = await _client.SendAsync("PAUSE", [], r =>
            {
                if (r.StatusCode == 200)
                {
                    lock (_gate)
                    {
                        _flow = Flow.Drop;
                    }
                }
            }, ct);
        }
        catch (DeviceException e)
        {
            throw LiveViewerMedia.Map(e);
        }
        if (upstream.StatusCode != 200)
        {
            LogUpstreamRefused(_logger, _deviceId, _channel, "PAUSE", upstream.StatusCode);
            return RelayedError(upstream, "PAUSE");
        }
        _paused = true;
        _client.StallDetection = false;
        var response = RtspMessage.Response(200);
        if (_timeline.ToViewer(upstream.Headers.Get("Range"), _viewerUnit) is { } range)
        {
            response.Headers.Add("Range", range);
        }
        return response;
    }

    public void Stop(ViewerOutput output)
    {
        lock (_gate)
        {
            if (ReferenceEquals(_output, output))
            {
                _output = null;
                _flow = Flow.Drop;
                ReleaseHeld();
            }
        }
    }

    public void OnViewerPacket(int track, bool rtcp, ReadOnlySequence<byte> packet)
    {
        // Receiver reports stay here: the gateway is the upstream's receiver; the viewer's position is driven by PLAY.
    }

    void IMediaSink.OnPacket(RtpBuffer buffer)
    {
        if (!buffer.IsRtcp && buffer.Track == _videoTrack)
        {
            // Where a player may start, for the output's skip-to-keyframe after an overflow.
            _keyframes.Mark(buffer);
        }
        var ended = false;
        lock (_gate)
        {
            switch (_flow)
            {
                case Flow.Forward:
                    _output!.Enqueue(buffer, buffer.ReceivedAt);
                    ended = buffer.IsRtcp && SawBye(buffer);
                    break;
                case Flow.Hold when _held.Count < MaxHeldPackets:
                    buffer.AddRef();
                    _held.Add(buffer);
                    ended = buffer.IsRtcp && SawBye(buffer);
                    break;
            }
        }
        buffer.Release();
        if (ended)
        {
            _ = EndAsync("end of the recording");
        }
    }

    void IMediaSink.OnBatchEnd()
    {
        ViewerOutput? output;
        lock (_gate)
        {
            output = _flow == Flow.Forward ? _output : null;
        }
        output?.Flush();
    }

    /// <summary>True when this packet completes the set of BYEs (RFC 3550 §6.6): every track of the recording ended.</summary>
    private bool SawBye(RtpBuffer buffer)
    {
        if (!RtcpPacket.ContainsBye(buffer.PacketSpan))
        {
            return false;
        }
        _bye[buffer.Track] = true;
        return Array.TrueForAll(_bye, b => b);
    }

    /// <summary>
    /// RTP-Info (RFC 2326 §12.33) with each <c>url=</c> replaced by the URL the viewer SETUP that track with (players
    /// match them literally); entries for tracks the viewer did not set up, or that cannot be matched, are left out.
    /// The device's own URLs never reach the viewer.
    /// </summary>
    internal string? RewriteRtpInfo(string? upstream)
    {
        var entries = RtpInfoHeader.Parse(upstream);
        if (entries.Count == 0)
        {
            return null;
        }
        var upstreamEntries = upstream!.Count(c => c == ',') + 1;
        var rewritten = new List<RtpInfoEntry>(entries.Count);
        foreach (var entry in entries)
        {
            var track = TrackOf(entry.Url, _client.TrackControls, upstreamEntries);
            if (track < 0 || _viewerTrackUris[track] is not { } viewerUri || entry.Parameters.Length == 0)
            {
                continue;
            }
            rewritten.Add(entry with { Url = viewerUri });
        }
        return RtpInfoHeader.Format(rewritten);
    }

    /// <summary>The track an RTP-Info url names: the same control URL, or the same path on another host name, or the only track.</summary>
    internal static int TrackOf(string? url, IReadOnlyList<string> controls, int upstreamEntries)
    {
        if (url is not null)
        {
            for (var i = 0; i < controls.Count; i++)
            {
                if (string.Equals(controls[i], url, StringComparison.Ordinal))
                {
                    return i;
                }
            }
            var path = PathOf(url);
            for (var i = 0; i < controls.Count; i++)
            {
                if (path is not null && string.Equals(PathOf(controls[i]), path, StringComparison.Ordinal))
                {
                    return i;
                }
            }
        }
        return controls.Count == 1 && upstreamEntries == 1 ? 0 : -1;
    }

    private static string? PathOf(string url) => Uri.TryCreate(url, UriKind.Absolute, out var u) ? u.AbsolutePath.TrimEnd('/') : null;

    private static RtspMessage ViewerError(int status, string reason)
    {
        var response = RtspMessage.Response(status);
        response.Body = Encoding.UTF8.GetBytes(reason + "\n");
        response.Headers.Add("Content-Type", "text/plain; charset=utf-8");
        return response;
    }

    /// <summary>
    /// A refusal of the device as the viewer's answer: client errors about the request (457 Invalid Range, 456, 451,
    /// 400) keep their status, anything else becomes 502. Nothing of the device's answer but its status passes.
    /// </summary>
    private static RtspMessage RelayedError(RtspMessage upstream, string method) => upstream.StatusCode switch
    {
        400 or 451 or 456 or 457 or 459 => ViewerError(upstream.StatusCode, $"the recorder refused {method} ({upstream.StatusCode})"),
        _ => ViewerError(502, $"the recorder answered {method} with {upstream.StatusCode}"),
    };

    private async Task ReadLoopAsync()
    {
        string reason;
        try
        {
            await _client.RunAsync(this, _stop.Token);
            reason = "the recorder ended the playback";
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            return;
        }
        catch (DeviceException e)
        {
            reason = _started ? "the recorder ended the playback: " + e.Message : "the recorder closed the session: " + e.Message;
        }
        catch (Exception e)
        {
            reason = "upstream error: " + e.Message;
        }
        if (!_stop.IsCancellationRequested)
        {
            await EndAsync(reason);
        }
    }

    /// <summary>Step 4: lets the viewer's queue drain (up to 2 s), then ends the session once.</summary>
    private async Task EndAsync(string reason)
    {
        if (Interlocked.Exchange(ref _ended, 1) != 0)
        {
            return;
        }
        LogEnded(_logger, _deviceId, _channel, reason);
        try
        {
            var deadline = _time.GetTimestamp();
            while (_output is { QueuedEntries: > 0 } && _time.GetElapsedTime(deadline) < TimeSpan.FromSeconds(2) && !_stop.IsCancellationRequested)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(20), _time, _stop.Token);
            }
            // What is queued is handed to the socket; give the kernel a moment before the connection closes.
            await Task.Delay(TimeSpan.FromMilliseconds(200), _time, _stop.Token);
        }
        catch (OperationCanceledException)
        {
            return;
        }
        Ended?.Invoke(reason);
    }

    private void ReleaseHeld()
    {
        foreach (var b in _held)
        {
            b.Release();
        }
        _held.Clear();
    }

    public async ValueTask DisposeAsync()
    {
        if (_stop.IsCancellationRequested)
        {
            return;
        }
        await _stop.CancelAsync();
        if (_loop is not null)
        {
            try
            {
                await _loop;
            }
            catch (Exception e) when (e is OperationCanceledException or DeviceException)
            {
            }
        }
        await _client.DisposeAsync();
        lock (_gate)
        {
            _output = null;
            _flow = Flow.Drop;
            ReleaseHeld();
        }
    }

    [LoggerMessage(EventId = 2400, Level = LogLevel.Information, Message = "Playback of {DeviceId}/{Channel} set up from {SourceKind} source {Uri}")]
    private static partial void LogOpened(ILogger logger, string deviceId, int channel, string sourceKind, string uri);

    [LoggerMessage(EventId = 2401, Level = LogLevel.Information, Message = "Playback of {DeviceId}/{Channel} ended: {Reason}")]
    private static partial void LogEnded(ILogger logger, string deviceId, int channel, string reason);

    [LoggerMessage(EventId = 2402, Level = LogLevel.Warning, Message = "Recorder refused {Method} of a playback of {DeviceId}/{Channel} with {Status}")]
    private static partial void LogUpstreamRefused(ILogger logger, string deviceId, int channel, string method, int status);
}
