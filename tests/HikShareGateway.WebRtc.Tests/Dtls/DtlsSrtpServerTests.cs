using HikShareGateway.WebRtc.Diagnostics;
using HikShareGateway.WebRtc.Dtls;
using HikShareGateway.WebRtc.Sdp;
using HikShareGateway.WebRtc.Srtp;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Org.BouncyCastle.Tls;

namespace HikShareGateway.WebRtc.Tests.Dtls;

[Trait("Category", "Unit")]
public sealed class DtlsSrtpServerTests
{
    private static readonly TimeSpan TestBound = TimeSpan.FromSeconds(30);
    private static readonly DtlsCertificate ServerCertificate = DtlsCertificate.Create(TimeProvider.System);
    private static readonly DtlsCertificate ClientCertificate = DtlsCertificate.Create(TimeProvider.System, "browser");

    private sealed class Pair : IDisposable
    {
        public readonly DropCounters Drops = new();
        public readonly DtlsSrtpServer Server;
        public readonly LoopbackDatagramTransport ClientTransport;
        public readonly DtlsTestClient Client;

        public Pair(SdpFingerprint expected, TimeProvider time, params int[] clientProfiles)
        {
            DtlsSrtpServer? server = null;
            ClientTransport = new LoopbackDatagramTransport(d => server!.OnDatagram(d));
            server = new DtlsSrtpServer(ServerCertificate, expected, d => ClientTransport.Deliver(d), new DtlsOptions(), time, NullLogger.Instance, Drops);
            Server = server;
            Client = new DtlsTestClient(ClientCertificate, clientProfiles);
        }

        public Task<DtlsTransport> ConnectClient() => Task.Factory.StartNew(
            () => new DtlsClientProtocol().Connect(Client, ClientTransport), TaskCreationOptions.LongRunning);

        public void Dispose()
        {
            Server.Dispose();
            ClientTransport.Close();
        }
    }

    [Theory]
    [InlineData(new[] { 0x0007, 0x0001 }, SrtpProfile.AeadAes128Gcm)]
    [InlineData(new[] { 0x0001 }, SrtpProfile.AesCm128HmacSha1_80)]
    [InlineData(new[] { 0x0001, 0x0007 }, SrtpProfile.AeadAes128Gcm)] // our preference decides
    public async Task BouncyCastleClient_CompletesTheHandshakeAndBothSidesDeriveTheSameSrtpKeys(int[] offered, SrtpProfile expected)
    {
        using var pair = new Pair(ClientCertificate.Fingerprint, TimeProvider.System, offered);
        var server = pair.Server.HandshakeAsync();
        var client = pair.ConnectClient();
        var result = await server.WaitAsync(TestBound);
        await client.WaitAsync(TestBound);

        Assert.True(result.Succeeded, $"{result.Failure} alert {result.Alert}");
        Assert.Equal(expected, result.Keys!.Profile);
        Assert.Equal((int)expected, pair.Client.SelectedProfile);
        Assert.Equal(ServerCertificate.Der, pair.Client.ServerCertificateDer);
        var clientSide = new SrtpKeyMaterial(expected, pair.Client.Exported);
        Assert.Equal(clientSide.ServerKey, result.Keys.ServerKey);
        Assert.Equal(clientSide.ClientSalt, result.Keys.ClientSalt);

        // What we protect with our sender, the browser opens with the server write keys it exported.
        using var sender = result.Keys.CreateSender();
        using var browserReceiver = new SrtpContext(expected, clientSide.ServerKey, clientSide.ServerSalt);
        var packet = new byte[64];
        packet[0] = 0x80;
        packet[1] = 102;
        packet[20] = 0x42;
        var n = sender.ProtectRtp(packet, 40);
        Assert.True(browserReceiver.TryUnprotectRtp(packet, n, out var plain, out var error), error.ToString());
        Assert.Equal(40, plain);
        Assert.Equal(0x42, packet[20]);
        Assert.Equal(0, pair.Drops.Total);
    }

    [Fact]
    public async Task ClientCertificateNotMatchingTheOfferFingerprint_FailsTheHandshakeAsFingerprintMismatch()
    {
        var wrong = new SdpFingerprint("sha-256", new byte[32]);
        using var pair = new Pair(wrong, TimeProvider.System, 0x0007);
        var server = pair.Server.HandshakeAsync();
        var client = pair.ConnectClient();
        var result = await server.WaitAsync(TestBound);
        Assert.False(result.Succeeded);
        Assert.Equal(DtlsFailure.FingerprintMismatch, result.Failure);
        Assert.Equal(AlertDescription.bad_certificate, result.Alert);
        await Assert.ThrowsAnyAsync<Exception>(() => client.WaitAsync(TestBound));
        Assert.Equal(1, pair.Drops[DropReason.DtlsFingerprintMismatch]);
    }

