using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.RegularExpressions;
using HikShareGateway.Rtsp.Server;
using HikShareGateway.Tests.Infrastructure;
using static HikShareGateway.Tests.Access.AccessTestKit;
using static HikShareGateway.Tests.Rtsp.Relay.RelayHarness;

namespace HikShareGateway.Tests.Rtsp.Relay;

/// <summary>
/// RTSPS with BouncyCastle's handshake and our own record writer, against other TLS implementations than .NET's:
/// <c>openssl s_client</c> forced to each offered suite of TLS 1.3 and TLS 1.2 with RSA and ECDSA certificates, playing
/// media through the relay; the whole chain of the PEM file sent and verifiable; and bad input after the handshake
/// (garbage, an oversized or truncated record, an unauthenticated alert, a TLS 1.2 renegotiation) ending only that
/// connection, with its reason logged, while another RTSPS viewer keeps playing.
/// </summary>
[Trait("Category", "Integration")]
public sealed class RtspsClientsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("hikshare-rtsps-clients-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static CertificateRequest Request(string subject, AsymmetricAlgorithm key) => key switch
    {
        RSA rsa => new CertificateRequest(subject, rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1),
        ECDsa ec => new CertificateRequest(subject, ec, HashAlgorithmName.SHA256),
        _ => throw new ArgumentException("key"),
    };

    private static string KeyPem(AsymmetricAlgorithm key) => key switch
    {
        RSA rsa => rsa.ExportPkcs8PrivateKeyPem(),
        ECDsa ec => ec.ExportPkcs8PrivateKeyPem(),
        _ => throw new ArgumentException("key"),
    };

    /// <summary>
    /// A leaf for 127.0.0.1 with the given key, issued by a CA of its own (file: leaf, then the CA), as the gateway's
    /// settings; <paramref name="caFile"/> is the CA alone, for a client to verify against.
    /// </summary>
    private Dictionary<string, string?> Certificate(AsymmetricAlgorithm key, out string caFile)
    {
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("CN=hikshare test CA", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
        using var ca = caRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        var request = Request("CN=hikshare-gateway rtsps", key);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        using var leaf = request.Create(ca.SubjectName, X509SignatureGenerator.CreateForECDsa(caKey),
            DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(29), RandomNumberGenerator.GetBytes(8));
        var name = Guid.NewGuid().ToString("N");
        var certFile = Path.Combine(_dir, name + ".crt");
        var keyFile = Path.Combine(_dir, name + ".key");
        caFile = Path.Combine(_dir, name + "-ca.crt");
        File.WriteAllText(certFile, leaf.ExportCertificatePem() + "\n" + ca.ExportCertificatePem() + "\n");
        File.WriteAllText(keyFile, KeyPem(key) + "\n");
        File.WriteAllText(caFile, ca.ExportCertificatePem() + "\n");
        return new()
        {
            ["Rtsp:TlsCertificateFile"] = certFile,
            ["Rtsp:TlsKeyFile"] = keyFile,
            ["Rtsp:TlsPort"] = PortAllocator.GetFreeTcpPort().ToString(CultureInfo.InvariantCulture),
        };
    }

    private async Task<(RelayHarness Harness, RecordingLogger<RecordingLoggerProvider> Log, string CaFile)> StartAsync(AsymmetricAlgorithm key)
    {
        var provider = new RecordingLoggerProvider();
        var log = provider.Log;
        var settings = Certificate(key, out var caFile);
        var h = await RelayHarness.StartAsync(new Options { Settings = settings, LoggerProvider = provider });
        h.Grant(LiveShare(Bob));
        return (h, log, caFile);
    }

    /// <summary>openssl s_client as a duplex stream: what we write goes to its stdin (sent through TLS), its stdout is what it decrypted.</summary>
    private sealed class OpensslClient : Stream
    {
        private readonly Process _process;
        private readonly StringBuilder _stderr = new();

        public OpensslClient(int port, IEnumerable<string> args)
        {
            var psi = new ProcessStartInfo("openssl")
            {
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            // -quiet: only the application data on stdout; -no_ign_eof after it keeps the connected commands (k, K, R).
            foreach (var a in (string[])["s_client", "-connect", $"127.0.0.1:{port}", "-quiet", "-no_ign_eof", .. args])
            {
                psi.ArgumentList.Add(a);
            }
            _process = Process.Start(psi)!;
            _process.ErrorDataReceived += (_, e) =>
            {
                lock (_stderr)
                {
                    _stderr.AppendLine(e.Data);
                }
            };
            _process.BeginErrorReadLine();
        }

        public string Stderr
        {
            get
            {
                lock (_stderr)
                {
                    return _stderr.ToString();
                }
            }
        }

        /// <summary>One of s_client's connected commands (a line of its own): k KeyUpdate, K KeyUpdate requesting ours, R renegotiate.</summary>
        /// Returns once s_client took it (its stderr says so): a request written sooner could land in the same read of its
        /// stdin, and s_client drops the rest of a read that starts with a command.
        public async Task CommandAsync(char letter)
        {
            var marker = letter == 'R' ? "RENEGOTIATING" : "KEYUPDATE";
            var before = Regex.Count(Stderr, marker);
            await _process.StandardInput.BaseStream.WriteAsync(Encoding.ASCII.GetBytes(letter + "\n"));
            await _process.StandardInput.BaseStream.FlushAsync();
            await Wait.UntilAsync(() => Regex.Count(Stderr, marker) > before, $"s_client took its {letter} command", 10_000);
        }

        // A pipe's read does not honour cancellation: stop waiting for it instead (the read ends when the process does).
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
            => new(_process.StandardOutput.BaseStream.ReadAsync(buffer, CancellationToken.None).AsTask().WaitAsync(cancellationToken));

        public override int Read(byte[] buffer, int offset, int count) => _process.StandardOutput.BaseStream.Read(buffer, offset, count);

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            await _process.StandardInput.BaseStream.WriteAsync(buffer, cancellationToken);
            await _process.StandardInput.BaseStream.FlushAsync(cancellationToken);
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
            => WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer, offset, count, default).GetAwaiter().GetResult();

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                try
                {
                    _process.Kill(entireProcessTree: true);
                    _process.WaitForExit(5000);
                }
                catch (InvalidOperationException)
                {
                }
                _process.Dispose();
            }
            base.Dispose(disposing);
        }
    }

    private static string[] Forced(string version, string suite) =>
        version == "1.3" ? ["-tls1_3", "-ciphersuites", suite] : ["-tls1_2", "-cipher", suite];

    public static TheoryData<string, string, string> RsaSuites => new()
    {
        { "1.3", "TLS_AES_128_GCM_SHA256", "TLS 1.3 TLS_AES_128_GCM_SHA256" },
        { "1.3", "TLS_AES_256_GCM_SHA384", "TLS 1.3 TLS_AES_256_GCM_SHA384" },
        { "1.3", "TLS_CHACHA20_POLY1305_SHA256", "TLS 1.3 TLS_CHACHA20_POLY1305_SHA256" },
        { "1.2", "ECDHE-RSA-AES128-GCM-SHA256", "TLS 1.2 ECDHE-RSA-AES128-GCM-SHA256" },
        { "1.2", "ECDHE-RSA-AES256-GCM-SHA384", "TLS 1.2 ECDHE-RSA-AES256-GCM-SHA384" },
        { "1.2", "ECDHE-RSA-CHACHA20-POLY1305", "TLS 1.2 ECDHE-RSA-CHACHA20-POLY1305" },
    };

    [Theory]
    [MemberData(nameof(RsaSuites))]
    public async Task OpensslSClient_ForcedToEachSuite_RsaCertificate_DescribesAndReadsMedia(string version, string suite, string logged)
    {
        using var rsa = RSA.Create(2048);
        await PlayThroughOpensslAsync(rsa, Forced(version, suite), logged);
    }

    [Theory]
    [InlineData("1.3", "TLS_AES_128_GCM_SHA256", "TLS 1.3 TLS_AES_128_GCM_SHA256")]
    [InlineData("1.2", "ECDHE-ECDSA-AES128-GCM-SHA256", "TLS 1.2 ECDHE-ECDSA-AES128-GCM-SHA256")]
    [InlineData("1.2", "ECDHE-ECDSA-AES256-GCM-SHA384", "TLS 1.2 ECDHE-ECDSA-AES256-GCM-SHA384")]
    [InlineData("1.2", "ECDHE-ECDSA-CHACHA20-POLY1305", "TLS 1.2 ECDHE-ECDSA-CHACHA20-POLY1305")]
    public async Task OpensslSClient_EcdsaP384Certificate_DescribesAndReadsMedia(string version, string suite, string logged)
    {
        using var ec = ECDsa.Create(ECCurve.NamedCurves.nistP384);
        await PlayThroughOpensslAsync(ec, Forced(version, suite), logged);
    }

    [Fact]
    public async Task ServerOrder_PrefersAes128Gcm_WhenTheClientOffersEverything()
    {
        using var rsa = RSA.Create(2048);
        // OpenSSL's own order puts AES-256-GCM first; the server's choice wins.
        await PlayThroughOpensslAsync(rsa, [], "TLS 1.3 TLS_AES_128_GCM_SHA256");
        await PlayThroughOpensslAsync(rsa, ["-tls1_2"], "TLS 1.2 ECDHE-RSA-AES128-GCM-SHA256");
    }

    private async Task PlayThroughOpensslAsync(AsymmetricAlgorithm key, string[] args, string logged)
    {
        var (h, log, _) = await StartAsync(key);
        await using var __ = h;
        using var openssl = new OpensslClient(h.Server.TlsPort, args);
        await using var viewer = RtspTestClient.Over(openssl);
        var options = await viewer.RequestAsync("OPTIONS", h.TlsUrl());
        Assert.True(options.StatusCode == 200, options + "\n" + openssl.Stderr);
        var (describe, play) = await viewer.PlayAsync(h.TlsUrl(token: Token(Bob)));
        Assert.Equal(200, describe.StatusCode);
        Assert.Contains("m=video", describe.Body);
        Assert.Equal(200, play.StatusCode);
        // Media: many full records (keyframes are larger than 16 KiB) decrypted by OpenSSL.
        var packets = await viewer.ReadPacketsAsync(300, TimeSpan.FromSeconds(20));
        Assert.True(packets.Count == 300, $"{packets.Count} packets\n{openssl.Stderr}");
        Assert.All(packets, p => Assert.Equal(2, p[0] >> 6)); // RTP version 2
        Assert.Contains(log.Entries, e => e.Message.EndsWith(": " + logged, StringComparison.Ordinal));
    }

    [Fact]
    public async Task TheWholeChainOfTheFile_IsSent_LeafFirst_AndVerifiesAgainstTheCa()
    {
        using var rsa = RSA.Create(2048);
        var (h, _, caFile) = await StartAsync(rsa);
        await using var __ = h;
        var run = await ToolRunner.RunAsync("openssl", ["s_client", "-connect", $"127.0.0.1:{h.Server.TlsPort}", "-showcerts", "-CAfile", caFile,
            "-verify_return_error", "-verify_ip", "127.0.0.1"], TimeSpan.FromSeconds(20));
        Assert.Equal(2, run.Stdout.Split("-----BEGIN CERTIFICATE-----").Length - 1);
        Assert.Contains("Verify return code: 0 (ok)", run.Stdout);
        Assert.Matches(@"0 s:CN\s*=\s*hikshare-gateway rtsps", run.Stdout);
        Assert.Matches(@"1 s:CN\s*=\s*hikshare test CA", run.Stdout);
    }

    [Fact]
    public async Task ClientKeyUpdates_AreFollowed_AndOneRequestingOurs_IsAnsweredByOurWriter()
    {
        using var ec = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var (h, log, _) = await StartAsync(ec);
        await using var __ = h;
        await using var other = await PlayingDotNetViewerAsync(h);

        using var openssl = new OpensslClient(h.Server.TlsPort, ["-tls1_3"]);
        await using var viewer = RtspTestClient.Over(openssl);
        Assert.Equal(200, (await viewer.PlayAsync(h.TlsUrl(token: Token(Bob)))).Play.StatusCode);
        Assert.Equal(20, (await viewer.ReadPacketsAsync(20, TimeSpan.FromSeconds(10))).Count);
        // k: the client moves to its next key and asks nothing of us; its requests still decrypt (keep-alive answered).
        await openssl.CommandAsync('k');
        var keepAlive = await viewer.RequestAsync("GET_PARAMETER", h.TlsUrl(token: Token(Bob)), ("Session", viewer.Session!));
        Assert.Equal(200, keepAlive.StatusCode);
        Assert.Equal(50, (await viewer.ReadPacketsAsync(50, TimeSpan.FromSeconds(10))).Count);
        // K: it asks for ours; our writer sends it ahead of its next batch and OpenSSL moves on to our next key (a
        // record under the wrong key would end its stream). Twice, to see the second generation too.
        for (var i = 0; i < 2; i++)
        {
            await openssl.CommandAsync('K');
            Assert.Equal(200, (await viewer.RequestAsync("GET_PARAMETER", h.TlsUrl(token: Token(Bob)), ("Session", viewer.Session!))).StatusCode);
            Assert.Equal(100, (await viewer.ReadPacketsAsync(100, TimeSpan.FromSeconds(10))).Count);
        }
        Assert.Equal(3, Regex.Count(openssl.Stderr, "KEYUPDATE")); // k, K, K
        Assert.Equal(2, h.Server.Connections.Count);
        Assert.DoesNotContain(log.Entries, e => e.EventId.Id == 2306);
        Assert.Equal(100, (await other.ReadPacketsAsync(100, TimeSpan.FromSeconds(15))).Count);
    }

    [Fact]
    public async Task Tls12Renegotiation_IsRefused_EndsOnlyThatConnection()
    {
        using var rsa = RSA.Create(2048);
        var (h, log, _) = await StartAsync(rsa);
        await using var __ = h;
        await using var other = await PlayingDotNetViewerAsync(h);
        using var openssl = new OpensslClient(h.Server.TlsPort, ["-tls1_2"]);
        await using var viewer = RtspTestClient.Over(openssl);
        Assert.Equal(200, (await viewer.PlayAsync(h.TlsUrl(token: Token(Bob)))).Play.StatusCode);
        Assert.Equal(20, (await viewer.ReadPacketsAsync(20, TimeSpan.FromSeconds(10))).Count);
        await openssl.CommandAsync('R');
        await Wait.UntilAsync(() => log.Entries.Any(e => e.Message.Contains("no_renegotiation")), "the refused renegotiation logged", 15_000);
        await Wait.UntilAsync(() => h.Server.Connections.Count == 1, "only the other viewer left", 15_000);
        Assert.Equal(100, (await other.ReadPacketsAsync(100, TimeSpan.FromSeconds(15))).Count);
    }

    private static async Task<RtspTestClient> PlayingDotNetViewerAsync(RelayHarness h)
    {
        var viewer = await RtspTestClient.ConnectTlsAsync(h.Server.TlsPort);
        Assert.Equal(200, (await viewer.PlayAsync(h.TlsUrl(token: Token(Bob)))).Play.StatusCode);
        Assert.Equal(20, (await viewer.ReadPacketsAsync(20, TimeSpan.FromSeconds(10))).Count);
        return viewer;
    }

    public static TheoryData<string, byte[], bool, string?> BadInput => new()
    {
        // name, raw bytes written under the TLS layer, then shut the sending side, the reason logged
        { "garbage", "GARBAGE\r\n\r\n"u8.ToArray(), false, "not a TLS record" },
        { "oversized record", [23, 3, 3, 0x7F, 0xFF, .. new byte[64]], false, "over the limit" },
        { "unauthenticated alert", [21, 3, 3, 0, 2, 2, 40], false, "bad TLS input" },
        { "truncated record", [23, 3, 3, 0, 100, .. new byte[10]], true, "truncated TLS record" },
        { "close_notify then data", [], false, null },
    };

    [Theory]
    [MemberData(nameof(BadInput))]
    public async Task BadInputAfterTheHandshake_EndsOnlyThatConnection_TheOtherViewerKeepsPlaying(string what, byte[] raw, bool thenShutdown, string? reason)
    {
        using var ec = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var (h, log, _) = await StartAsync(ec);
        await using var __ = h;
        await using var other = await PlayingDotNetViewerAsync(h);
        await using var bad = await PlayingDotNetViewerAsync(h);
        Assert.Equal(2, h.Server.Connections.Count);
        if (raw.Length == 0)
        {
            // SslStream's close_notify, then bytes that are not even a record.
            await bad.SendCloseNotifyAsync();
            await bad.Socket.SendAsync("after close_notify"u8.ToArray());
        }
        else
        {
            await bad.Socket.SendAsync(raw);
            if (thenShutdown)
            {
                bad.Socket.Shutdown(System.Net.Sockets.SocketShutdown.Send);
            }
        }
        await Wait.UntilAsync(() => h.Server.Connections.Count == 1, $"the connection that sent {what} closed", 15_000);
        if (reason is not null)
        {
            Assert.Contains(log.Entries, e => e.EventId.Id == 2306 && e.Message.Contains(reason));
        }
        Assert.Equal(100, (await other.ReadPacketsAsync(100, TimeSpan.FromSeconds(15))).Count);
    }
}
