using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using HikShareGateway.WebRtc.Diagnostics;
using HikShareGateway.WebRtc.Stun;
using Microsoft.Extensions.Logging;

namespace HikShareGateway.WebRtc.Ice;

/// <summary>Who gets the responses to a STUN request it sent through the mux (routed by transaction id).</summary>
public interface IStunResponseHandler
{
    /// <summary>
    /// A success or error response from <paramref name="from"/>, which came through <paramref name="via"/>
    /// (null: straight to the mux socket; a relay base: unwrapped from a TURN allocation).
    /// </summary>
    void OnStunResponse(scoped in StunMessage response, IceBase? via, IPEndPoint from);
}

/// <summary>A session as the mux sees it: its ICE agent, and where DTLS and SRTP datagrams go.</summary>
public interface IUdpMuxSession
{
    IceAgent Ice { get; }

    /// <summary>A datagram whose first byte is 20–63 from an address this session's ICE validated.</summary>
    void OnDtls(ReadOnlySpan<byte> datagram, SocketAddress from);

    /// <summary>SRTP or SRTCP (first byte 128–191); the session unprotects it in place, so the span is writable.</summary>
    void OnSrtp(Span<byte> datagram);
}

/// <summary>
/// The one UDP socket of WebRTC (<c>WebRtc:UdpPort</c>), shared by every session. Demultiplexes by the first
/// byte (RFC 7983 §7: 0–3 STUN, 20–63 DTLS, 128–191 RTP/RTCP): STUN Binding requests find their session by the
/// ufrag in USERNAME and, once answered, bind the remote address to it; DTLS and SRTP are routed by remote
/// address only. One receive loop; sends are synchronous <c>sendto</c> from the caller's thread. No allocation
/// per media datagram.
/// </summary>
public sealed partial class UdpMux : IAsyncDisposable
{
    private const int MaxDatagram = 2048;
    private static readonly IPEndPoint AnyV4 = new(IPAddress.Any, 0);
    private static readonly IPEndPoint AnyV6 = new(IPAddress.IPv6Any, 0);

    private readonly Socket _socket;
    private readonly ILogger _logger;
    private readonly DropCounters _drops;
    private readonly ConcurrentDictionary<string, IUdpMuxSession> _byUfrag = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, IUdpMuxSession>.AlternateLookup<ReadOnlySpan<char>> _byUfragSpan;
    private readonly ConcurrentDictionary<SocketAddress, IUdpMuxSession> _byAddress = new();
    private readonly ConcurrentDictionary<StunTransactionId, IStunResponseHandler> _transactions = new();
    private readonly ConcurrentDictionary<SocketAddress, TurnClient> _turnByServer = new();
    private readonly ConcurrentDictionary<TurnClient, byte> _turns = new();
    // The UDP loop and every TURN-over-TCP/TLS reader dispatch under this one lock, so a session sees its datagrams
    // one at a time whichever path they came by (uncontended in the common case: one path per session).
    private readonly Lock _dispatchGate = new();
    private volatile IceBase[] _bases;
    private readonly CancellationTokenSource _stop = new();
    private readonly ITimer _consentTimer;
    private Task? _loop;

