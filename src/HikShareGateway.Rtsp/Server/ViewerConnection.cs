using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using HikShareGateway.Core.Access;
using HikShareGateway.Core.Diagnostics;
using HikShareGateway.Rtsp.Protocol;
using HikShareGateway.Rtsp.Transport;
using Microsoft.Extensions.Logging;

namespace HikShareGateway.Rtsp.Server;

/// <summary>What every viewer connection needs; one instance per server.</summary>
public sealed record ViewerServices(
    IViewerAuthenticator Authenticator,
    IAccessPolicy Policy,
    ISessionRegistry Sessions,
    IAuditSink Audit,
    IViewerMediaResolver Media,
    ViewerQueueLimits QueueLimits,
    TimeSpan IdleTimeout,
    TimeProvider Time,
    ILogger Logger,
    GatewayMetrics? Metrics = null)
{
    /// <summary>The Digest nonces of this server (contract §4.1), with a key of their own.</summary>
    public DigestNonces Nonces { get; init; } = new();

    /// <summary>The per-account session cap shared with fMP4 (<c>Limits:SessionsPerAccount</c>); none by default.</summary>
    public AccountSessionLimiter AccountLimits { get; init; } = AccountSessionLimiter.Unlimited;
}

/// <summary>
/// One viewer's RTSP connection (RFC 2326, RTP over TCP interleaved): the session glue between the transport
/// (<see cref="RtspServerChannel"/>: socket, TLS, input pipe), the protocol state machine (<see cref="ViewerProtocol"/>:
/// pure, what each request may do in the current state), identity (<see cref="ViewerAccess"/>), the media
/// (<see cref="IViewerMedia"/>) and the one writer (<see cref="ViewerOutput"/>). It owns the read loop and the effects.
/// <para>
/// :: Step 1: requests are parsed from the channel's <see cref="PipeReader"/> (pure parser, bounded sizes);
///    on the RTSPS port the channel (<see cref="RtspServerChannel"/>) first does the TLS server handshake, and both
///    directions go through TLS.
/// :: Step 2: every DESCRIBE, SETUP and PLAY authenticates the viewer (token in the query, Basic or
///    Bearer; an earlier success on this connection counts when a player omits it) and checks the
///    privilege with <see cref="IAccessPolicy"/>: 401 for who, 403 for what, never revealing a device.
/// :: Step 3: PLAY registers the session with <see cref="ISessionRegistry"/>; a grant change that removes
///    it calls <see cref="Abort"/>, which closes the socket at once.
/// :: Step 4: all output — responses and packets — goes through one <see cref="ViewerOutput"/>.
/// </para>
/// </summary>
public sealed partial class ViewerConnection
{
    private static long s_nextConnection;

    private readonly RtspServerChannel _channel;
    private readonly ViewerServices _s;
    private readonly GatewayMetrics _metrics;
    private readonly CancellationTokenSource _cts = new();
    private readonly ViewerOutput _output;
    private readonly string _remote;
    private readonly string _connectionId;
    private readonly ViewerInput _input;
    private readonly ViewerAccess _access;
    private readonly AdmissionTicket? _ticket;
    private readonly ViewerProtocol _protocol = new();
    private IViewerMedia? _media;
    private IDisposable? _accountLease;
    private int _aborted;
    private string? _endReason;

    /// <param name="tls">RTSPS: the server's certificate chain and key; null for plain RTSP.</param>
    /// <param name="ticket">The connection's slot in the server's pools; it moves to the authenticated pool when the
    /// viewer authenticates, and bounds the unauthenticated phase by its handshake budget. Null: no limits.</param>
    public ViewerConnection(Socket socket, ViewerServices services, RtspsIdentity? tls = null, AdmissionTicket? ticket = null)
    {
        _ticket = ticket;
        _s = services;
        _metrics = services.Metrics ?? GatewayMetrics.Unexported;
        _channel = new RtspServerChannel(socket, tls, services.QueueLimits.SendBufferBytes);
        _remote = _channel.Remote;
        _connectionId = "c" + Interlocked.Increment(ref s_nextConnection).ToString(CultureInfo.InvariantCulture);
        _output = new ViewerOutput(socket, services.QueueLimits, services.Time, Abort, _channel.TlsOutput, _metrics);
        _input = new ViewerInput(this);
        _access = new ViewerAccess(services, _remote, _channel.RemoteAddress, _connectionId, ticket);
    }

