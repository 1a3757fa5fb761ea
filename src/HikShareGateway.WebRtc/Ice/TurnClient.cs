using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;
using HikShareGateway.WebRtc.Diagnostics;
using HikShareGateway.WebRtc.Stun;
using Microsoft.Extensions.Logging;

namespace HikShareGateway.WebRtc.Ice;

/// <summary>TURN long-term credentials (RFC 8656 §9.2), or ones derived from a TURN REST shared secret.</summary>
public sealed record TurnCredentials(string Username, string Password);

/// <summary>Why an allocation failed.</summary>
public enum TurnFailure
{
    None,
    /// <summary>No answer to the request within its retransmissions.</summary>
    Timeout,
    /// <summary>401 again after authenticating: wrong username or password (or an expired REST username).</summary>
    Unauthorized,
    /// <summary>Any other error response (its code is logged).</summary>
    Refused,
    /// <summary>A success response without the attributes it must carry.</summary>
    Malformed,
}

/// <summary>
/// A TURN client over UDP (RFC 8656) on the mux socket, shared by every session: one allocation whose relayed
/// address is a candidate in every answer. Allocate with long-term credentials (401 → REALM/NONCE → retry,
/// 438 → new nonce), Refresh before the lifetime ends, CreatePermission for each peer address a session checks,
/// ChannelBind once the permission is there, so that media travels as ChannelData (RFC 8656 §12, first byte
/// 64–79, RFC 7983) and only the first datagrams as Send indications. The mux hands it what comes from the
/// server (<see cref="TryUnwrap"/>); responses to its requests come through the mux's transaction routing.
/// </summary>
public sealed partial class TurnClient : IStunResponseHandler, IDisposable
{
    private const int MaxMessage = 1600;
    private const ushort FirstChannel = 0x4000, LastChannel = 0x4FFF;
    private static readonly TimeSpan PermissionLifetime = TimeSpan.FromMinutes(5); // RFC 8656 §9
    private static readonly TimeSpan ChannelLifetime = TimeSpan.FromMinutes(10);   // RFC 8656 §12
    private static readonly TimeSpan Rto = TimeSpan.FromMilliseconds(500);
    private const int MaxTransmissions = 5;

    private readonly UdpMux _mux;
    private readonly Func<TurnCredentials> _credentials;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly DropCounters _drops;
    private readonly Lock _gate = new();
    private readonly Dictionary<StunTransactionId, TaskCompletionSource<byte[]>> _pending = [];
    private readonly Dictionary<IPAddress, Permission> _permissions = [];
    private readonly Dictionary<IPEndPoint, ushort> _channels = [];
    private readonly IPEndPoint?[] _byChannel = new IPEndPoint?[LastChannel - FirstChannel + 1];
    private readonly SocketAddress?[] _byChannelKey = new SocketAddress?[LastChannel - FirstChannel + 1];
    private readonly long[] _channelExpires = new long[LastChannel - FirstChannel + 1];
    private readonly byte[] _send = new byte[MaxMessage + 64];
    private readonly CancellationTokenSource _stop = new();
    private ITimer? _refresh;
    private ushort _nextChannel = FirstChannel;
    private string? _realm, _nonce, _username;
    private byte[]? _key;
    private long _allocationExpires;

    private sealed class Permission
    {
        public long Expires;
        public bool Pending;
    }

    /// <summary>A TURN client over UDP, from the mux socket.</summary>
    public TurnClient(UdpMux mux, IPEndPoint server, Func<TurnCredentials> credentials, TimeProvider time, ILogger logger, DropCounters drops)
        : this(mux, server, null, credentials, time, logger, drops)
    {
    }

    /// <summary>A TURN client whose server link is a TCP/TLS connection (<see cref="TurnStreamLink"/>), or the mux socket when null.</summary>
    internal TurnClient(UdpMux mux, IPEndPoint server, ITurnServerLink? link, Func<TurnCredentials> credentials, TimeProvider time, ILogger logger, DropCounters drops)
    {
        _mux = mux;
        Server = server.Address.IsIPv4MappedToIPv6 ? new IPEndPoint(server.Address.MapToIPv4(), server.Port) : server;
        ServerAddress = mux.SocketAddressOf(Server);
        _link = link ?? new UdpTurnLink(mux, ServerAddress);
        _stream = _link.Transport != TurnTransport.Udp;
        _credentials = credentials;
        _time = time;
        _logger = logger;
        _drops = drops;
    }

    private readonly ITurnServerLink _link;
    private readonly bool _stream;

    public IPEndPoint Server { get; }
    internal SocketAddress ServerAddress { get; }

