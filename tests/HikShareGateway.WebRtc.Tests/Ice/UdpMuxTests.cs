using System.Net;
using System.Net.Sockets;
using System.Text;
using HikShareGateway.WebRtc.Diagnostics;
using HikShareGateway.WebRtc.Ice;
using HikShareGateway.WebRtc.Stun;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using HikShareGateway.WebRtc.Tests.Infrastructure;
using static HikShareGateway.WebRtc.Tests.Ice.IceTestKit;

namespace HikShareGateway.WebRtc.Tests.Ice;

/// <summary>The mux on a real loopback UDP socket, with a browser played by a second socket.</summary>
[Trait("Category", "Unit")]
public sealed class UdpMuxTests : IAsyncLifetime
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);
    private readonly FakeTimeProvider _time = new();
    private readonly DropCounters _drops = new();
    private UdpMux _mux = null!;
    private readonly UdpClient _browser = new(new IPEndPoint(IPAddress.Loopback, 0));

    private sealed class RecordingSession(IceLiteAgent ice) : IUdpMuxSession
    {
        public IceAgent Ice { get; } = ice;
        public readonly TaskCompletionSource<byte[]> Dtls = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public readonly TaskCompletionSource<byte[]> Srtp = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void OnDtls(ReadOnlySpan<byte> datagram, SocketAddress from) => Dtls.TrySetResult(datagram.ToArray());

        public void OnSrtp(Span<byte> datagram) => Srtp.TrySetResult(datagram.ToArray());
    }

    public Task InitializeAsync()
    {
        _mux = new UdpMux(new IPEndPoint(IPAddress.Loopback, 0), _time, NullLogger.Instance, _drops);
        _mux.Start();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        _browser.Dispose();
        await _mux.DisposeAsync();
    }

    private RecordingSession Session(string ufrag, string pwd)
    {
        var s = new RecordingSession(new IceLiteAgent(new IceCredentials(ufrag, pwd), "brUf", _time, _drops));
        _mux.Register(s);
        return s;
    }

    private async Task<byte[]> ReceiveAsync()
    {
        var r = await _browser.ReceiveAsync().WaitAsync(Bound);
        return r.Buffer;
    }

    [Fact]
    public async Task CheckForASession_IsAnsweredThenDtlsAndSrtpFromThatAddressReachIt()
    {
        var a = Session("sessA", "passwordA-1234567890abcd");
        var b = Session("sessB", "passwordB-1234567890abcd");
        await _browser.SendAsync(Check("sessB:brUf", "passwordB-1234567890abcd", true), _mux.LocalEndPoint);
        var response = await ReceiveAsync();
        Assert.True(StunMessage.TryParse(response, out var m, out _));
        Assert.Equal(StunClass.SuccessResponse, m.Class);
        Assert.True(m.TryGetXorMappedAddress(out var mapped));
        Assert.Equal(_browser.Client.LocalEndPoint, mapped);
        Assert.Equal(IceState.Nominated, b.Ice.State);
        Assert.Equal(IceState.New, a.Ice.State);

        var dtls = new byte[] { 22, 0xFE, 0xFD, 1, 2, 3 };
        await _browser.SendAsync(dtls, _mux.LocalEndPoint);
        Assert.Equal(dtls, await b.Dtls.Task.WaitAsync(Bound));
        var rtp = new byte[] { 0x80, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1 };
        await _browser.SendAsync(rtp, _mux.LocalEndPoint);
        Assert.Equal(rtp, await b.Srtp.Task.WaitAsync(Bound));
        Assert.False(a.Dtls.Task.IsCompleted);

        // The mux sends for the session to the validated address.
        _mux.Send("reply"u8, (IPEndPoint)_browser.Client.LocalEndPoint!);
        Assert.Equal("reply"u8.ToArray(), await ReceiveAsync());
    }

    [Fact]
    public async Task UnknownUfragBadIntegrityUnknownRemoteAndStrayBytes_AreDroppedWithTheirReasons()
    {
        var s = Session("sessC", "passwordC-1234567890abcd");
        await _browser.SendAsync(Check("nobody:brUf", "passwordC-1234567890abcd", true), _mux.LocalEndPoint);
        await _browser.SendAsync(Check("sessC:brUf", "wrong-password-1234567890", true), _mux.LocalEndPoint);
        await _browser.SendAsync(new byte[] { 22, 0xFE, 0xFD, 0, 0 }, _mux.LocalEndPoint); // DTLS before any check
        await _browser.SendAsync(new byte[] { 0x80, 96, 0, 1 }, _mux.LocalEndPoint);      // RTP before any check
        await _browser.SendAsync(new byte[] { 0x70, 1, 2 }, _mux.LocalEndPoint);          // no protocol starts so
        await _browser.SendAsync(new byte[] { 0x00, 1, 0, 4, 0x21, 0x12, 0xa4, 0x42 }, _mux.LocalEndPoint); // truncated STUN
        await Wait.UntilAsync(() => _drops.Total == 6, "six drops");
        Assert.Equal(1, _drops[DropReason.StunUnknownUsername]);
        Assert.Equal(1, _drops[DropReason.StunBadIntegrity]);
        Assert.Equal(2, _drops[DropReason.UnknownRemote]);
        Assert.Equal(1, _drops[DropReason.UnknownFirstByte]);
        Assert.Equal(1, _drops[DropReason.StunMalformed]);
        Assert.Equal(IceState.New, s.Ice.State);
        Assert.Equal(0, _browser.Available);
    }

    [Fact]
    public async Task ConsentExpiry_ClosesTheSessionAndUnbindsItsAddress()
    {
        var s = Session("sessD", "passwordD-1234567890abcd");
        await _browser.SendAsync(Check("sessD:brUf", "passwordD-1234567890abcd", true), _mux.LocalEndPoint);
        await ReceiveAsync();
        var closed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        s.Ice.StateChanged += st => { if (st == IceState.Closed) closed.TrySetResult(); };
        _time.Advance(TimeSpan.FromSeconds(31));
        await closed.Task.WaitAsync(Bound);
        await _browser.SendAsync(new byte[] { 0x80, 96, 0, 1 }, _mux.LocalEndPoint);
        await Wait.UntilAsync(() => _drops[DropReason.UnknownRemote] == 1, "the RTP from the closed session dropped");
        Assert.False(s.Srtp.Task.IsCompleted);
    }

}