    public string Remote => _remote;
    public string? Account => _access.Account;
    public bool Playing => _protocol.Playing;

    /// <summary>Where the RTSP session is (for tests and diagnostics).</summary>
    public ViewerState State => _protocol.State;
    public ViewerOutput Output => _output;

    /// <summary>Closes the connection now (revocation, slow viewer, shutdown). Safe from any thread, never blocks on I/O.</summary>
    public void Abort(string reason)
    {
        if (Interlocked.Exchange(ref _aborted, 1) != 0)
        {
            return;
        }
        _endReason = reason;
        _cts.Cancel();
        _channel.Abort();
    }

    /// <summary>
    /// How long the connection may wait for its next complete request: none once playing (a TCP session lives as long
    /// as its connection), the idle timeout once authenticated, and until then the short handshake budget, so that
    /// unauthenticated connections that send nothing or half a request give their slot back within seconds.
    /// </summary>
    private TimeSpan NextRequestBudget()
    {
        if (_protocol.Playing)
        {
            return Timeout.InfiniteTimeSpan;
        }
        return Authenticated ? _s.IdleTimeout : HandshakeBudget;
    }

    private bool Authenticated => _ticket?.IsAuthenticated ?? _access.Account is not null;

    private TimeSpan HandshakeBudget => Min(_s.IdleTimeout, _ticket?.HandshakeTimeout ?? TimeSpan.FromSeconds(10));

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    private bool UnreadBytesWaiting()
    {
        try
        {
            return _channel.Socket.Available > 0;
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            return false;
        }
    }

    // The handshake budget's state, read by the deadline's timer: when the wait for the next request began, and when
    // the first bytes of an incomplete request arrived (0: none pending).
    private long _waitingSince;
    private long _partialSince;
    private long _lastPending;

    /// <summary>
    /// The wait for the next request ran out its current delay: answers a further delay, or zero to close. Authenticated
    /// (or playing) connections close at their idle timeout as before. An unauthenticated connection closes when a
    /// request it began is not complete within the handshake budget (slowloris: a real client sends a request in one
    /// write, so even on an overloaded box its bytes arrive together), and when it has waited idle past the budget while
    /// its pool is under pressure (<see cref="AdmissionTicket.UnderPressure"/>); otherwise it is asked again after
    /// another budget, up to the idle timeout. So a slow viewer, or a viewer of a gateway too loaded to read it in time,
    /// is not cut while nobody needs its slot, and an attacker's idle connections still give their slots back.
    /// </summary>
    private TimeSpan OnRequestDeadline()
    {
        if (Authenticated || _protocol.Playing)
        {
            return TimeSpan.Zero;
        }
        if (UnreadBytesWaiting())
        {
            // The viewer has sent more than the gateway has read: the delay is the gateway's own (an overloaded box),
            // not the viewer's. Asked again shortly.
            return Min(HandshakeBudget, TimeSpan.FromSeconds(1));
        }
        if (Volatile.Read(ref _partialSince) != 0)
        {
            return TimeSpan.Zero;
        }
        var remaining = _s.IdleTimeout - _s.Time.GetElapsedTime(Volatile.Read(ref _waitingSince));
        if (remaining <= TimeSpan.Zero || _ticket is null || _ticket.UnderPressure)
        {
            return TimeSpan.Zero;
        }
        return Min(HandshakeBudget, remaining);
    }

