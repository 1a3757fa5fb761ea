using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using HikShareGateway.Core.Access;
using HikShareGateway.Rtsp;
using HikShareGateway.Tests.Infrastructure;
using static HikShareGateway.Tests.Access.AccessTestKit;
using static HikShareGateway.Tests.Rtsp.Relay.RelayHarness;

namespace HikShareGateway.Tests.Rtsp.Relay;

/// <summary>
/// RTSPS (contract §5: RTSP over TLS on its own port when a certificate is configured): real viewers (ffprobe,
/// ffmpeg, GStreamer's rtspsrc) through TLS, the token checked and a revocation cutting the session as on plain
/// RTSP, and a client that does not speak TLS refused without disturbing anyone.
/// </summary>
[Trait("Category", "Integration")]
public sealed class RtspsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("hikshare-rtsps-").FullName;
    private int _files;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>A self-signed certificate for 127.0.0.1 written as PEM files, loaded the way the gateway loads them.</summary>
    private RtspOptions WriteCertificate(bool keyInCertificateFile = false)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=hikshare-gateway test", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        san.AddDnsName("localhost");
        request.CertificateExtensions.Add(san.Build());
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        var name = "rtsps" + Interlocked.Increment(ref _files);
        var certFile = Path.Combine(_dir, name + ".crt");
        var keyFile = Path.Combine(_dir, name + ".key");
        var certPem = certificate.ExportCertificatePem() + "\n";
        var keyPem = key.ExportPkcs8PrivateKeyPem() + "\n";
        if (keyInCertificateFile)
        {
            File.WriteAllText(certFile, certPem + keyPem);
            return new RtspOptions { TlsCertificateFile = certFile };
        }
        File.WriteAllText(certFile, certPem);
        File.WriteAllText(keyFile, keyPem);
        return new RtspOptions { TlsCertificateFile = certFile, TlsKeyFile = keyFile };
    }

    private async Task<RelayHarness> StartTlsAsync()
    {
        var h = await StartAsync(new Options { TlsCertificate = WriteCertificate().LoadTlsCertificate() });
        h.Grant(LiveShare(Bob));
        return h;
    }

    [Fact]
    public async Task Ffprobe_OverRtsps_ReadsH264_AndTheTokenIsStillRequired()
    {
        await using var h = await StartTlsAsync();
        var ok = await Ffprobe.CountPacketsAsync(h.TlsUrl(token: Token(Bob)), packets: 40, timeout: TimeSpan.FromSeconds(30));
        Assert.True(ok.ExitCode == 0, ok.ToString());
        Assert.Equal("h264", ok.CodecName);
        Assert.True(ok.VideoPackets >= 40, ok.ToString());

        var none = await Ffprobe.CountPacketsAsync(h.TlsUrl(), packets: 5, timeout: TimeSpan.FromSeconds(20));
        Assert.NotEqual(0, none.ExitCode);
        Assert.Contains("401", none.Stderr);
        var carol = await Ffprobe.CountPacketsAsync(h.TlsUrl(token: Token(Carol)), packets: 5, timeout: TimeSpan.FromSeconds(20));
        Assert.Contains("403", carol.Stderr);
    }

    [Fact]
    public async Task GstRtspsrc_OverRtsps_BasicCredentials()
    {
        await using var h = await StartTlsAsync();
        var run = await GstLaunch.ReadVideoAsync(new Uri(h.TlsUrl()), 50, Bob, Token(Bob), TimeSpan.FromSeconds(30));
        Assert.True(run.ReachedEos, run.ToString());
    }

    [Fact]
    public async Task RevokedShare_CutsARunningRtspsSession()
    {
        await using var h = await StartTlsAsync();
        long recorded = 0;
        var recording = FfmpegRecord.RunAsync(h.TlsUrl(token: Token(Bob)), duration: TimeSpan.FromSeconds(60), timeout: TimeSpan.FromSeconds(60),
            onFrames: f => Interlocked.Exchange(ref recorded, f));
        await Wait.UntilAsync(() => h.Registry.ActiveSessions.Count == 1 && Interlocked.Read(ref recorded) > 0, "ffmpeg records frames over RTSPS", 20_000);
        var started = System.Diagnostics.Stopwatch.StartNew();
        h.Grant(); // every share gone
        var result = await recording;
        // ffmpeg stops when the gateway closes the TLS connection, long before its 60 s.
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(20), $"ffmpeg ran on for {started.Elapsed}; {result}");
        Assert.True(result.Frames > 0, result.ToString());
        Assert.Contains(h.Audit.Events, e => e.Decision == AuditDecision.Revoked && e.Account == Bob);
        Assert.Empty(h.Registry.ActiveSessions);
    }

    [Fact]
    public async Task PlainRtspOnTheRtspsPort_IsClosed_TlsViewerUndisturbed()
    {
        await using var h = await StartTlsAsync();
        await using var viewer = await RtspTestClient.ConnectTlsAsync(h.Server.TlsPort);
        Assert.Equal(200, (await viewer.PlayAsync(h.TlsUrl(token: Token(Bob)))).Play.StatusCode);
        Assert.Equal(20, (await viewer.ReadPacketsAsync(20, TimeSpan.FromSeconds(10))).Count);

        // A plain-text RTSP request where TLS is expected: the handshake fails and the connection closes at once.
        using (var plain = new Socket(SocketType.Stream, ProtocolType.Tcp))
        {
            await plain.ConnectAsync(IPAddress.Loopback, h.Server.TlsPort);
            await plain.SendAsync(Encoding.ASCII.GetBytes("OPTIONS rtsps://127.0.0.1/ RTSP/1.0\r\nCSeq: 1\r\n\r\n"));
            var buffer = new byte[4096];
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            var total = 0;
            while (true)
            {
                var n = await plain.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
                if (n == 0)
                {
                    break;
                }
                total += n;
            }
            Assert.DoesNotContain("RTSP/1.0", Encoding.ASCII.GetString(buffer, 0, Math.Min(total, buffer.Length)));
        }
        // A peer that connects and says nothing does not hold the server either; the TLS viewer keeps receiving.
        using var silent = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await silent.ConnectAsync(IPAddress.Loopback, h.Server.TlsPort);
        Assert.Equal(100, (await viewer.ReadPacketsAsync(100, TimeSpan.FromSeconds(15))).Count);
        Assert.Single(h.Registry.ActiveSessions);
    }

    [Fact]
    public async Task SlowRtspsViewer_IsDisconnected_TheOtherTlsViewerUntouched()
    {
        var limits = new HikShareGateway.Rtsp.Server.ViewerQueueLimits(MaxBytes: 48 * 1024, MaxDelay: TimeSpan.FromMilliseconds(300), MaxOverflows: 2,
            OverflowWindow: TimeSpan.FromSeconds(30), StalledSend: TimeSpan.FromSeconds(3), SendBufferBytes: 32 * 1024);
        await using var h = await StartAsync(new Options { QueueLimits = limits, TlsCertificate = WriteCertificate().LoadTlsCertificate() });
        h.Grant(LiveShare(Bob));
        await using var fast = await RtspTestClient.ConnectTlsAsync(h.Server.TlsPort);
        await using var slow = await RtspTestClient.ConnectTlsAsync(h.Server.TlsPort, receiveBuffer: 4096);
        Assert.Equal(200, (await fast.PlayAsync(h.TlsUrl(token: Token(Bob)))).Play.StatusCode);
        Assert.Equal(200, (await slow.PlayAsync(h.TlsUrl(token: Token(Bob)))).Play.StatusCode);
        var slowConnection = h.Server.Connections.Single(x => x.Remote.EndsWith(":" + ((IPEndPoint)slow.Socket.LocalEndPoint!).Port));
        // The slow viewer stops reading: its TLS writes stall, its queue overflows, and it is cut.
        Assert.Equal(400, (await fast.ReadPacketsAsync(400, TimeSpan.FromSeconds(20))).Count);
        await Wait.UntilAsync(() => !h.Server.Connections.Contains(slowConnection), "the slow RTSPS viewer was disconnected", 15000);
        Assert.True(await slow.WaitClosedAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(50, (await fast.ReadPacketsAsync(50, TimeSpan.FromSeconds(10))).Count);
    }

    [Fact]
    public async Task HostedService_StartsRtspsFromTheOptions_AndNamesTheKeyWhenThePortIsTaken()
    {
        await using var h = await StartAsync();
        h.Grant(LiveShare(Bob));
        var options = WriteCertificate();
        options.Port = 0; // RTSPS only
        options.TlsPort = PortAllocator.GetFreeTcpPort();
        var service = new RtspHostedService(options, h.Server, h.Relay, Microsoft.Extensions.Logging.Abstractions.NullLogger<RtspHostedService>.Instance);
        await service.StartAsync(CancellationToken.None);
        Assert.Equal(options.TlsPort, h.Server.TlsPort);
        var probe = await Ffprobe.CountPacketsAsync(h.TlsUrl(token: Token(Bob)), packets: 10, timeout: TimeSpan.FromSeconds(30));
        Assert.True(probe.ExitCode == 0, probe.ToString());

        await using var other = await StartAsync();
        var clash = new RtspHostedService(options, other.Server, other.Relay, Microsoft.Extensions.Logging.Abstractions.NullLogger<RtspHostedService>.Instance);
        var e = await Assert.ThrowsAsync<HikShareGateway.Core.Configuration.StartupException>(() => clash.StartAsync(CancellationToken.None));
        Assert.StartsWith($"Rtsp:TlsPort {options.TlsPort}: cannot listen", e.Message);

        // The key file gone between validation and start: one clear line, not a stack trace.
        File.Delete(options.TlsKeyFile!);
        options.TlsPort = PortAllocator.GetFreeTcpPort();
        var gone = await Assert.ThrowsAsync<HikShareGateway.Core.Configuration.StartupException>(() => clash.StartAsync(CancellationToken.None));
        Assert.StartsWith("Rtsp:TlsCertificateFile", gone.Message);
    }

    [Fact]
    public void Options_CertificateWithItsKey_InOneFileOrTwo_Validate()
    {
        foreach (var options in new[] { WriteCertificate(), WriteCertificate(keyInCertificateFile: true) })
        {
            var errors = new List<string>();
            options.Validate(errors);
            Assert.Empty(errors);
            using var certificate = options.LoadTlsCertificate();
            Assert.True(certificate.HasPrivateKey);
        }
    }

    [Fact]
    public void Options_UnusableTlsSettings_AreReportedTogether_WithoutTheKey()
    {
        var good = WriteCertificate();
        var keyText = File.ReadAllText(good.TlsKeyFile!);

        var missing = new RtspOptions { TlsCertificateFile = Path.Combine(_dir, "nope.crt") };
        Assert.Contains(Errors(missing), e => e.StartsWith("Rtsp:TlsCertificateFile", StringComparison.Ordinal) && e.Contains("does not exist"));

        var noKey = new RtspOptions { TlsCertificateFile = good.TlsCertificateFile };
        Assert.Contains(Errors(noKey), e => e.StartsWith("Rtsp:TlsCertificateFile", StringComparison.Ordinal) && e.Contains("cannot be used for RTSPS"));

        var garbage = Path.Combine(_dir, "garbage.key");
        File.WriteAllText(garbage, "-----BEGIN PRIVATE KEY-----\nnot base64 at all\n-----END PRIVATE KEY-----\n");
        var badKey = new RtspOptions { TlsCertificateFile = good.TlsCertificateFile, TlsKeyFile = garbage, TlsPort = 8554 };
        var errors = Errors(badKey);
        Assert.Contains(errors, e => e.StartsWith("Rtsp:TlsPort 8554 is also Rtsp:Port", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Rtsp:TlsCertificateFile", StringComparison.Ordinal) && e.Contains("cannot be used for RTSPS"));
        Assert.All(errors, e => Assert.DoesNotContain(keyText.Split('\n')[1], e));

        static List<string> Errors(RtspOptions o)
        {
            var list = new List<string>();
            o.Validate(list);
            return list;
        }
    }
}
