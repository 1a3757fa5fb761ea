using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using HikShareGateway.WebRtc.Diagnostics;
using HikShareGateway.WebRtc.Stun;
using Microsoft.Extensions.Logging;

namespace HikShareGateway.WebRtc.Ice;

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
        _consentTimer = time.CreateTimer(_ => CheckConsent(), null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
    }

    public IPEndPoint LocalEndPoint => (IPEndPoint)_socket.LocalEndPoint!;

    public DropCounters Drops => _drops;

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
                Dispatch(buffer.AsSpan(0, n), from);
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
        var first = datagram[0];
        if (first < 4)
        {
            HandleStun(datagram, from);
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

    private void HandleStun(ReadOnlySpan<byte> datagram, SocketAddress from)
    {
        if (!StunMessage.TryParse(datagram, out var message, out var error))
        {
            _drops.Count(error == StunParseError.BadFingerprint ? DropReason.StunBadFingerprint : DropReason.StunMalformed);
            return;
        }
        if (message.Class != StunClass.Request || message.Method != StunMethod.Binding) return; // indications, stray responses
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
        var remote = ToEndPoint(from);
        Span<byte> response = stackalloc byte[256];
        var outcome = session.Ice.HandleRequest(message, Normalize(remote), response, out var length);
        if (outcome == IceCheckOutcome.Answered && !_byAddress.ContainsKey(from))
        {
            var key = new SocketAddress(from.Family, from.Size);
            from.Buffer.Span[..from.Size].CopyTo(key.Buffer.Span);
            _byAddress[key] = session;
            LogPairValidated(_logger, session.Ice.Local.Ufrag, remote.ToString());
        }
        if (length > 0) Send(response[..length], from);
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
