using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using HikShareGateway.Bench.Relay;
using HikShareGateway.WebRtc.Dtls;
using HikShareGateway.WebRtc.Srtp;
using HikShareGateway.WebRtc.Stun;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.Tls;
using Org.BouncyCastle.Tls.Crypto;
using Org.BouncyCastle.Tls.Crypto.Impl.BC;

namespace HikShareGateway.Bench.WebRtc;

/// <summary>
/// One WebRTC viewer of the <c>webrtc</c> bench, a real client in this process: WHEP POST of a recvonly H.264 offer,
/// ICE as the controlling agent (checks with USE-CANDIDATE; answers the gateway's own checks and its consent
/// requests), BouncyCastle's DTLS 1.2 client with use_srtp, then SRTP decrypted with the tree's
/// <see cref="SrtpContext"/>. Counts packets, sequence gaps and the latency stamps of <see cref="LatencyStamp"/>
/// found in the decrypted H.264; notes when the gateway's DTLS alert (close_notify) arrives.
/// </summary>
/// <remarks>
/// One UDP socket per viewer (1 MiB receive buffer), one async receive loop; no allocation per packet on it (the
/// datagram is decrypted in place in the viewer's own buffer).
/// </remarks>
public sealed partial class WebRtcBenchViewer : IDisposable
{
    private readonly Socket _socket = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
    private readonly DtlsCertificate _certificate;
    private readonly LatencyHistogram _latency;
    private readonly string _ufrag = RandomToken(8);
    private readonly string _pwd = RandomToken(24);
    private readonly byte[] _receive = new byte[2048];
    private readonly byte[] _send = new byte[512];
    private readonly Queue<byte[]> _dtlsIn = new();
    private readonly SemaphoreSlim _dtlsAvailable = new(0);
    private readonly SemaphoreSlim _checkAnswered = new(0);
    private string _remoteUfrag = "";
    private byte[] _remotePwd = [];
    private byte[] _localPwd = [];
    private volatile SrtpContext? _rx;
    private volatile bool _disposed;
    private int _lastSeq = -1;
    private readonly bool _decryptAll;

    /// <summary>A latency-stamp SEI (header 12 + NAL 27 + SRTP tag 16) is far below this; video slices are above.</summary>
    public const int StampPacketLimit = 120;

    public long Packets;
    public long Bytes;
    public long Gaps;
    public long Stamps;
    public long AuthFailures;
    /// <summary><see cref="Stopwatch.GetTimestamp"/> when the gateway's DTLS alert arrived; 0 while open.</summary>
    public long ClosedAt;
    public long PostedAt;
    public long ConnectedAt;
    public long FirstPacketAt;

    /// <param name="decryptAll">
    /// False: packets are counted and their sequence read from the RTP header (in clear in SRTP, RFC 3711 §3.1), and only
    /// the small ones are decrypted (the latency-stamp SEI NAL units, under <see cref="StampPacketLimit"/> bytes): the
    /// bench process then costs a tenth as much, so that on 2 cores its own decrypting does not become the bottleneck
    /// measured. True: every packet is authenticated and decrypted, as a browser does.
    /// </param>
    public WebRtcBenchViewer(DtlsCertificate certificate, LatencyHistogram latency, bool decryptAll = true)
    {
        _decryptAll = decryptAll;
        _certificate = certificate;
        _latency = latency;
        _socket.ReceiveBufferSize = 1 << 20;
        _socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
    }

    public int LocalPort => ((IPEndPoint)_socket.LocalEndPoint!).Port;
    public string? Failure { get; private set; }
    public string? SessionLocation { get; private set; }
    public bool Playing => _rx is not null;
    public bool Closed => Volatile.Read(ref ClosedAt) != 0;
    public Task? ReceiveLoop { get; private set; }