    [Fact]
    public async Task ClientWithoutACommonSrtpProfile_IsRefused()
    {
        using var pair = new Pair(ClientCertificate.Fingerprint, TimeProvider.System, 0x0002); // SRTP_AES128_CM_HMAC_SHA1_32 only
        var server = pair.Server.HandshakeAsync();
        var client = pair.ConnectClient();
        var result = await server.WaitAsync(TestBound);
        Assert.Equal(DtlsFailure.NoSrtpProfile, result.Failure);
        await Assert.ThrowsAnyAsync<Exception>(() => client.WaitAsync(TestBound));
    }

    [Fact]
    public async Task NoClient_HandshakeEndsAsTimeoutWhenTheInjectedClockPassesTheLimit()
    {
        var time = new FakeTimeProvider();
        using var pair = new Pair(ClientCertificate.Fingerprint, time, 0x0007);
        var server = pair.Server.HandshakeAsync();
        Assert.False(server.IsCompleted);
        time.Advance(new DtlsOptions().HandshakeTimeout);
        var result = await server.WaitAsync(TestBound);
        Assert.Equal(DtlsFailure.Timeout, result.Failure);
        Assert.Equal(1, pair.Drops[DropReason.DtlsHandshakeFailed]);
    }

    [Fact]
    public async Task GarbageAndTruncatedRecords_AreDroppedOrFailTheHandshakeCleanlyWithinTheBound()
    {
        var time = new FakeTimeProvider();
        using var pair = new Pair(ClientCertificate.Fingerprint, time, 0x0007);
        var server = pair.Server.HandshakeAsync();
        var random = new Random(5764);
        for (var i = 0; i < 200; i++)
        {
            var bytes = new byte[random.Next(1, 300)];
            random.NextBytes(bytes);
            if (i % 2 == 0 && bytes.Length > 13)
            {
                // A plausible header (handshake, DTLS 1.2, right length) over random content: BouncyCastle sees it.
                bytes[0] = 22; bytes[1] = 0xFE; bytes[2] = 0xFD;
                bytes[11] = (byte)((bytes.Length - 13) >> 8); bytes[12] = (byte)(bytes.Length - 13);
            }
            pair.Server.OnDatagram(bytes);
        }
        Assert.True(pair.Drops[DropReason.DtlsGarbage] >= 90, pair.Drops[DropReason.DtlsGarbage].ToString());
        time.Advance(new DtlsOptions().HandshakeTimeout);
        var result = await server.WaitAsync(TestBound);
        Assert.False(result.Succeeded);
        Assert.True(result.Failure is DtlsFailure.Timeout or DtlsFailure.Alert, result.Failure.ToString());
    }

    [Fact]
    public async Task MutatedClientHellos_EndEveryHandshakeCleanlyAsAFailure()
    {
        // The first flight of a real client, captured from its transport.
        var first = new TaskCompletionSource<byte[]>(TaskCreationOptions.RunContinuationsAsynchronously);
        var capture = new LoopbackDatagramTransport(d => first.TrySetResult(d));
        var client = Task.Factory.StartNew(() => new DtlsClientProtocol().Connect(new DtlsTestClient(ClientCertificate, 0x0007), capture),
            TaskCreationOptions.LongRunning);
        var hello = await first.Task.WaitAsync(TestBound);
        capture.Close();
        await Assert.ThrowsAnyAsync<Exception>(() => client.WaitAsync(TestBound));
        Assert.True(DtlsRecordCheck.IsPlausible(hello));

        var random = new Random(6347);
        for (var c = 0; c < 150; c++)
        {
            var time = new FakeTimeProvider();
            using var pair = new Pair(ClientCertificate.Fingerprint, time, 0x0007);
            var server = pair.Server.HandshakeAsync();
            var mutated = (byte[])hello.Clone();
            for (var e = random.Next(1, 4); e > 0; e--) mutated[random.Next(13, mutated.Length)] ^= (byte)(1 << random.Next(8));
            if (c % 3 == 0) mutated = mutated[..random.Next(13, mutated.Length)]; // truncated inside the record
            pair.Server.OnDatagram(mutated);
            time.Advance(new DtlsOptions().HandshakeTimeout);
            var result = await server.WaitAsync(TestBound);
            Assert.False(result.Succeeded, $"case {c}");
        }
    }

    [Fact]
    public void RecordCheck_AcceptsWholeRecordsAndRefusesEveryStrictPrefix()
    {
        var record = new byte[13 + 20];
        record[0] = 22; record[1] = 0xFE; record[2] = 0xFD; record[12] = 20;
        var two = record.Concat(record).ToArray();
        Assert.True(DtlsRecordCheck.IsPlausible(record));
        Assert.True(DtlsRecordCheck.IsPlausible(two));
        for (var n = 0; n < two.Length; n++)
        {
            if (n == record.Length) continue;
            Assert.False(DtlsRecordCheck.IsPlausible(two.AsSpan(0, n)), $"prefix {n}");
        }
        var rtp = (byte[])record.Clone();
        rtp[0] = 0x80;
        Assert.False(DtlsRecordCheck.IsPlausible(rtp));
        var tls = (byte[])record.Clone();
        tls[1] = 0x03; tls[2] = 0x03; // TLS 1.2, not DTLS
        Assert.False(DtlsRecordCheck.IsPlausible(tls));
    }
}
