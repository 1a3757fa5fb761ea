using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;
using HikShareGateway.WebRtc.Diagnostics;
using HikShareGateway.WebRtc.Ice;
using HikShareGateway.WebRtc.Stun;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace HikShareGateway.WebRtc.Tests.Ice;

/// <summary>
/// The TURN client against a scripted server on loopback (coturn itself is in NatTraversalTests): the long-term
/// credential dance (401 → REALM/NONCE → authenticated retry, 438 → new nonce), refresh before the lifetime
/// ends, permission then channel binding, and the mux unwrapping ChannelData and Data indications to the peer's datagram.
/// </summary>
[Trait("Category", "Unit")]
public sealed class TurnClientTests : IAsyncLifetime
{
    private const string Realm = "hikshare.test", User = "gw", Password = "long-term-password";
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);
    private static readonly IPEndPoint Relayed = IPEndPoint.Parse("198.51.100.9:49170");
    private static readonly IPEndPoint Peer = IPEndPoint.Parse("127.0.0.1:40001");
    private readonly FakeTimeProvider _time = new();
    private readonly DropCounters _drops = new();
    private readonly UdpClient _server = new(new IPEndPoint(IPAddress.Loopback, 0));
    private readonly byte[] _key = StunMessage.LongTermKey(User, Realm, Password);
    private UdpMux _mux = null!;
    private TurnClient _turn = null!;

    public Task InitializeAsync()
    {
        _mux = new UdpMux(new IPEndPoint(IPAddress.Loopback, 0), _time, NullLogger.Instance, _drops);
        _mux.Start();
        _turn = new TurnClient(_mux, (IPEndPoint)_server.Client.LocalEndPoint!, () => new TurnCredentials(User, Password), _time, NullLogger.Instance, _drops);
        _mux.AddTurn(_turn);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        _turn.Dispose();
        await _mux.DisposeAsync();
        _server.Dispose();
    }

    [Fact]
    public async Task Allocate_AnswersThe401WithTheLongTermCredential_RetriesOnStaleNonce_AndReportsTheRelayedAddress()
    {
        var allocating = _turn.AllocateAsync(CancellationToken.None);

        var (first, from) = await ReceiveAsync();
        Assert.Equal(StunMethod.Allocate, Method(first));
        Assert.False(Parse(first).HasIntegrity); // the first Allocate is unauthenticated (RFC 8656 §7.1)
        await ReplyErrorAsync(first, from, 401, "nonce-1");

        var (second, _) = await ReceiveAsync();
        var m2 = Parse(second);
        Assert.Equal(User, Encoding.UTF8.GetString(m2.Username));
        Assert.Equal(Realm, Encoding.UTF8.GetString(m2.Realm));
        Assert.Equal("nonce-1", Encoding.UTF8.GetString(m2.Nonce));
        Assert.True(m2.VerifyIntegrity(_key));
        Assert.True(m2.TryGetAttribute(StunAttribute.RequestedTransport, out var transport));
        Assert.Equal(17, transport[0]);
        await ReplyErrorAsync(second, from, 438, "nonce-2");

        var (third, _) = await ReceiveAsync();
        Assert.Equal("nonce-2", Encoding.UTF8.GetString(Parse(third).Nonce));
        await ReplySuccessAsync(third, from, w =>
        {
            w.AddXorAddress(StunAttribute.XorRelayedAddress, Relayed);
            w.AddXorAddress(StunAttribute.XorMappedAddress, IPEndPoint.Parse("203.0.113.4:5000"));
            w.AddUInt32(StunAttribute.Lifetime, 120);
        });

        Assert.Equal(TurnFailure.None, await allocating.WaitAsync(Bound));
        Assert.Equal(Relayed, _turn.RelayedAddress);
        Assert.Equal(IPEndPoint.Parse("203.0.113.4:5000"), _turn.MappedAddress);
        Assert.Equal(IceCandidateType.Relayed, _turn.Base!.Type);
        Assert.Contains(_turn.Base, _mux.LocalBases);
    }

    [Fact]
    public async Task WrongPassword_IsUnauthorized_NotRetriedForever()
    {
        var allocating = _turn.AllocateAsync(CancellationToken.None);
        var (first, from) = await ReceiveAsync();
        await ReplyErrorAsync(first, from, 401, "n1");
        var (second, _) = await ReceiveAsync();
        await ReplyErrorAsync(second, from, 401, "n2");
        Assert.Equal(TurnFailure.Unauthorized, await allocating.WaitAsync(Bound));
    }

    [Fact]
    public async Task Allocation_IsRefreshedBeforeItsLifetimeEnds()
    {
        var from = await AllocateAsync(lifetime: 120);
        // Due 60 s before the end; the client looks every 15 s.
        for (var i = 0; i < 5; i++) _time.Advance(TimeSpan.FromSeconds(15));
        var (refresh, _) = await ReceiveAsync();
        var m = Parse(refresh);
        Assert.Equal(StunMethod.Refresh, m.Method);
        Assert.True(m.VerifyIntegrity(_key));
        Assert.True(m.TryGetAttribute(StunAttribute.Lifetime, out var lifetime));
        Assert.Equal(600u, BinaryPrimitives.ReadUInt32BigEndian(lifetime));
        await ReplySuccessAsync(refresh, from, w => w.AddUInt32(StunAttribute.Lifetime, 600));
    }

    [Fact]
    public async Task FirstSendToAPeer_AsksForPermission_ThenSendIndication_ThenChannelData()
    {
        var from = await AllocateAsync(lifetime: 600);

        _turn.SendTo("check-1"u8, Peer); // no permission yet: dropped, permission requested
        var (permission, _) = await ReceiveAsync();
        var p = Parse(permission);
        Assert.Equal(StunMethod.CreatePermission, p.Method);
        Assert.True(p.TryGetXorAddress(StunAttribute.XorPeerAddress, out var peerAddress));
        Assert.Equal(Peer.Address, peerAddress.Address);
        Assert.Equal(1, _turn.DroppedBeforePermission);
        await ReplySuccessAsync(permission, from, _ => { });
        await Wait.UntilAsync(() => { _turn.SendTo("probe"u8, Peer); return _server.Available > 0; },
            "a datagram relayed once the permission is there");

        var (indication, _) = await ReceiveAsync();
        var s = Parse(indication);
        Assert.Equal(StunMethod.Send, s.Method);
        Assert.Equal(StunClass.Indication, s.Class);
        Assert.True(s.TryGetAttribute(StunAttribute.Data, out var data));
        Assert.Equal("probe"u8.ToArray(), data.ToArray());

        // The channel binding follows; once answered, data goes as ChannelData (4-byte header).
        byte[] bind;
        while (Method((bind = (await ReceiveAsync()).Datagram)) != StunMethod.ChannelBind) { }
        var b = Parse(bind);
        Assert.True(b.TryGetAttribute(StunAttribute.ChannelNumber, out var number));
        var channel = BinaryPrimitives.ReadUInt16BigEndian(number);
        Assert.InRange(channel, 0x4000, 0x4FFF);
        await ReplySuccessAsync(bind, from, _ => { });
        byte[] channelData = [];
        await Wait.UntilAsync(async () =>
        {
            _turn.SendTo("media"u8, Peer);
            var r = await ReceiveAsync();
            channelData = r.Datagram;
            return channelData[0] is >= 64 and <= 79;
        }, "ChannelData");
        Assert.Equal(channel, BinaryPrimitives.ReadUInt16BigEndian(channelData));
        Assert.Equal(5, BinaryPrimitives.ReadUInt16BigEndian(channelData.AsSpan(2)));
        Assert.Equal("media"u8.ToArray(), channelData[4..]);

        // Inbound: ChannelData from the server on that channel reaches the mux as the peer's datagram (an unknown
        // DTLS remote here, so it is counted as such, not as malformed TURN).
        var inbound = new byte[] { (byte)(channel >> 8), (byte)channel, 0, 3, 22, 0xFE, 0xFD };
        await _server.SendAsync(inbound, from);
        await Wait.UntilAsync(() => _drops[DropReason.UnknownRemote] == 1, "the relayed DTLS datagram demultiplexed");
        var unbound = new byte[] { 0x4F, 0xFF, 0, 1, 22 };
        await _server.SendAsync(unbound, from);
        await Wait.UntilAsync(() => _drops[DropReason.TurnMalformed] == 1, "ChannelData on an unbound channel dropped");
    }

    [Fact]
    public async Task DataIndication_IsUnwrappedToThePeersDatagram()
    {
        var from = await AllocateAsync(lifetime: 600);
        var buffer = new byte[256];
        var w = new StunWriter(buffer, StunMethod.Data, StunClass.Indication, Guid.NewGuid().ToByteArray()[..12]);
        w.AddXorAddress(StunAttribute.XorPeerAddress, Peer);
        w.AddAttribute(StunAttribute.Data, new byte[] { 0x80, 96, 0, 1 }); // RTP from an unknown remote
        w.AddFingerprint();
        await _server.SendAsync(w.Written.ToArray(), from);
        await Wait.UntilAsync(() => _drops[DropReason.UnknownRemote] == 1, "the relayed RTP demultiplexed");
        Assert.Equal(0, _drops[DropReason.TurnMalformed]);
    }

    // ---------------------------------------------------------------- the scripted server

    private async Task<IPEndPoint> AllocateAsync(uint lifetime)
    {
        var allocating = _turn.AllocateAsync(CancellationToken.None);
        var (first, from) = await ReceiveAsync();
        await ReplyErrorAsync(first, from, 401, "nonce");
        var (second, _) = await ReceiveAsync();
        await ReplySuccessAsync(second, from, w =>
        {
            w.AddXorAddress(StunAttribute.XorRelayedAddress, Relayed);
            w.AddUInt32(StunAttribute.Lifetime, lifetime);
        });
        Assert.Equal(TurnFailure.None, await allocating.WaitAsync(Bound));
        return from;
    }

    private async Task<(byte[] Datagram, IPEndPoint From)> ReceiveAsync()
    {
        var r = await _server.ReceiveAsync().WaitAsync(Bound);
        return (r.Buffer, r.RemoteEndPoint);
    }

    private static StunMessage Parse(byte[] datagram)
    {
        Assert.True(StunMessage.TryParse(datagram, out var m, out var e), e.ToString());
        return m;
    }

    private static ushort Method(byte[] datagram) => StunMessage.TryParse(datagram, out var m, out _) ? m.Method : (ushort)0;

    private async Task ReplyErrorAsync(byte[] request, IPEndPoint to, int code, string nonce)
    {
        var m = Parse(request);
        var buffer = new byte[512];
        var w = new StunWriter(buffer, m.Method, StunClass.ErrorResponse, m.TransactionId);
        w.AddErrorCode(code, code == 401 ? "Unauthorized" : "Stale Nonce");
        w.AddString(StunAttribute.Realm, Realm);
        w.AddString(StunAttribute.Nonce, nonce);
        w.AddFingerprint();
        await _server.SendAsync(w.Written.ToArray(), to);
    }

    private async Task ReplySuccessAsync(byte[] request, IPEndPoint to, Action<StunWriterBox> attributes)
    {
        var m = Parse(request);
        var buffer = new byte[512];
        var box = new StunWriterBox(buffer, m.Method, m.TransactionId.ToArray());
        attributes(box);
        await _server.SendAsync(box.Finish(_key), to);
    }

    /// <summary>StunWriter is a ref struct: this keeps its attributes as a list so that a lambda can add them.</summary>
    private sealed class StunWriterBox(byte[] buffer, ushort method, byte[] transactionId)
    {
        private readonly List<(ushort Type, byte[] Value, IPEndPoint? Xor)> _attributes = [];

        public void AddXorAddress(ushort type, IPEndPoint e) => _attributes.Add((type, [], e));

        public void AddUInt32(ushort type, uint v)
        {
            var b = new byte[4];
            BinaryPrimitives.WriteUInt32BigEndian(b, v);
            _attributes.Add((type, b, null));
        }

        public byte[] Finish(byte[] key)
        {
            var w = new StunWriter(buffer, method, StunClass.SuccessResponse, transactionId);
            foreach (var (type, value, xor) in _attributes)
            {
                if (xor is not null) w.AddXorAddress(type, xor);
                else w.AddAttribute(type, value);
            }
            w.AddMessageIntegrity(key);
            w.AddFingerprint();
            return w.Written.ToArray();
        }
    }
}