    public async Task RunAsync()
    {
        // RTSPS: the TLS server handshake, within the handshake budget.
        if (await _channel.HandshakeAsync(HandshakeBudget, _s.Time, _cts.Token) is { } tlsFailure)
        {
            LogTlsFailed(_s.Logger, _remote, tlsFailure);
            _output.Drain();
            _channel.Close();
            return;
        }
        if (_channel.TlsDescription is { } tls)
        {
            LogTlsEstablished(_s.Logger, _remote, tls);
        }
        var writer = _output.RunAsync();
        var reader = _channel.OpenInput();
        Volatile.Write(ref _waitingSince, _s.Time.GetTimestamp());
        using var idle = new RequestDeadline(NextRequestBudget(), _s.Time, _cts.Token, OnRequestDeadline);
        try
        {
            while (true)
            {
                ReadResult result;
                try
                {
                    result = await reader.ReadAsync(idle.Token);
                }
                catch (OperationCanceledException) when (!_cts.IsCancellationRequested)
                {
                    // Counted by the server's admission and logged there as one warning per interval, not per close.
                    if (Authenticated)
                    {
                        LogIdle(_s.Logger, _remote, (int)_s.IdleTimeout.TotalSeconds);
                        _ticket?.CountIdleClose();
                        _endReason = "idle";
                    }
                    else
                    {
                        var partial = Volatile.Read(ref _partialSince);
                        LogHandshakeTimeout(_s.Logger, _remote, partial != 0 ? "an incomplete request" : "no request",
                            Math.Round(_s.Time.GetElapsedTime(partial != 0 ? partial : Volatile.Read(ref _waitingSince)).TotalSeconds, 1));
                        _ticket?.CountHandshakeTimeout();
                        _endReason = "no complete request within the handshake budget";
                    }
                    break;
                }
                var (request, close) = ParseBatch(reader, result);
                if (request is not null || _input.KeepAlive is not null)
                {
                    // One request per pass: the reader was advanced past it, so nothing is held across the await.
                    Volatile.Write(ref _partialSince, 0);
                    if (_input.KeepAlive is { } keepAlive)
                    {
                        AnswerKeepAlive(keepAlive);
                    }
                    else
                    {
                        close = await HandleAsync(request!);
                    }
                    Volatile.Write(ref _waitingSince, _s.Time.GetTimestamp());
                    idle.Reset(NextRequestBudget());
                    if (!close)
                    {
                        continue;
                    }
                }
                if (close || result.IsCompleted)
                {
                    _endReason ??= result.IsCompleted ? "viewer closed the connection" : null;
                    break;
                }
                if (_lastPending > 0 && Volatile.Read(ref _partialSince) == 0 && !Authenticated)
                {
                    // The first bytes of a request: it must be complete within the handshake budget from now.
                    Volatile.Write(ref _partialSince, _s.Time.GetTimestamp());
                    idle.Reset(HandshakeBudget);
                }
            }
        }
        catch (TlsInputException e)
        {
            LogTlsInputRefused(_s.Logger, _remote, e.Message);
            _endReason ??= "TLS: " + e.Message;
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
        {
            _endReason ??= "connection lost";
        }
        catch (Exception e)
        {
            LogUnexpected(_s.Logger, e, _remote);
            _endReason ??= "internal error";
        }
        finally
        {
            await EndAsync();
            // Let the writer send what is queued (a final response), then close.
            _output.Complete();
            var done = await Task.WhenAny(writer, Task.Delay(TimeSpan.FromSeconds(2), _s.Time));
            if (done != writer)
            {
                Abort("closing");
            }
            await reader.CompleteAsync();
            _channel.Close();
            _output.Drain();
        }
    }

    /// <summary>
    /// Consumes interleaved frames from the viewer and stops after the first request (returned). Incomplete
    /// input stays in the pipe. True when the input was malformed (a 400 was queued).
    /// </summary>
    private (RtspMessage? Request, bool Close) ParseBatch(PipeReader reader, ReadResult result)
    {
        _input.Request = null;
        _input.KeepAlive = null;
        var pass = RtspInput.Consume(reader, result, _input);
        _lastPending = pass.Pending;
        if (pass.Status == RtspReadStatus.Error)
        {
            LogBadInput(_s.Logger, _remote, pass.Error!);
            _output.EnqueueControl(ViewerProtocol.Error(-1, 400, pass.Error!).ToBytes());
            _endReason = "malformed request: " + pass.Error;
            return (null, true);
        }
        return (_input.Request, false);
    }

    /// <summary>
    /// What the viewer sends: interleaved frames go to the media, the first request stops the pass. Keep-alives come
    /// as <see cref="RtspKeepAlive"/>, read from the bytes without building a message.
    /// </summary>
    private sealed class ViewerInput(ViewerConnection connection) : IRtspFrameHandler
    {
        public RtspMessage? Request;
        public RtspKeepAlive? KeepAlive;

        public bool TakesKeepAlives => true;

        public bool OnKeepAlive(RtspKeepAlive request)
        {
            KeepAlive = request;
            return false;
        }

        public void OnInterleaved(InterleavedHeader frame, ReadOnlySequence<byte> payload) => connection.OnViewerFrame(frame, payload);

        public bool OnMessage(RtspMessage message)
        {
            if (message.IsRequest)
            {
                Request = message;
                return false;
            }
            return true; // a response from a player (to nothing we asked): ignored
        }
    }

    private void OnViewerFrame(InterleavedHeader frame, ReadOnlySequence<byte> payload)
    {
        if (_media is not null && _protocol.TryRouteInterleaved(frame.Channel, out var track, out var rtcp))
        {
            _media.OnViewerPacket(track, rtcp, payload);
        }
    }

    /// <summary>
    /// OPTIONS, GET_PARAMETER and SET_PARAMETER, as <see cref="HandleAsync"/> answers them (200, whatever the state) but
    /// written into a pooled buffer the output returns once sent: a playing viewer's keep-alives allocate nothing.
    /// </summary>
    private void AnswerKeepAlive(RtspKeepAlive request)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(ViewerProtocol.MaxKeepAliveResponseBytes);
        _output.EnqueuePooledControl(buffer, _protocol.WriteKeepAliveResponse(request, buffer));
    }