    /// <summary>How this client reaches its server (UDP, TCP or TLS); the relayed side is UDP in every case.</summary>
    public TurnTransport Transport => _link.Transport;

    /// <summary>The relayed transport address (the relay candidate), once allocated.</summary>
    public IPEndPoint? RelayedAddress { get; private set; }

    /// <summary>Our address as the TURN server saw it (a server-reflexive candidate, RFC 8656 §7.3).</summary>
    public IPEndPoint? MappedAddress { get; private set; }

    /// <summary>The ICE base of the allocation, for the agents' pairs (null until allocated).</summary>
    public IceBase? Base { get; private set; }

    /// <summary>Datagrams dropped because the peer had no permission yet (the ICE check's retransmission follows it).</summary>
    public long DroppedBeforePermission => Interlocked.Read(ref _droppedBeforePermission);
    private long _droppedBeforePermission;

    // ---------------------------------------------------------------- allocation

    /// <summary>
    /// Allocates a UDP relay (RFC 8656 §7.1) and keeps it refreshed until disposed. The client must have been
    /// given to <see cref="UdpMux.AddTurn"/> first (the server's answers are routed to it from there).
    /// </summary>
    public async Task<TurnFailure> AllocateAsync(CancellationToken ct)
    {
        var (failure, response) = await RequestAsync(StunMethod.Allocate, static (ref StunWriter w, object? _) =>
        {
            // RFC 8656 §7.1: REQUESTED-TRANSPORT UDP (protocol 17 in the first byte).
            w.AddUInt32(StunAttribute.RequestedTransport, 17u << 24);
        }, null, ct).ConfigureAwait(false);
        if (failure != TurnFailure.None) return failure;
        if (!StunMessage.TryParse(response, out var m, out _)
            || !m.TryGetXorAddress(StunAttribute.XorRelayedAddress, out var relayed))
        {
            return TurnFailure.Malformed;
        }
        MappedAddress = m.TryGetXorMappedAddress(out var mapped) ? mapped : null;
        RelayedAddress = relayed;
        var lifetime = Lifetime(m, TimeSpan.FromMinutes(10));
        _allocationExpires = _time.GetTimestamp() + Ticks(lifetime);
        // RFC 8445 §5.1.2.1: a relay reached over UDP is preferred to one over TCP or TLS (local preference).
        Base = IceBase.Relayed(IceCandidate.ComputePriority(IceCandidateType.Relayed, RelayLocalPreference(Transport)), relayed, this, Transport);
        _refresh = _time.CreateTimer(_ => _ = RefreshDueAsync(), null, TimeSpan.FromSeconds(15), TimeSpan.FromSeconds(15));
        _mux.AddTurn(this); // now with its relay base, for the sessions created from here on
        LogAllocated(_logger, Server.ToString(), relayed.ToString(), (int)lifetime.TotalSeconds);
        return TurnFailure.None;
    }

    /// <summary>The relayed candidate's local preference by the transport to its server (UDP first, then TCP, then TLS).</summary>
    internal static int RelayLocalPreference(TurnTransport transport) => transport switch
    {
        TurnTransport.Udp => 65535,
        TurnTransport.Tcp => 32767,
        _ => 16383,
    };

    private static TimeSpan Lifetime(scoped in StunMessage m, TimeSpan fallback)
        => m.TryGetAttribute(StunAttribute.Lifetime, out var v) && v.Length == 4
            ? TimeSpan.FromSeconds(BinaryPrimitives.ReadUInt32BigEndian(v))
            : fallback;

    /// <summary>A Refresh success's LIFETIME (10 minutes when absent); its own method so the parsed message (a ref
    /// struct) never lives in the async caller's frame, which Debug builds hoist whole.</summary>
    private static bool TryRefreshedLifetime(byte[] response, out TimeSpan lifetime)
    {
        if (!StunMessage.TryParse(response, out var m, out _))
        {
            lifetime = default;
            return false;
        }
        lifetime = Lifetime(m, TimeSpan.FromMinutes(10));
        return true;
    }

    private long Ticks(TimeSpan span) => (long)(span.TotalSeconds * _time.TimestampFrequency);

