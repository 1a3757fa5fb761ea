using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using HikShareGateway.WebRtc.Diagnostics;
using HikShareGateway.WebRtc.Dtls;
using HikShareGateway.WebRtc.Ice;
using HikShareGateway.WebRtc.Sdp;
using HikShareGateway.WebRtc.Srtp;
using HikShareGateway.WebRtc.Stun;
using HikShareGateway.WebRtc.Tests.Dtls;
using HikShareGateway.WebRtc.Tests.Ice;
using Microsoft.Extensions.Logging.Abstractions;
using Org.BouncyCastle.Tls;

namespace HikShareGateway.WebRtc.Tests.Session;

/// <summary>
/// The session with a browser stand-in on a loopback socket: STUN check, BouncyCastle DTLS client, then SRTP
/// media, NACK retransmission and PLI, all through the real mux.
/// </summary>
[Trait("Category", "Unit")]
public sealed class WebRtcSessionTests : IAsyncLifetime
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);
    private static readonly DtlsCertificate BrowserCertificate = DtlsCertificate.Create(TimeProvider.System, "browser");
    private readonly DropCounters _drops = new();
    private UdpMux _mux = null!;
    private WebRtcSessionContext _context = null!;
    private readonly Socket _browser = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);

    public Task InitializeAsync()
    {
        _mux = new UdpMux(new IPEndPoint(IPAddress.Loopback, 0), TimeProvider.System, NullLogger.Instance, _drops);
        _mux.Start();
        // ICE-lite: the stand-in sends one check and then only DTLS/SRTP on its socket (the full agent's own
        // checks are tested in IceSessionTests).
        _context = new WebRtcSessionContext(_mux, DtlsCertificate.Create(TimeProvider.System), new WebRtcOptions { IceLite = true },
            HostCandidates.For(["127.0.0.1"], _mux.LocalEndPoint.Port), TimeProvider.System, NullLoggerFactory.Instance);
        _browser.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _browser.Connect(_mux.LocalEndPoint);
        _browser.ReceiveTimeout = (int)Bound.TotalMilliseconds;
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        _browser.Dispose();
        await _mux.DisposeAsync();
    }

    private static string Offer(SdpFingerprint fingerprint, string fixture = "chromium-recvonly-video.sdp")
        => File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", fixture))
            .Replace("6F:1D:0A:9C:84:2E:53:B7:C0:11:4A:E8:73:95:2D:F6:08:BB:CE:47:91:3A:6E:D2:5C:80:F4:19:A7:E3:02:6B", fingerprint.DigestText);

    private static readonly SourceMedia Source = new(new SourceVideo("H264", new H264Profile(0x42, 0xc0, 0x1e)), null);

    [Fact]
    public void GarbageOffer_Is400AndAnOfferWithoutTheSourceCodecIs422NamingIt()
    {
        Assert.False(WebRtcSession.TryCreate("hello"u8, Source, _context, out _, out _, out var r1));
        Assert.Equal(400, r1.Status);
        Assert.Equal(1, _drops[DropReason.SdpMalformed]);
        var h265 = new SourceMedia(new SourceVideo("H265", null), null);
        Assert.False(WebRtcSession.TryCreate(Encoding.UTF8.GetBytes(Offer(BrowserCertificate.Fingerprint)), h265, _context, out _, out _, out var r2));
        Assert.Equal(422, r2.Status);
        Assert.Contains("H265", r2.Reason);
    }

    [Fact]
    public async Task Session_SendsSrtpThatTheBrowserOpens_ResendsNackedPacketsAndReportsPli()
    {
        Assert.True(WebRtcSession.TryCreate(Encoding.UTF8.GetBytes(Offer(BrowserCertificate.Fingerprint)), Source, _context,
            out var session, out var answer, out var refusal), refusal?.Reason);
        await using var owned = session;
        var ufrag = Regex.Match(answer, "a=ice-ufrag:(\\S+)").Groups[1].Value;
        var pwd = Regex.Match(answer, "a=ice-pwd:(\\S+)").Groups[1].Value;

        // :: ICE: one check with USE-CANDIDATE from the browser's socket.
        _browser.Send(IceTestKit.Check($"{ufrag}:ab+/", pwd, useCandidate: true));
        var buffer = new byte[2048];
        var n = _browser.Receive(buffer);
        Assert.True(StunMessage.TryParse(buffer.AsSpan(0, n), out var response, out _));
        Assert.Equal(StunClass.SuccessResponse, response.Class);
        Assert.Equal(IceState.Nominated, session.Ice.State);

        // :: DTLS: BouncyCastle's client over the same socket.
        var client = new DtlsTestClient(BrowserCertificate, 0x0007, 0x0001);
        var connect = Task.Factory.StartNew(() => new DtlsClientProtocol().Connect(client, new SocketDatagramTransport(_browser)), TaskCreationOptions.LongRunning);
        var result = await session.Connected.WaitAsync(Bound);
        Assert.True(result.Succeeded, result.Failure.ToString());
        await connect.WaitAsync(Bound);
        var keys = new SrtpKeyMaterial(SrtpProfile.AeadAes128Gcm, client.Exported);
        using var browserReceiver = new SrtpContext(keys.Profile, keys.ServerKey, keys.ServerSalt);
        using var browserSender = new SrtpContext(keys.Profile, keys.ClientKey, keys.ClientSalt);

        // :: Media: an IDR of 3000 bytes goes out as three FU-A packets, marker on the last.
        var idr = new byte[3000];
        idr[0] = 0x65;
        for (var i = 1; i < idr.Length; i++) idr[i] = (byte)i;
        session.SendVideo([new byte[] { 0x67, 0x42, 0xc0, 0x1e }, new byte[] { 0x68, 0xce }, idr], 90000);
        var packets = new List<byte[]>();
        while (packets.Count < 5)
        {
            n = _browser.Receive(buffer);
            if (buffer[0] is < 128 or > 191 || buffer[1] is >= 192 and <= 223) continue; // a sender report
            packets.Add(buffer[..n]);
        }
        var sequences = new List<ushort>();
        foreach (var p in packets)
        {
            var copy = (byte[])p.Clone();
            Assert.True(browserReceiver.TryUnprotectRtp(copy, copy.Length, out var plain, out var error), error.ToString());
            Assert.True(plain <= new WebRtcOptions().RtpMtu);
            Assert.Equal(session.VideoSsrc, BinaryPrimitives.ReadUInt32BigEndian(copy.AsSpan(8)));
            sequences.Add(BinaryPrimitives.ReadUInt16BigEndian(copy.AsSpan(2)));
        }
        Assert.Equal(0x80, packets[^1][1] & 0x80);
        Assert.All(packets.SkipLast(1), p => Assert.Equal(0, p[1] & 0x80));
        Assert.Equal(Enumerable.Range(sequences[0], 5).Select(i => (ushort)i), sequences);

        // :: NACK of the third packet: the same bytes come again.
        var pli = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        session.KeyframeRequested += () => pli.TrySetResult();
        var rtcp = new byte[128];
        var nack = Convert.FromHexString("81cd000300000001" + session.VideoSsrc.ToString("x8") + sequences[2].ToString("x4") + "0000");
        nack.CopyTo(rtcp, 0);
        _browser.Send(rtcp.AsSpan(0, browserSender.ProtectRtcp(rtcp, nack.Length)));
        while (true)
        {
            n = _browser.Receive(buffer);
            if (buffer[1] is >= 192 and <= 223) continue;
            Assert.Equal(packets[2], buffer[..n]);
            break;
        }

        // :: PLI: the session asks its source for a keyframe.
        var pliPacket = Convert.FromHexString("81ce000200000001" + session.VideoSsrc.ToString("x8"));
        pliPacket.CopyTo(rtcp, 0);
        _browser.Send(rtcp.AsSpan(0, browserSender.ProtectRtcp(rtcp, pliPacket.Length)));
        await pli.Task.WaitAsync(Bound);

        // :: A replayed SRTCP packet and a forged one are counted, not acted on.
        var sent = rtcp.AsSpan(0, 12 + SrtpProfileInfo.RtcpOverhead(keys.Profile)).ToArray();
        _browser.Send(sent);
        await Wait.UntilAsync(() => _drops[DropReason.SrtpReplayed] == 1, "the replayed RTCP dropped");
        pliPacket.CopyTo(rtcp, 0);
        var forged = browserSender.ProtectRtcp(rtcp, pliPacket.Length);
        rtcp[10] ^= 1;
        _browser.Send(rtcp.AsSpan(0, forged));
        await Wait.UntilAsync(() => _drops[DropReason.SrtpBadTag] == 1, "the forged RTCP dropped");
    }

    /// <summary>ICE check and DTLS handshake from the browser socket; returns the browser's SRTP receive context.</summary>
    private async Task<SrtpContext> ConnectAsync(WebRtcSession session, string answer, string remoteUfrag)
    {
        var ufrag = Regex.Match(answer, "a=ice-ufrag:(\\S+)").Groups[1].Value;
        var pwd = Regex.Match(answer, "a=ice-pwd:(\\S+)").Groups[1].Value;
        _browser.Send(IceTestKit.Check($"{ufrag}:{remoteUfrag}", pwd, useCandidate: true));
        _browser.Receive(new byte[512]);
        var client = new DtlsTestClient(BrowserCertificate, 0x0007);
        var connect = Task.Factory.StartNew(() => new DtlsClientProtocol().Connect(client, new SocketDatagramTransport(_browser)), TaskCreationOptions.LongRunning);
        Assert.True((await session.Connected.WaitAsync(Bound)).Succeeded);
        await connect.WaitAsync(Bound);
        var keys = new SrtpKeyMaterial(SrtpProfile.AeadAes128Gcm, client.Exported);
        return new SrtpContext(keys.Profile, keys.ServerKey, keys.ServerSalt);
    }

    [Fact]
    public async Task PcmaSource_IsAnsweredOnTheAudioSectionAndSentAsIsOnItsOwnSsrc()
    {
        var source = Source with { Audio = new SourceAudio("PCMA") };
        Assert.True(WebRtcSession.TryCreate(Encoding.UTF8.GetBytes(Offer(BrowserCertificate.Fingerprint, "chromium-recvonly-video-audio.sdp")), source, _context,
            out var session, out var answer, out _));
        await using var owned = session;
        Assert.Contains("m=audio 9 UDP/TLS/RTP/SAVPF 8\r\n", answer);
        Assert.Contains($"a=ssrc:{session.AudioSsrc} cname:hikshare", answer);
        using var receiver = await ConnectAsync(session, answer, "Wc3e");
        var g711 = Enumerable.Range(0, 160).Select(i => (byte)(0xD5 ^ i)).ToArray();
        session.SendAudio(g711, 8000);
        var buffer = new byte[2048];
        int n;
        do n = _browser.Receive(buffer); while (buffer[1] is >= 192 and <= 223);
        Assert.True(receiver.TryUnprotectRtp(buffer, n, out var plain, out var error), error.ToString());
        Assert.Equal(8, buffer[1] & 0x7F);
        Assert.Equal(session.AudioSsrc, BinaryPrimitives.ReadUInt32BigEndian(buffer.AsSpan(8)));
        Assert.Equal(g711, buffer[12..plain]);
    }

    [Fact]
    public async Task CameraFuAPacketLargerThanTheMtu_IsReFragmentedUnderOurHeaderWithTheMarkerOnTheLastPiece()
    {
        Assert.True(WebRtcSession.TryCreate(Encoding.UTF8.GetBytes(Offer(BrowserCertificate.Fingerprint)), Source, _context,
            out var session, out var answer, out _));
        await using var owned = session;
        using var receiver = await ConnectAsync(session, answer, "ab+/");
        var fragment = new byte[1450];
        fragment[0] = 0x7C;
        fragment[1] = 0x45; // FU-A, E bit, IDR: the camera's last fragment of the frame
        session.SendVideoRtpPayload(fragment, 123456, marker: true);
        var buffer = new byte[2048];
        var pieces = new List<byte[]>();
        while (pieces.Count < 2)
        {
            var n = _browser.Receive(buffer);
            if (buffer[1] is >= 192 and <= 223) continue;
            Assert.True(receiver.TryUnprotectRtp(buffer, n, out var plain, out var error), error.ToString());
            Assert.True(plain <= new WebRtcOptions().RtpMtu);
            pieces.Add(buffer[..plain]);
        }
        Assert.Equal([0x7C, 0x05], pieces[0][12..14]);
        Assert.Equal([0x7C, 0x45], pieces[1][12..14]);
        Assert.Equal(0, pieces[0][1] & 0x80);
        Assert.Equal(0x80, pieces[1][1] & 0x80);
        Assert.Equal(fragment.Length - 2, pieces.Sum(p => p.Length - 14));
    }

    [Fact]
    public async Task H265Source_ToAnOfferWithH265_CameraFuIsReFragmentedAsRfc7798FusOnTheOfferedPayloadType()
    {
        var offer = Sdp.H265NegotiationTests.OfferWithH265()
            .Replace("6F:1D:0A:9C:84:2E:53:B7:C0:11:4A:E8:73:95:2D:F6:08:BB:CE:47:91:3A:6E:D2:5C:80:F4:19:A7:E3:02:6B", BrowserCertificate.Fingerprint.DigestText);
        Assert.True(WebRtcSession.TryCreate(Encoding.UTF8.GetBytes(offer), new SourceMedia(new SourceVideo("H265", null), null), _context,
            out var session, out var answer, out var refusal), refusal?.Reason);
        await using var owned = session;
        Assert.Contains("a=rtpmap:49 H265/90000", answer);
        using var receiver = await ConnectAsync(session, answer, "Wc3e");
        var fragment = new byte[1450];
        fragment[0] = 49 << 1;
        fragment[1] = 0x01;
        fragment[2] = 0x40 | 19; // FU, E bit, IDR_W_RADL: the camera's last fragment of the frame
        session.SendVideoRtpPayload(fragment, 123456, marker: true);
        var buffer = new byte[2048];
        var pieces = new List<byte[]>();
        while (pieces.Count < 2)
        {
            var n = _browser.Receive(buffer);
            if (buffer[1] is >= 192 and <= 223) continue;
            Assert.True(receiver.TryUnprotectRtp(buffer, n, out var plain, out var error), error.ToString());
            Assert.True(plain <= new WebRtcOptions().RtpMtu);
            pieces.Add(buffer[..plain]);
        }
        Assert.All(pieces, p => Assert.Equal(49, p[1] & 0x7F));
        Assert.Equal([49 << 1, 0x01, 19], pieces[0][12..15]);
        Assert.Equal([49 << 1, 0x01, 0x40 | 19], pieces[1][12..15]);
        Assert.Equal(0, pieces[0][1] & 0x80);
        Assert.Equal(0x80, pieces[1][1] & 0x80);
        Assert.Equal(fragment.Length - 3, pieces.Sum(p => p.Length - 15));
    }

    [Fact]
    public async Task SendingAccessUnits_AllocatesNothingPerPacket()
    {
        Assert.True(WebRtcSession.TryCreate(Encoding.UTF8.GetBytes(Offer(BrowserCertificate.Fingerprint)), Source, _context,
            out var session, out var answer, out _));
        await using var owned = session;
        using var receiver = await ConnectAsync(session, answer, "ab+/");

        var slice = new byte[4000];
        slice[0] = 0x41;
        IReadOnlyList<ReadOnlyMemory<byte>> unit = [slice];
        for (var i = 0; i < 50; i++) session.SendVideo(unit, (uint)(i * 3600)); // warm-up
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 50; i < 2550; i++) session.SendVideo(unit, (uint)(i * 3600)); // 2500 units = 10,000 packets
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated == 0, $"{allocated} bytes for 10,000 packets");
    }

    /// <summary>BouncyCastle's datagram view of a connected UDP socket.</summary>
    private sealed class SocketDatagramTransport(Socket socket) : DatagramTransport
    {
        public int GetReceiveLimit() => 1500;
        public int GetSendLimit() => 1200;
        public int Receive(byte[] buf, int off, int len, int waitMillis) => Receive(buf.AsSpan(off, len), waitMillis);
        public int Receive(Span<byte> buffer, int waitMillis)
            => socket.Poll(TimeSpan.FromMilliseconds(waitMillis), SelectMode.SelectRead) ? socket.Receive(buffer) : -1;
        public void Send(byte[] buf, int off, int len) => socket.Send(buf.AsSpan(off, len));
        public void Send(ReadOnlySpan<byte> buffer) => socket.Send(buffer);
        public void Close() { }
    }
}