    /// <summary>Handles one request; true when the connection should close after the response.</summary>
    private async Task<bool> HandleAsync(RtspMessage request)
    {
        var cseq = request.CSeq;
        RtspMessage response;
        Action? after = null;
        var close = false;
        try
        {
            switch (request.Method)
            {
                case "OPTIONS":
                    response = RtspMessage.Response(200);
                    response.Headers.Add("Public", ViewerProtocol.Methods);
                    break;
                case "DESCRIBE":
                    response = await DescribeAsync(request);
                    break;
                case "SETUP":
                    response = await SetupAsync(request);
                    break;
                case "PLAY":
                    (response, after) = await PlayAsync(request);
                    break;
                case "PAUSE":
                    response = await PauseAsync(request);
                    break;
                case "TEARDOWN":
                    response = RtspMessage.Response(200);
                    _protocol.OnTeardown();
                    _endReason = "teardown";
                    close = true;
                    break;
                case "GET_PARAMETER" or "SET_PARAMETER":
                    response = RtspMessage.Response(200);
                    break;
                case "ANNOUNCE" or "RECORD":
                    response = ViewerProtocol.Error(cseq, 405, "this gateway does not accept published streams");
                    response.Headers.Add("Allow", ViewerProtocol.Methods);
                    break;
                default:
                    response = ViewerProtocol.Error(cseq, 501, "method not implemented");
                    break;
            }
        }
        catch (RtspRefusal r)
        {
            response = ViewerProtocol.Error(cseq, r.Status, r.Message);
            foreach (var (n, v) in r.Headers)
            {
                response.Headers.Add(n, v);
            }
            // A refused session start (401/403) leaves the connection usable for another try; a full server does not.
            close = r.Status == 503;
            if (close)
            {
                _endReason = "server full";
            }
        }
        _protocol.Finish(response, request);
        _output.EnqueueControl(response.ToBytes());
        after?.Invoke();
        return close;
    }