    /// <summary>Every 15 s: refresh what ends within a minute (allocation), permissions at 4 of their 5 minutes, channels at 9 of 10.</summary>
    private async Task RefreshDueAsync()
    {
        var now = _time.GetTimestamp();
        try
        {
            if (now >= _allocationExpires - Ticks(TimeSpan.FromSeconds(60)))
            {
                var (failure, response) = await RequestAsync(StunMethod.Refresh, static (ref StunWriter w, object? _) =>
                    w.AddUInt32(StunAttribute.Lifetime, 600), null, _stop.Token).ConfigureAwait(false);
                if (failure == TurnFailure.None && TryRefreshedLifetime(response, out var lifetime))
                {
                    _allocationExpires = _time.GetTimestamp() + Ticks(lifetime);
                }
                else
                {
                    LogRefreshFailed(_logger, Server.ToString(), failure);
                }
            }
            List<IPAddress> permissions = [];
            List<(IPEndPoint, ushort)> channels = [];
            lock (_gate)
            {
                foreach (var (address, p) in _permissions)
                {
                    if (!p.Pending && now >= p.Expires - Ticks(TimeSpan.FromMinutes(1))) permissions.Add(address);
                }
                foreach (var (peer, channel) in _channels)
                {
                    if (now >= _channelExpires[channel - FirstChannel] - Ticks(TimeSpan.FromMinutes(1))) channels.Add((peer, channel));
                }
            }
            foreach (var address in permissions) await CreatePermissionAsync(address).ConfigureAwait(false);
            // A channel binding lasts 10 minutes; re-binding the same channel refreshes it (RFC 8656 §12.3).
            foreach (var (peer, channel) in channels) await BindChannelAsync(peer, channel).ConfigureAwait(false);
        }
        catch (OperationCanceledException) { }
    }

    // ---------------------------------------------------------------- permissions and channels

    private async Task CreatePermissionAsync(IPAddress address)
    {
        var (failure, _) = await RequestAsync(StunMethod.CreatePermission, static (ref StunWriter w, object? state) =>
            w.AddXorAddress(StunAttribute.XorPeerAddress, new IPEndPoint((IPAddress)state!, 0)), address, _stop.Token).ConfigureAwait(false);
        lock (_gate)
        {
            if (!_permissions.TryGetValue(address, out var p)) return;
            p.Pending = false;
            if (failure == TurnFailure.None) p.Expires = _time.GetTimestamp() + Ticks(PermissionLifetime);
            else _permissions.Remove(address);
        }
        if (failure != TurnFailure.None) LogPermissionFailed(_logger, address.ToString(), failure);
    }

    private async Task BindChannelAsync(IPEndPoint peer, ushort channel)
    {
        var (failure, _) = await RequestAsync(StunMethod.ChannelBind, static (ref StunWriter w, object? state) =>
        {
            var (p, c) = ((IPEndPoint, ushort))state!;
            w.AddUInt32(StunAttribute.ChannelNumber, (uint)c << 16);
            w.AddXorAddress(StunAttribute.XorPeerAddress, p);
        }, (peer, channel), _stop.Token).ConfigureAwait(false);
        lock (_gate)
        {
            if (failure == TurnFailure.None)
            {
                _channels[peer] = channel;
                _byChannelKey[channel - FirstChannel] = _mux.SocketAddressOf(peer);
                Volatile.Write(ref _byChannel[channel - FirstChannel], peer);
                _channelExpires[channel - FirstChannel] = _time.GetTimestamp() + Ticks(ChannelLifetime);
            }
        }
    }

    // ---------------------------------------------------------------- data

    /// <summary>
    /// Sends one datagram to <paramref name="peer"/> through the relay: ChannelData once bound, a Send indication
    /// while the binding is on its way; before the peer's permission exists the datagram is dropped and the
    /// permission requested (the ICE check that triggered it is retransmitted). No allocation once bound.
    /// </summary>
    public void SendTo(ReadOnlySpan<byte> data, IPEndPoint peer)
    {
        if (data.Length > MaxMessage || RelayedAddress is null) return;
        var startPermission = false;
        var startChannel = (ushort)0;
        lock (_gate)
        {
            if (_channels.TryGetValue(peer, out var channel))
            {
                // RFC 8656 §12.4: channel number, length, data; §12.5: padded to a multiple of 4 over TCP/TLS only.
                BinaryPrimitives.WriteUInt16BigEndian(_send, channel);
                BinaryPrimitives.WriteUInt16BigEndian(_send.AsSpan(2), (ushort)data.Length);
                data.CopyTo(_send.AsSpan(4));
                var total = 4 + data.Length;
                if (_stream)
                {
                    var padded = (total + 3) & ~3;
                    _send.AsSpan(total, padded - total).Clear();
                    total = padded;
                }
                _link.Send(_send.AsSpan(0, total));
                return;
            }
            if (!_permissions.TryGetValue(peer.Address, out var permission))
            {
                _permissions[peer.Address] = new Permission { Pending = true };
                startPermission = true;
                Interlocked.Increment(ref _droppedBeforePermission);
            }
            else if (permission.Pending)
            {
                Interlocked.Increment(ref _droppedBeforePermission);
            }
            else
            {
                // RFC 8656 §11.1: a Send indication (no authentication), until the channel is bound.
                Span<byte> tid = stackalloc byte[12];
                StunTransactionId.New().WriteTo(tid);
                var w = new StunWriter(_send, StunMethod.Send, StunClass.Indication, tid);
                w.AddXorAddress(StunAttribute.XorPeerAddress, peer);
                w.AddAttribute(StunAttribute.Data, data);
                w.AddFingerprint();
                _link.Send(w.Written);
                if (!_channels.ContainsKey(peer) && _nextChannel <= LastChannel && !_binding.Contains(peer))
                {
                    _binding.Add(peer);
                    startChannel = _nextChannel++;
                }
            }
        }
        if (startPermission) _ = CreatePermissionAsync(peer.Address);
        if (startChannel != 0) _ = BindChannelAsync(peer, startChannel);
    }