    public UdpMux(IPEndPoint bind, TimeProvider time, ILogger logger, DropCounters drops)
    {
        _logger = logger;
        _drops = drops;
        _socket = new Socket(bind.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        if (bind.AddressFamily == AddressFamily.InterNetworkV6) _socket.DualMode = true;
        _socket.Bind(bind);
        _byUfragSpan = _byUfrag.GetAlternateLookup<ReadOnlySpan<char>>();
        DirectBase = IceBase.Direct(SdpCandidateHostPriority);
        _bases = [DirectBase];
        _consentTimer = time.CreateTimer(_ => CheckConsent(), null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
    }

    public IPEndPoint LocalEndPoint => (IPEndPoint)_socket.LocalEndPoint!;

    public DropCounters Drops => _drops;

    /// <summary>RFC 8445 §5.1.2.1: the best host candidate's priority (type 126, local preference 65535).</summary>
    private static uint SdpCandidateHostPriority => IceCandidate.ComputePriority(IceCandidateType.Host, 65535);

    /// <summary>The mux socket as an ICE base: host and server-reflexive candidates send from it.</summary>
    public IceBase DirectBase { get; }

    /// <summary>Every base a session's agent pairs: the socket, then each TURN allocation.</summary>
    public IReadOnlyList<IceBase> LocalBases => _bases;

    /// <summary>ICE outcomes of the sessions on this port, by candidate type.</summary>
    public IceOutcomeCounters IceOutcomes { get; } = new();

    /// <summary>
    /// Routes a TURN client's server traffic to it (UDP: datagrams from the server's address; TCP/TLS: its own
    /// connection calls <see cref="DispatchTurnFrame"/>) and offers its allocation as a base to new sessions.
    /// </summary>
    public void AddTurn(TurnClient turn)
    {
        _turns[turn] = 0;
        if (turn.Transport == TurnTransport.Udp) _turnByServer[turn.ServerAddress] = turn;
        if (turn.Base is { } b && Array.IndexOf(_bases, b) < 0) _bases = [.. _bases, b];
    }

    /// <summary>A TURN allocation that is gone (its TCP/TLS connection ended): new sessions no longer pair its base.</summary>
    public void RemoveTurn(TurnClient turn)
    {
        if (turn.Base is { } b) _bases = Array.FindAll(_bases, x => !ReferenceEquals(x, b));
        if (turn.Transport == TurnTransport.Udp) _turnByServer.TryRemove(new KeyValuePair<SocketAddress, TurnClient>(turn.ServerAddress, turn));
    }

    /// <summary>One frame read from a TURN server's TCP/TLS connection, demultiplexed as a datagram from that server.</summary>
    internal void DispatchTurnFrame(Span<byte> frame, TurnClient turn)
    {
        if (frame.IsEmpty) return;
        lock (_dispatchGate) DispatchFromTurn(frame, turn.ServerAddress, turn);
    }

    /// <summary>Responses with this transaction id go to <paramref name="handler"/> until <see cref="Forget"/>.</summary>
    public void Expect(StunTransactionId id, IStunResponseHandler handler) => _transactions[id] = handler;

    public void Forget(StunTransactionId id) => _transactions.TryRemove(id, out _);

    /// <summary>Requests whose responses are still routed (diagnostics, tests).</summary>
    internal int PendingTransactions => _transactions.Count;

    /// <summary>An endpoint in the form this socket sends to and receives from (IPv4-mapped on a dual-mode socket).</summary>
    public SocketAddress SocketAddressOf(IPEndPoint endPoint)
    {
        var e = Normalize(endPoint);
        if (_socket.AddressFamily == AddressFamily.InterNetworkV6 && e.AddressFamily == AddressFamily.InterNetwork)
        {
            e = new IPEndPoint(e.Address.MapToIPv6(), e.Port);
        }
        return e.Serialize();
    }

    /// <summary>Sends from a base: straight from the socket, or through the base's TURN allocation.</summary>
    public void SendVia(IceBase? via, IPEndPoint to, ReadOnlySpan<byte> datagram)
    {
        if (via?.Relay is TurnClient turn) turn.SendTo(datagram, to);
        else Send(datagram, to);
    }

    /// <summary>Sends one datagram as it is (TURN control and ChannelData to the server).</summary>
    internal void SendRaw(ReadOnlySpan<byte> datagram, SocketAddress remote) => Send(datagram, remote);

    /// <summary>
    /// RFC 8489 Binding to a STUN server from the mux socket: our server-reflexive address, or null after
    /// the retransmissions (500 ms doubling, 4 transmissions) went unanswered.
    /// </summary>
    public async Task<IPEndPoint?> QueryReflexiveAsync(IPEndPoint server, TimeProvider time, CancellationToken ct)
    {
        var query = new BindingQuery(Normalize(server));
        var id = StunTransactionId.New();
        var request = new byte[28];
        Span<byte> tid = stackalloc byte[12];
        id.WriteTo(tid);
        var w = new StunWriter(request, StunMethod.Binding, StunClass.Request, tid);
        w.AddFingerprint();
        var address = SocketAddressOf(server);
        Expect(id, query);
        try
        {
            var rto = TimeSpan.FromMilliseconds(500);
            for (var i = 0; i < 4; i++, rto *= 2)
            {
                Send(request, address);
                var delay = Task.Delay(rto, time, ct);
                if (await Task.WhenAny(query.Result.Task, delay).ConfigureAwait(false) == query.Result.Task) return await query.Result.Task.ConfigureAwait(false);
                ct.ThrowIfCancellationRequested();
            }
            return null;
        }
        finally
        {
            Forget(id);
        }
    }

    private sealed class BindingQuery(IPEndPoint server) : IStunResponseHandler
    {
        public TaskCompletionSource<IPEndPoint?> Result { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void OnStunResponse(scoped in StunMessage response, IceBase? via, IPEndPoint from)
        {
            if (via is not null || !from.Equals(server)) return;
            Result.TrySetResult(response.Class == StunClass.SuccessResponse && response.TryGetXorMappedAddress(out var mapped) ? mapped : null);
        }
    }

    public void Register(IUdpMuxSession session)
    {
        if (!_byUfrag.TryAdd(session.Ice.Local.Ufrag, session)) throw new InvalidOperationException("Duplicate ICE ufrag.");
    }

    public void Unregister(IUdpMuxSession session)
    {
        _byUfrag.TryRemove(new KeyValuePair<string, IUdpMuxSession>(session.Ice.Local.Ufrag, session));
        foreach (var (address, s) in _byAddress)
        {
            if (ReferenceEquals(s, session)) _byAddress.TryRemove(new KeyValuePair<SocketAddress, IUdpMuxSession>(address, s));
        }
    }

    public void Start() => _loop ??= Task.Run(ReceiveLoopAsync);

    /// <summary>Sends one datagram; a full socket buffer drops it (UDP semantics, counted by the kernel).</summary>
    public void Send(ReadOnlySpan<byte> datagram, SocketAddress remote)
    {
        try
        {
            _socket.SendTo(datagram, SocketFlags.None, remote);
        }
        catch (SocketException e)
        {
            LogSendFailed(_logger, e.SocketErrorCode);
        }
    }

    public void Send(ReadOnlySpan<byte> datagram, IPEndPoint remote) => Send(datagram, Normalize(remote).Serialize());

    private async Task ReceiveLoopAsync()
    {
        var buffer = GC.AllocateArray<byte>(MaxDatagram, pinned: true);
        var from = new SocketAddress(_socket.AddressFamily);
        while (!_stop.IsCancellationRequested)
        {
            int n;
            try
            {
                n = await _socket.ReceiveFromAsync(buffer, SocketFlags.None, from, _stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) { break; }
            catch (ObjectDisposedException) { break; }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.MessageSize)
            {
                continue; // ICMP port unreachable from an earlier send, or an oversized datagram
            }
            try
            {
                lock (_dispatchGate) Dispatch(buffer.AsSpan(0, n), from);
            }
            catch (Exception e)
            {
                // One bad datagram or one failing session must not stop the port for every other session.
                LogDispatchFailed(_logger, e);
            }
        }
    }

    /// <summary>The demultiplexing decision for one datagram (the receive loop's only work).</summary>
    internal void Dispatch(Span<byte> datagram, SocketAddress from)
    {
        if (datagram.IsEmpty) return;
        if (!_turnByServer.IsEmpty && _turnByServer.TryGetValue(from, out var turn))
        {
            DispatchFromTurn(datagram, from, turn);
            return;
        }
        var first = datagram[0];
        if (first < 4)
        {
            HandleStun(datagram, from, null, null);
            return;
        }
        if (first is >= 20 and <= 63 or >= 128 and <= 191)
        {
            if (!_byAddress.TryGetValue(from, out var session))
            {
                _drops.Count(DropReason.UnknownRemote);
                return;
            }
            if (first < 128) session.OnDtls(datagram, from);
            else session.OnSrtp(datagram);
            return;
        }
        _drops.Count(DropReason.UnknownFirstByte);
    }

    /// <summary>
    /// From a TURN server: ChannelData and Data indications carry a peer's datagram, demultiplexed as if it had
    /// come to the socket, but through the relay base; the rest are responses to the client's requests.
    /// </summary>
    private void DispatchFromTurn(Span<byte> datagram, SocketAddress from, TurnClient turn)
    {
        if (!turn.TryUnwrap(datagram, out var inner, out var peer, out var peerKey))
        {
            if (datagram[0] < 4) HandleStun(datagram, from, null, null);
            return;
        }
        if (inner.IsEmpty || turn.Base is not { } relay) return;
        var first = inner[0];
        if (first < 4)
        {
            HandleStun(inner, peerKey, relay, peer);
            return;
        }
        if (first is >= 20 and <= 63 or >= 128 and <= 191)
        {
            if (!_byAddress.TryGetValue(peerKey, out var session))
            {
                _drops.Count(DropReason.UnknownRemote);
                return;
            }
            if (first < 128) session.OnDtls(inner, peerKey);
            else session.OnSrtp(inner);
            return;
        }
        _drops.Count(DropReason.UnknownFirstByte);
    }

    /// <param name="key">The address the datagram is bound under: the sender's, or for relayed ones the peer's.</param>
    /// <param name="via">Null for the socket, else the relay base it came through.</param>
    /// <param name="relayedPeer">The peer behind the relay (null when direct).</param>
    private void HandleStun(ReadOnlySpan<byte> datagram, SocketAddress key, IceBase? via, IPEndPoint? relayedPeer)
    {
        if (!StunMessage.TryParse(datagram, out var message, out var error))
        {
            _drops.Count(error == StunParseError.BadFingerprint ? DropReason.StunBadFingerprint : DropReason.StunMalformed);
            return;
        }
        if (message.Class is StunClass.SuccessResponse or StunClass.ErrorResponse)
        {
            // Responses to our own requests (ICE checks, consent, STUN/TURN queries), told apart by transaction id.
            if (_transactions.TryGetValue(StunTransactionId.From(message.TransactionId), out var handler))
            {
                handler.OnStunResponse(message, via, relayedPeer ?? ToEndPoint(key));
            }
            return;
        }
        if (message.Class != StunClass.Request || message.Method != StunMethod.Binding) return; // indications
        var ufrag = IceAgent.TargetUfrag(message);
        if (ufrag.Length is 0 or > 256)
        {
            _drops.Count(DropReason.StunUnknownUsername);
            return;
        }
        Span<char> chars = stackalloc char[ufrag.Length];
        for (var i = 0; i < ufrag.Length; i++) chars[i] = (char)ufrag[i];
        if (!_byUfragSpan.TryGetValue(chars, out var session))
        {
            _drops.Count(DropReason.StunUnknownUsername);
            return;
        }
        var remote = relayedPeer ?? ToEndPoint(key);
        Span<byte> response = stackalloc byte[256];
        var outcome = session.Ice.HandleRequest(message, via, remote, response, out var length);
        if (outcome == IceCheckOutcome.Answered && !_byAddress.ContainsKey(key))
        {
            var copy = new SocketAddress(key.Family, key.Size);
            key.Buffer.Span[..key.Size].CopyTo(copy.Buffer.Span);
            _byAddress[copy] = session;
            LogPairValidated(_logger, session.Ice.Local.Ufrag, remote.ToString());
        }
        if (length == 0) return;
        if (via?.Relay is TurnClient turn) turn.SendTo(response[..length], remote);
        else Send(response[..length], key);
    }

    /// <summary>An address as an endpoint (allocates: for checks and pre-nomination DTLS, not for media).</summary>
    public static IPEndPoint ToEndPoint(SocketAddress address)
        => Normalize((IPEndPoint)(address.Family == AddressFamily.InterNetwork ? AnyV4 : AnyV6).Create(address));

    /// <summary>IPv4-mapped IPv6 (dual-mode socket) reported as the IPv4 address it is.</summary>
    private static IPEndPoint Normalize(IPEndPoint e)
        => e.Address.IsIPv4MappedToIPv6 ? new IPEndPoint(e.Address.MapToIPv4(), e.Port) : e;

    private void CheckConsent()
    {
        foreach (var session in _byUfrag.Values)
        {
            if (session.Ice.CheckConsent() == IceState.Closed)
            {
                LogConsentExpired(_logger, session.Ice.Local.Ufrag);
                Unregister(session);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        _consentTimer.Dispose();
        foreach (var turn in _turns.Keys) turn.Dispose();
        _stop.Cancel();
        _socket.Dispose();
        if (_loop is not null)
        {
            try { await _loop.ConfigureAwait(false); }
            catch (OperationCanceledException) { }
        }
        _stop.Dispose();
    }

    [LoggerMessage(EventId = 7010, Level = LogLevel.Debug, Message = "ICE pair validated for session {Ufrag}: {Remote}")]
    private static partial void LogPairValidated(ILogger logger, string ufrag, string remote);

    [LoggerMessage(EventId = 7011, Level = LogLevel.Information, Message = "ICE consent expired for session {Ufrag} (RFC 7675)")]
    private static partial void LogConsentExpired(ILogger logger, string ufrag);

    [LoggerMessage(EventId = 7013, Level = LogLevel.Error, Message = "WebRTC datagram dispatch failed")]
    private static partial void LogDispatchFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 7012, Level = LogLevel.Debug, Message = "WebRTC UDP send failed: {Error}")]
    private static partial void LogSendFailed(ILogger logger, SocketError error);
}