    private ViewerRequestPath ParsePath(RtspMessage request)
    {
        if (!ViewerRequestPath.TryParse(request.Uri ?? "", out var path))
        {
            throw new RtspRefusal(404, "unknown path: use /live/{deviceId}/{channel}/{main|sub} or /playback/{deviceId}/{channel}?start=…");
        }
        return path!;
    }

    /// <summary>Authentication then authorization; a denial is audited.</summary>
    private string Authorize(RtspMessage request, ViewerRequestPath path, out Privilege action)
    {
        action = _s.Media.RequiredPrivilege(path, request);
        if (_media is not null && _protocol.IsOpenMedia(path))
        {
            // SETUP/PLAY of an open media need what the media needs: ONVIF clients send the backchannel Require
            // header on DESCRIBE, not always on SETUP and PLAY.
            action = _media.Action;
        }
        return _access.Authorize(request, path, action, _protocol.SessionId);
    }

    private async Task<RtspMessage> DescribeAsync(RtspMessage request)
    {
        var path = ParsePath(request);
        var action = _s.Media.RequiredPrivilege(path, request);
        if (_media is not null && _media.Action != action && !_protocol.Playing)
        {
            // A DESCRIBE for other media on the same path (e.g. now with the backchannel): drop the old one first.
            await CloseMediaAsync();
        }
        var account = Authorize(request, path, out _);
        await OpenMediaAsync(path, request, account);
        var response = RtspMessage.Response(200);
        response.Headers.Add("Content-Type", "application/sdp");
        response.Body = Encoding.UTF8.GetBytes(_media!.Sdp);
        return response;
    }

    private async Task OpenMediaAsync(ViewerRequestPath path, RtspMessage request, string account)
    {
        switch (_protocol.DecideOpen(path))
        {
            case MediaDecision.Keep:
                return;
            case MediaDecision.Replace:
                await CloseMediaAsync();
                break;
        }
        if (_accountLease is null)
        {
            // One of the account's session slots, held until the connection ends (Limits:SessionsPerAccount).
            if (!_s.AccountLimits.TryAcquire(account, "rtsp", out _accountLease))
            {
                throw new RtspRefusal(503, $"this account has its maximum of {_s.AccountLimits.PerAccount} sessions; close one and try again");
            }
        }
        var sdpId = BitConverter.ToInt64(RandomNumberGenerator.GetBytes(8)) & long.MaxValue;
        var viewer = new ViewerContext(account, _protocol.SessionId ?? _connectionId, sdpId, _remote);
        _media = await _s.Media.OpenAsync(path, request, viewer, _cts.Token);
        _media.Ended += reason => Abort(reason);
        _protocol.OnMediaOpened(path, _media.TrackCount);
    }

    private async Task CloseMediaAsync()
    {
        var media = _media!;
        _media = null;
        _protocol.OnMediaClosed();
        await media.DisposeAsync();
    }

    private async Task<RtspMessage> SetupAsync(RtspMessage request)
    {
        var path = ParsePath(request);
        var account = Authorize(request, path, out _);
        if (_media is null || !_protocol.IsOpenMedia(path))
        {
            // Some clients SETUP without DESCRIBE.
            await OpenMediaAsync(path, request, account);
        }
        var track = path.Track ?? 0;
        var transport = _protocol.Setup(track, request.Headers.Get("Session"), request.Headers.Get("Transport"));
        _media!.OnSetup(track, request.Uri ?? "");
        var response = RtspMessage.Response(200);
        response.Headers.Add("Transport", transport.ToString());
        return response;
    }