    private readonly HashSet<IPEndPoint> _binding = [];

    /// <summary>
    /// A datagram from the TURN server: ChannelData or a Data indication is unwrapped in place to the peer's
    /// datagram (true); anything else (responses, which the mux routes by transaction id) is not data (false).
    /// </summary>
    internal bool TryUnwrap(Span<byte> datagram, out Span<byte> inner, out IPEndPoint peer, out SocketAddress peerKey)
    {
        inner = default;
        peer = null!;
        peerKey = null!;
        if (datagram.Length >= 4 && datagram[0] is >= 64 and <= 79)
        {
            var channel = BinaryPrimitives.ReadUInt16BigEndian(datagram);
            int length = BinaryPrimitives.ReadUInt16BigEndian(datagram[2..]);
            if (channel is < FirstChannel or > LastChannel || length > datagram.Length - 4)
            {
                _drops.Count(DropReason.TurnMalformed);
                return false;
            }
            var p = Volatile.Read(ref _byChannel[channel - FirstChannel]);
            if (p is null)
            {
                _drops.Count(DropReason.TurnMalformed);
                return false;
            }
            peer = p;
            peerKey = _byChannelKey[channel - FirstChannel]!;
            inner = datagram.Slice(4, length);
            return true;
        }
        if (!StunMessage.TryParse(datagram, out var m, out _) || m.Method != StunMethod.Data || m.Class != StunClass.Indication) return false;
        if (!m.TryGetXorAddress(StunAttribute.XorPeerAddress, out peer) || !m.TryGetAttribute(StunAttribute.Data, out var data))
        {
            _drops.Count(DropReason.TurnMalformed);
            return false;
        }
        // The DATA value is a slice of the datagram: hand it on as a writable span of the same buffer.
        var offset = (int)System.Runtime.CompilerServices.Unsafe.ByteOffset(
            ref System.Runtime.InteropServices.MemoryMarshal.GetReference((ReadOnlySpan<byte>)datagram),
            ref System.Runtime.InteropServices.MemoryMarshal.GetReference(data));
        inner = datagram.Slice(offset, data.Length);
        peerKey = _mux.SocketAddressOf(peer); // Data indications come only before the channel is bound
        return true;
    }

    // ---------------------------------------------------------------- requests

    private delegate void AttributeWriter(ref StunWriter writer, object? state);