    /// <summary>WHEP POST, ICE, DTLS: true once SRTP keys are in place and media may flow.</summary>
    public async Task<bool> StartAsync(HttpClient http, string path, string token, CancellationToken ct)
    {
        try
        {
            // :: 1. WHEP offer/answer.
            var port = ((IPEndPoint)_socket.LocalEndPoint!).Port;
            using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(Offer(port), Encoding.UTF8) };
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/sdp");
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            PostedAt = Stopwatch.GetTimestamp();
            using var response = await http.SendAsync(request, ct);
            var answer = await response.Content.ReadAsStringAsync(ct);
            if ((int)response.StatusCode != 201)
            {
                Failure = $"WHEP {(int)response.StatusCode} {answer[..Math.Min(200, answer.Length)]}";
                return false;
            }
            SessionLocation = response.Headers.Location?.OriginalString;
            _remoteUfrag = IceUfrag().Match(answer).Groups[1].Value;
            _remotePwd = Encoding.UTF8.GetBytes(IcePwd().Match(answer).Groups[1].Value);
            _localPwd = Encoding.UTF8.GetBytes(_pwd);
            var candidate = LoopbackCandidate().Match(answer);
            if (!candidate.Success)
            {
                Failure = "no 127.0.0.1 candidate in the answer (WebRtc:IncludeLoopback)";
                return false;
            }
            _socket.Connect(new IPEndPoint(IPAddress.Loopback, int.Parse(candidate.Groups[1].Value)));
            ReceiveLoop = Task.Run(ReceiveLoopAsync, CancellationToken.None);

            // :: 2. ICE: our check with USE-CANDIDATE until it is answered (RFC 8445 §7.2.4: retransmitted).
            var answered = false;
            for (var attempt = 0; attempt < 50 && !answered; attempt++)
            {
                SendCheck();
                answered = await _checkAnswered.WaitAsync(100, ct);
            }
            if (!answered)
            {
                Failure = "ICE: no answer to our check";
                return false;
            }

            // :: 3. DTLS client (a=setup:actpass offered, the gateway answers passive) on a thread of its own:
            // BouncyCastle's handshake blocks.
            var client = new BenchDtlsClient(_certificate);
            await Task.Factory.StartNew(() => new DtlsClientProtocol().Connect(client, new Transport(this)), ct,
                TaskCreationOptions.LongRunning, TaskScheduler.Default).WaitAsync(TimeSpan.FromSeconds(15), ct);
            var keys = new SrtpKeyMaterial((SrtpProfile)client.SelectedProfile!.Value, client.Exported);
            _rx = new SrtpContext(keys.Profile, keys.ServerKey, keys.ServerSalt);
            ConnectedAt = Stopwatch.GetTimestamp();
            return true;
        }
        catch (Exception e) when (e is HttpRequestException or TlsFatalAlert or IOException or TimeoutException or SocketException or OperationCanceledException)
        {
            Failure = $"{e.GetType().Name}: {e.Message}";
            return false;
        }
    }

    private string Offer(int port) => $"""
        v=0
        o=- {Random.Shared.NextInt64(1, long.MaxValue)} 2 IN IP4 127.0.0.1
        s=-
        t=0 0
        a=group:BUNDLE 0
        a=msid-semantic: WMS
        m=video 9 UDP/TLS/RTP/SAVPF 102 112
        c=IN IP4 0.0.0.0
        a=rtcp:9 IN IP4 0.0.0.0
        a=ice-ufrag:{_ufrag}
        a=ice-pwd:{_pwd}
        a=ice-options:trickle
        a=fingerprint:sha-256 {_certificate.Fingerprint.DigestText}
        a=setup:actpass
        a=mid:0
        a=recvonly
        a=rtcp-mux
        a=rtcp-rsize
        a=candidate:1 1 udp 2122260223 127.0.0.1 {port} typ host generation 0
        a=rtpmap:102 H264/90000
        a=rtcp-fb:102 nack
        a=rtcp-fb:102 nack pli
        a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f
        a=rtpmap:112 H264/90000
        a=rtcp-fb:112 nack
        a=rtcp-fb:112 nack pli
        a=fmtp:112 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=64001f

        """.ReplaceLineEndings("\r\n");

    private void SendCheck()
    {
        var w = new StunWriter(_send, StunMethod.Binding, StunClass.Request, RandomNumberGenerator.GetBytes(12));
        w.AddString(StunAttribute.Username, $"{_remoteUfrag}:{_ufrag}");
        w.AddUInt32(StunAttribute.Priority, 1853824767);
        w.AddUInt64(StunAttribute.IceControlling, 0x1122334455667788);
        w.AddFlag(StunAttribute.UseCandidate);
        w.AddMessageIntegrity(_remotePwd);
        w.AddFingerprint();
        _socket.Send(w.Written);
    }

    private async Task ReceiveLoopAsync()
    {
        var memory = _receive.AsMemory();
        while (!_disposed)
        {
            int n;
            try
            {
                n = await _socket.ReceiveAsync(memory, SocketFlags.None);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                return;
            }
            OnDatagram(n);
        }
    }

    private void OnDatagram(int n)
    {
        var datagram = _receive.AsSpan(0, n);
        if (n == 0) return;
        var first = datagram[0];
        if (first < 4)
        {
            OnStun(datagram);
        }
        else if (first is >= 20 and <= 63)
        {
            if (_rx is null)
            {
                lock (_dtlsIn) _dtlsIn.Enqueue(datagram.ToArray()); // handshake flights only
                _dtlsAvailable.Release();
            }
            else if (first == 21 && ClosedAt == 0)
            {
                // An alert after the handshake: the gateway's close_notify (RFC 5246 §7.2.1).
                Volatile.Write(ref ClosedAt, Stopwatch.GetTimestamp());
            }
        }
        else if (first is >= 128 and <= 191 && _rx is { } rx && n >= 12 && datagram[1] is not (>= 192 and <= 223))
        {
            OnRtp(rx, n);
        }
    }

    private void OnRtp(SrtpContext rx, int n)
    {
        var now = Stopwatch.GetTimestamp();
        if (FirstPacketAt == 0) FirstPacketAt = now;
        Packets++;
        Bytes += n;
        int seq = BinaryPrimitives.ReadUInt16BigEndian(_receive.AsSpan(2));
        if (_lastSeq >= 0)
        {
            var gap = (seq - _lastSeq - 1) & 0xffff;
            if (gap is > 0 and < 1000) Gaps += gap;
        }
        _lastSeq = seq;
        if (!_decryptAll && n > StampPacketLimit) return;
        if (!rx.TryUnprotectRtp(_receive, n, out var plain, out _))
        {
            AuthFailures++;
            return;
        }
        var rtp = _receive.AsSpan(0, plain);
        var header = 12 + 4 * (rtp[0] & 0x0f);
        if ((rtp[0] & 0x10) != 0 && rtp.Length >= header + 4)
        {
            header += 4 + 4 * BinaryPrimitives.ReadUInt16BigEndian(rtp[(header + 2)..]);
        }
        if (rtp.Length <= header) return;
        var payload = rtp[header..];
        switch (payload[0] & 0x1f)
        {
            case 6:
                Stamp(payload, now);
                break;
            case 24: // STAP-A (RFC 6184 §5.7.1)
                for (var s = payload[1..]; s.Length > 2;)
                {
                    var size = BinaryPrimitives.ReadUInt16BigEndian(s);
                    if (size == 0 || size + 2 > s.Length) break;
                    if ((s[2] & 0x1f) == 6) Stamp(s.Slice(2, size), now);
                    s = s[(2 + size)..];
                }
                break;
        }
    }

    private void Stamp(ReadOnlySpan<byte> nal, long now)
    {
        if (LatencyStamp.TryRead(nal, out var sent))
        {
            Stamps++;
            _latency.Record(now - sent);
        }
    }

    /// <summary>Answers the gateway's checks and consent requests (RFC 7675); notes the answer to our own check.</summary>
    private void OnStun(ReadOnlySpan<byte> datagram)
    {
        if (!StunMessage.TryParse(datagram, out var message, out _)) return;
        if (message.Class == StunClass.SuccessResponse)
        {
            if (_checkAnswered.CurrentCount == 0) _checkAnswered.Release();
            return;
        }
        if (message.Class != StunClass.Request || !message.VerifyIntegrity(_localPwd)) return;
        var w = new StunWriter(_send, StunMethod.Binding, StunClass.SuccessResponse, message.TransactionId);
        w.AddXorAddress(StunAttribute.XorMappedAddress, (IPEndPoint)_socket.RemoteEndPoint!);
        w.AddMessageIntegrity(_localPwd);
        w.AddFingerprint();
        try
        {
            _socket.Send(w.Written);
        }
        catch (SocketException)
        {
        }
    }

    public void Dispose()
    {
        _disposed = true;
        _socket.Dispose();
        _rx?.Dispose();
    }

    private static string RandomToken(int length)
    {
        const string alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        return string.Create(length, 0, (s, _) => { for (var i = 0; i < s.Length; i++) s[i] = alphabet[RandomNumberGenerator.GetInt32(alphabet.Length)]; });
    }

    [GeneratedRegex(@"a=ice-ufrag:(\S+)")]
    private static partial Regex IceUfrag();

    [GeneratedRegex(@"a=ice-pwd:(\S+)")]
    private static partial Regex IcePwd();

    [GeneratedRegex(@"a=candidate:\S+ 1 udp \d+ 127\.0\.0\.1 (\d+) typ host")]
    private static partial Regex LoopbackCandidate();

    /// <summary>BouncyCastle's view of the viewer's socket during the handshake: DTLS datagrams from the receive loop.</summary>
    private sealed class Transport(WebRtcBenchViewer viewer) : DatagramTransport
    {
        public int GetReceiveLimit() => 1500;
        public int GetSendLimit() => 1200;
        public int Receive(byte[] buf, int off, int len, int waitMillis) => Receive(buf.AsSpan(off, len), waitMillis);

        public int Receive(Span<byte> buffer, int waitMillis)
        {
            if (!viewer._dtlsAvailable.Wait(Math.Max(0, waitMillis))) return -1;
            byte[] datagram;
            lock (viewer._dtlsIn) datagram = viewer._dtlsIn.Dequeue();
            var n = Math.Min(datagram.Length, buffer.Length);
            datagram.AsSpan(0, n).CopyTo(buffer);
            return n;
        }

        public void Send(byte[] buf, int off, int len) => viewer._socket.Send(buf.AsSpan(off, len));
        public void Send(ReadOnlySpan<byte> buffer) => viewer._socket.Send(buffer);
        public void Close() { }
    }

    /// <summary>A browser's DTLS side: its own P-256 certificate, use_srtp offering AEAD_AES_128_GCM then AES_CM_128_HMAC_SHA1_80.</summary>
    private sealed class BenchDtlsClient(DtlsCertificate certificate) : DefaultTlsClient(new BcTlsCrypto(new SecureRandom()))
    {
        private static readonly int[] Profiles = [0x0007, 0x0001];

        public byte[] Exported { get; private set; } = [];
        public int? SelectedProfile { get; private set; }

        protected override ProtocolVersion[] GetSupportedVersions() => ProtocolVersion.DTLSv12.Only();

        public override IDictionary<int, byte[]> GetClientExtensions()
        {
            var extensions = base.GetClientExtensions() ?? new Dictionary<int, byte[]>();
            TlsSrtpUtilities.AddUseSrtpExtension(extensions, new UseSrtpData(Profiles, TlsUtilities.EmptyBytes));
            return extensions;
        }

        public override void ProcessServerExtensions(IDictionary<int, byte[]> serverExtensions)
        {
            base.ProcessServerExtensions(serverExtensions);
            SelectedProfile = TlsSrtpUtilities.GetUseSrtpExtension(serverExtensions)?.ProtectionProfiles[0];
        }

        public override TlsAuthentication GetAuthentication() => new Authentication(this);

        public override void NotifyHandshakeComplete()
        {
            base.NotifyHandshakeComplete();
            Exported = m_context.ExportKeyingMaterial("EXTRACTOR-dtls_srtp", null, SrtpKeyMaterial.ExportLength((SrtpProfile)SelectedProfile!.Value));
        }

        private sealed class Authentication(BenchDtlsClient client) : TlsAuthentication
        {
            public void NotifyServerCertificate(TlsServerCertificate serverCertificate)
            {
                // A bench on loopback: the answer's fingerprint is not compared (the gateway's own tests do that).
            }

            public TlsCredentials GetClientCredentials(CertificateRequest certificateRequest)
            {
                var crypto = (BcTlsCrypto)client.Crypto;
                var chain = new Certificate([crypto.CreateCertificate(client.CertificateDer)]);
                return new BcDefaultTlsCredentialedSigner(new TlsCryptoParameters(client.m_context), crypto, client.PrivateKey,
                    chain, new SignatureAndHashAlgorithm(Org.BouncyCastle.Tls.HashAlgorithm.sha256, SignatureAlgorithm.ecdsa));
            }
        }

        private byte[] CertificateDer => certificate.Der;
        private Org.BouncyCastle.Crypto.AsymmetricKeyParameter PrivateKey => certificate.PrivateKey;
    }
}