    private async Task<(RtspMessage, Action?)> PlayAsync(RtspMessage request)
    {
        if (_media is null)
        {
            throw new RtspRefusal(455, "SETUP first");
        }
        _protocol.CheckPlay(request.Headers.Get("Session"));
        // The aggregate PLAY URL may omit the path a player used for SETUP; authorize against the media's.
        var mediaPath = _protocol.PlayPath(ParsePath(request));
        var account = Authorize(request, mediaPath, out _);
        _output.SetTrackChannels(_protocol.TrackChannelsCopy());
        var (response, after) = await _media.PlayAsync(request, _output, _cts.Token);
        if (response.StatusCode == 200 && !_access.Registered)
        {
            _access.Register(_protocol.SessionId!, account, _protocol.MediaPath!, _media.Action, Abort);
            if (_aborted == 0)
            {
                _access.AuditStarted();
                _metrics.ViewerSessions.Add(1, new KeyValuePair<string, object?>("action", _media.Action.ToContractName()));
            }
        }
        _protocol.OnPlayAnswered(response.StatusCode);
        return (response, after);
    }

    private async Task<RtspMessage> PauseAsync(RtspMessage request)
    {
        try
        {
            if (_media is null)
            {
                throw new RtspRefusal(455, "nothing is playing");
            }
            _protocol.CheckPause();
            return await _media.PauseAsync(request, _output, _cts.Token);
        }
        finally
        {
            _protocol.OnPaused();
        }
    }

    private async Task EndAsync()
    {
        _accountLease?.Dispose();
        _accountLease = null;
        if (_media is not null)
        {
            _media.Stop(_output);
            if (_access.Registered)
            {
                // Audits the end, unless the registry revoked the session (and audited that itself).
                _access.End(_endReason);
                _metrics.ViewerSessions.Add(-1, new KeyValuePair<string, object?>("action", _media.Action.ToContractName()));
            }
            try
            {
                await CloseMediaAsync();
            }
            catch (Exception e)
            {
                LogUnexpected(_s.Logger, e, _remote);
            }
        }
    }

    [LoggerMessage(EventId = 2300, Level = LogLevel.Warning, Message = "Viewer {Remote} sent malformed RTSP: {Error}; connection closed")]
    private static partial void LogBadInput(ILogger logger, string remote, string error);

    [LoggerMessage(EventId = 2302, Level = LogLevel.Debug, Message = "Viewer {Remote} closed after {Seconds} s without a playing session")]
    private static partial void LogIdle(ILogger logger, string remote, int seconds);

    [LoggerMessage(EventId = 2305, Level = LogLevel.Debug, Message = "Viewer {Remote} closed before authenticating: {What} for {Seconds} s")]
    private static partial void LogHandshakeTimeout(ILogger logger, string remote, string what, double seconds);

    [LoggerMessage(EventId = 2304, Level = LogLevel.Information, Message = "Viewer {Remote} on the RTSPS port: TLS handshake failed ({Reason}); connection closed")]
    private static partial void LogTlsFailed(ILogger logger, string remote, string reason);

    [LoggerMessage(EventId = 2307, Level = LogLevel.Debug, Message = "Viewer {Remote} on the RTSPS port: {Tls}")]
    private static partial void LogTlsEstablished(ILogger logger, string remote, string tls);

    [LoggerMessage(EventId = 2306, Level = LogLevel.Information, Message = "Viewer {Remote} on the RTSPS port: {Reason}; connection closed")]
    private static partial void LogTlsInputRefused(ILogger logger, string remote, string reason);

    [LoggerMessage(EventId = 2303, Level = LogLevel.Error, Message = "Viewer connection {Remote} failed unexpectedly")]
    private static partial void LogUnexpected(ILogger logger, Exception e, string remote);
}