    /// <summary>
    /// One request with retransmissions (RFC 8489 §6.2.1, 500 ms doubling), authenticated with the long-term
    /// credential once the server told us its realm and nonce (401), again with a fresh nonce on 438.
    /// </summary>
    private async Task<(TurnFailure, byte[])> RequestAsync(ushort method, AttributeWriter write, object? state, CancellationToken ct)
    {
        var unauthorizedOnce = false;
        for (var attempt = 0; attempt < 4; attempt++)
        {
            var id = StunTransactionId.New();
            var bytes = Build(method, id, write, state);
            var tcs = new TaskCompletionSource<byte[]>(TaskCreationOptions.RunContinuationsAsynchronously);
            lock (_gate) _pending[id] = tcs;
            _mux.Expect(id, this);
            byte[]? response = null;
            try
            {
                var rto = Rto;
                for (var i = 0; i < MaxTransmissions && response is null; i++, rto *= 2)
                {
                    // RFC 8489 §6.2.2: over a reliable transport the request is sent once (same overall wait).
                    if (i == 0 || !_stream) _link.Send(bytes);
                    var delay = Task.Delay(rto, _time, ct);
                    if (await Task.WhenAny(tcs.Task, delay).ConfigureAwait(false) == tcs.Task) response = await tcs.Task.ConfigureAwait(false);
                    ct.ThrowIfCancellationRequested();
                }
            }
            finally
            {
                _mux.Forget(id);
                lock (_gate) _pending.Remove(id);
            }
            if (response is null) return (TurnFailure.Timeout, []);
            if (!StunMessage.TryParse(response, out var m, out _)) return (TurnFailure.Malformed, []);
            if (m.Class == StunClass.SuccessResponse) return (TurnFailure.None, response);
            if (!m.TryGetErrorCode(out var code, out _)) return (TurnFailure.Malformed, []);
            if (code == 401 && !m.Realm.IsEmpty && !m.Nonce.IsEmpty)
            {
                if (unauthorizedOnce && _key is not null && _realm == Encoding.UTF8.GetString(m.Realm)) return (TurnFailure.Unauthorized, []);
                unauthorizedOnce = true;
                // RFC 8489 §9.2.4: the realm and nonce of the 401, and the key MD5(username:realm:password).
                var credentials = _credentials();
                _realm = Encoding.UTF8.GetString(m.Realm);
                _nonce = Encoding.UTF8.GetString(m.Nonce);
                _username = credentials.Username;
                _key = StunMessage.LongTermKey(credentials.Username, _realm, credentials.Password);
                continue;
            }
            if (code == 438 && !m.Nonce.IsEmpty)
            {
                _nonce = Encoding.UTF8.GetString(m.Nonce); // RFC 8489 §9.2.5: stale nonce, retry with the new one
                continue;
            }
            LogRefused(_logger, Server.ToString(), method, code);
            return (code == 401 ? TurnFailure.Unauthorized : TurnFailure.Refused, []);
        }
        return (TurnFailure.Unauthorized, []);
    }

    private byte[] Build(ushort method, StunTransactionId id, AttributeWriter write, object? state)
    {
        Span<byte> tid = stackalloc byte[12];
        id.WriteTo(tid);
        var buffer = new byte[512];
        var w = new StunWriter(buffer, method, StunClass.Request, tid);
        write(ref w, state);
        if (_key is not null)
        {
            w.AddString(StunAttribute.Username, _username!);
            w.AddString(StunAttribute.Realm, _realm!);
            w.AddString(StunAttribute.Nonce, _nonce!);
            w.AddMessageIntegrity(_key);
        }
        w.AddFingerprint();
        return w.Written.ToArray();
    }

    /// <summary>From the mux: a response to one of our transactions (integrity checked when we authenticated).</summary>
    public void OnStunResponse(scoped in StunMessage response, IceBase? via, IPEndPoint from)
    {
        if (!from.Equals(Server)) return;
        TaskCompletionSource<byte[]>? tcs;
        lock (_gate) _pending.TryGetValue(StunTransactionId.From(response.TransactionId), out tcs);
        if (tcs is null) return;
        // RFC 8489 §9.2.5: an authenticated request's success response carries MESSAGE-INTEGRITY under the same key.
        if (response.Class == StunClass.SuccessResponse && _key is not null && !response.VerifyIntegrity(_key))
        {
            _drops.Count(DropReason.StunBadIntegrity);
            return;
        }
        tcs.TrySetResult(response.Raw.ToArray());
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _refresh?.Dispose();
        _stop.Cancel();
        if (_link is IAsyncDisposable owned) _ = owned.DisposeAsync().AsTask(); // the TCP/TLS connection goes with the allocation
    }

    private int _disposed;

    [LoggerMessage(EventId = 7030, Level = LogLevel.Information, Message = "TURN allocation on {Server}: relayed address {Relayed}, lifetime {Lifetime} s")]
    private static partial void LogAllocated(ILogger logger, string server, string relayed, int lifetime);

    [LoggerMessage(EventId = 7031, Level = LogLevel.Warning, Message = "TURN server {Server} refused method {Method}: error {Code}")]
    private static partial void LogRefused(ILogger logger, string server, ushort method, int code);

    [LoggerMessage(EventId = 7032, Level = LogLevel.Warning, Message = "TURN refresh on {Server} failed: {Failure}")]
    private static partial void LogRefreshFailed(ILogger logger, string server, TurnFailure failure);

    [LoggerMessage(EventId = 7033, Level = LogLevel.Debug, Message = "TURN permission for {Peer} failed: {Failure}")]
    private static partial void LogPermissionFailed(ILogger logger, string peer, TurnFailure failure);
}
