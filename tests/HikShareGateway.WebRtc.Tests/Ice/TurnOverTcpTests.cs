using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using HikShareGateway.WebRtc.Diagnostics;
using HikShareGateway.WebRtc.Ice;
using HikShareGateway.WebRtc.Stun;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace HikShareGateway.WebRtc.Tests.Ice;

/// <summary>
/// The TURN client over TCP (RFC 8656 §3.1) against a scripted server on a loopback TCP socket (coturn over TCP and
/// TLS is in NatTraversalTests): STUN framing on the stream both ways, responses written one byte at a time
/// reassembled, a request sent once (no retransmission on a reliable transport), ChannelData padded to four bytes,
/// and a server that sends anything but STUN or ChannelData loses the connection and its relayed base.
/// </summary>
[Trait("Category", "Unit")]
public sealed class TurnOverTcpTests : IAsyncLifetime
{
    private const string Realm = "hikshare.test", User = "gw", Password = "long-term-password";
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);
    private static readonly IPEndPoint Relayed = IPEndPoint.Parse("198.51.100.9:49170");
    private static readonly IPEndPoint Peer = IPEndPoint.Parse("127.0.0.1:40001");
    private readonly FakeTimeProvider _time = new();
    private readonly DropCounters _drops = new();
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly byte[] _key = StunMessage.LongTermKey(User, Realm, Password);
    private UdpMux _mux = null!;
    private TurnStreamLink _link = null!;
    private TurnClient _turn = null!;
    private NetworkStream _server = null!;

    public async Task InitializeAsync()
    {
        _listener.Start();
        _mux = new UdpMux(new IPEndPoint(IPAddress.Loopback, 0), _time, NullLogger.Instance, _drops);
        _mux.Start();
        var endPoint = (IPEndPoint)_listener.LocalEndpoint;
        var accepting = _listener.AcceptTcpClientAsync();
        _link = await TurnStreamLink.ConnectAsync(new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp), TurnTransport.Tcp,
            endPoint, "127.0.0.1", null, _drops, NullLogger.Instance, CancellationToken.None);
        _server = (await accepting.WaitAsync(Bound)).GetStream();
        _turn = new TurnClient(_mux, endPoint, _link, () => new TurnCredentials(User, Password), _time, NullLogger.Instance, _drops);
        _link.Start(frame => _mux.DispatchTurnFrame(frame, _turn));
        _mux.AddTurn(_turn);
    }

    public async Task DisposeAsync()
    {
        _turn.Dispose();
        await _link.DisposeAsync();
        await _mux.DisposeAsync();
        _server.Dispose();
        _listener.Stop();
    }

    [Fact]
    public async Task AllocateOverTcp_RequestSentOnce_ResponsesSplitIntoSingleBytes_AreReassembled()
    {
        var allocating = _turn.AllocateAsync(CancellationToken.None);
        var first = await ReadFrameAsync();
        Assert.Equal(StunMethod.Allocate, Parse(first).Method);
        // Well past two retransmission timeouts of UDP (500 ms, 1 s): over TCP nothing is sent again.
        _time.Advance(TimeSpan.FromSeconds(2));
        await WriteOneByteAtATimeAsync(Error(first, 401, "nonce-1"));

        var second = await ReadFrameAsync();
        var m = Parse(second);
        Assert.True(m.HasIntegrity); // the next frame is the authenticated retry, not a copy of the first request
        Assert.True(m.VerifyIntegrity(_key));
        Assert.True(m.TryGetAttribute(StunAttribute.RequestedTransport, out var transport));
        Assert.Equal(17, transport[0]); // the relayed side is UDP whatever reaches the server
        await WriteOneByteAtATimeAsync(Success(second, (ref StunWriter w) => w.AddXorAddress(StunAttribute.XorRelayedAddress, Relayed)));

        Assert.Equal(TurnFailure.None, await allocating.WaitAsync(Bound));
        Assert.Equal(Relayed, _turn.RelayedAddress);
        Assert.Equal(TurnTransport.Tcp, _turn.Base!.RelayTransport);
        Assert.Contains(_turn.Base, _mux.LocalBases);
    }

    [Fact]
    public async Task ChannelDataOverTcp_IsPaddedToFourBytes_BothWays()
    {
        await AllocateAsync();
        _turn.SendTo("check"u8, Peer); // no permission yet: dropped, permission requested
        var permission = await ReadFrameAsync();
        Assert.Equal(StunMethod.CreatePermission, Parse(permission).Method);
        await WriteAsync(Success(permission, (ref StunWriter _) => { }));
        await Wait.UntilAsync(() => { _turn.SendTo("probe"u8, Peer); return _server.DataAvailable; }, "a Send indication once the permission is there");

        byte[] frame;
        while ((frame = await ReadFrameAsync())[0] < 4 && Parse(frame).Method != StunMethod.ChannelBind) { }
        var bind = Parse(frame);
        Assert.True(bind.TryGetAttribute(StunAttribute.ChannelNumber, out var number));
        var channel = BinaryPrimitives.ReadUInt16BigEndian(number);
        await WriteAsync(Success(frame, (ref StunWriter _) => { }));

        byte[] channelData = [];
        await Wait.UntilAsync(async () =>
        {
            _turn.SendTo("media"u8, Peer);
            channelData = await ReadFrameAsync();
            return channelData[0] is >= 64 and <= 79;
        }, "ChannelData");
        // RFC 8656 §12.5: length 5, then 5 bytes of data and 3 of padding.
        Assert.Equal(8 + 4, channelData.Length);
        Assert.Equal(channel, BinaryPrimitives.ReadUInt16BigEndian(channelData));
        Assert.Equal(5, BinaryPrimitives.ReadUInt16BigEndian(channelData.AsSpan(2)));
        Assert.Equal("media"u8.ToArray(), channelData[4..9]);

        // Inbound ChannelData, padded and split into single bytes, reaches the mux as the peer's DTLS datagram.
        await WriteOneByteAtATimeAsync([(byte)(channel >> 8), (byte)channel, 0, 3, 22, 0xFE, 0xFD, 0]);
        await Wait.UntilAsync(() => _drops[DropReason.UnknownRemote] == 1, "the relayed DTLS datagram demultiplexed");
    }

    [Fact]
    public async Task ServerSendingNeitherStunNorChannelData_LosesTheConnection_Counted()
    {
        await AllocateAsync();
        await WriteAsync("GET / HTTP/1.1\r\n\r\n"u8.ToArray());
        await _link.Closed.WaitAsync(Bound);
        Assert.Equal(1, _drops[DropReason.TurnMalformed]);
    }

    // ---------------------------------------------------------------- the scripted server

    private async Task AllocateAsync()
    {
        var allocating = _turn.AllocateAsync(CancellationToken.None);
        var first = await ReadFrameAsync();
        await WriteAsync(Error(first, 401, "nonce"));
        var second = await ReadFrameAsync();
        await WriteAsync(Success(second, (ref StunWriter w) => w.AddXorAddress(StunAttribute.XorRelayedAddress, Relayed)));
        Assert.Equal(TurnFailure.None, await allocating.WaitAsync(Bound));
    }

    /// <summary>One STUN message or padded ChannelData frame from the client's stream.</summary>
    private async Task<byte[]> ReadFrameAsync()
    {
        using var timeout = new CancellationTokenSource(Bound);
        var head = new byte[4];
        await _server.ReadExactlyAsync(head, timeout.Token);
        int length = BinaryPrimitives.ReadUInt16BigEndian(head.AsSpan(2));
        var rest = head[0] < 4 ? StunMessage.HeaderLength - 4 + length : (length + 3) & ~3;
        var frame = new byte[4 + rest];
        head.CopyTo(frame, 0);
        await _server.ReadExactlyAsync(frame.AsMemory(4), timeout.Token);
        return frame;
    }

    private async Task WriteAsync(byte[] frame)
    {
        await _server.WriteAsync(frame);
        await _server.FlushAsync();
    }

    private async Task WriteOneByteAtATimeAsync(byte[] frame)
    {
        foreach (var b in frame)
        {
            await _server.WriteAsync(new[] { b });
            await _server.FlushAsync();
        }
    }

    private static StunMessage Parse(byte[] frame)
    {
        Assert.True(StunMessage.TryParse(frame, out var m, out var e), e.ToString());
        return m;
    }

    private static byte[] Error(byte[] request, int code, string nonce)
    {
        var m = Parse(request);
        var buffer = new byte[512];
        var w = new StunWriter(buffer, m.Method, StunClass.ErrorResponse, m.TransactionId);
        w.AddErrorCode(code, "Unauthorized");
        w.AddString(StunAttribute.Realm, Realm);
        w.AddString(StunAttribute.Nonce, nonce);
        w.AddFingerprint();
        return w.Written.ToArray();
    }

    private delegate void Attributes(ref StunWriter writer);

    private byte[] Success(byte[] request, Attributes attributes)
    {
        var m = Parse(request);
        var buffer = new byte[512];
        var w = new StunWriter(buffer, m.Method, StunClass.SuccessResponse, m.TransactionId);
        attributes(ref w);
        w.AddMessageIntegrity(_key);
        w.AddFingerprint();
        return w.Written.ToArray();
    }
}
