using System.Collections.Concurrent;
using HikShareGateway.WebRtc.Dtls;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.Tls;
using Org.BouncyCastle.Tls.Crypto;
using Org.BouncyCastle.Tls.Crypto.Impl.BC;

namespace HikShareGateway.WebRtc.Tests.Dtls;

/// <summary>A browser stand-in: BouncyCastle's DTLS client with its own P-256 certificate and use_srtp.</summary>
internal sealed class DtlsTestClient : DefaultTlsClient
{
    private readonly DtlsCertificate _certificate;
    private readonly int[] _profiles;

    public DtlsTestClient(DtlsCertificate certificate, params int[] profiles) : base(new BcTlsCrypto(new SecureRandom()))
    {
        _certificate = certificate;
        _profiles = profiles;
    }

    public byte[]? ServerCertificateDer { get; private set; }
    public byte[]? Exported { get; private set; }
    public int? SelectedProfile { get; private set; }

    protected override ProtocolVersion[] GetSupportedVersions() => ProtocolVersion.DTLSv12.Only();

    public override IDictionary<int, byte[]> GetClientExtensions()
    {
        var extensions = base.GetClientExtensions() ?? new Dictionary<int, byte[]>();
        TlsSrtpUtilities.AddUseSrtpExtension(extensions, new UseSrtpData(_profiles, TlsUtilities.EmptyBytes));
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
        var profile = (HikShareGateway.WebRtc.Srtp.SrtpProfile)SelectedProfile!.Value;
        Exported = m_context.ExportKeyingMaterial("EXTRACTOR-dtls_srtp", null, SrtpKeyMaterial.ExportLength(profile));
    }

    private sealed class Authentication(DtlsTestClient client) : TlsAuthentication
    {
        public void NotifyServerCertificate(TlsServerCertificate serverCertificate)
            => client.ServerCertificateDer = serverCertificate.Certificate.GetCertificateAt(0).GetEncoded();

        public TlsCredentials GetClientCredentials(CertificateRequest certificateRequest)
        {
            var crypto = (BcTlsCrypto)client.Crypto;
            var chain = new Certificate([crypto.CreateCertificate(client._certificate.Der)]);
            return new BcDefaultTlsCredentialedSigner(new TlsCryptoParameters(client.m_context), crypto, client._certificate.PrivateKey,
                chain, new SignatureAndHashAlgorithm(HashAlgorithm.sha256, SignatureAlgorithm.ecdsa));
        }
    }
}

/// <summary>The client's end of an in-memory datagram pair: what the server sends lands in its queue.</summary>
internal sealed class LoopbackDatagramTransport(Action<byte[]> send) : DatagramTransport
{
    private readonly BlockingCollection<byte[]> _incoming = new();
    private volatile bool _closed;

    public void Deliver(ReadOnlyMemory<byte> datagram) => _incoming.Add(datagram.ToArray());

    public int GetReceiveLimit() => 1500;

    public int GetSendLimit() => 1200;

    public int Receive(byte[] buf, int off, int len, int waitMillis) => Receive(buf.AsSpan(off, len), waitMillis);

    public int Receive(Span<byte> buffer, int waitMillis)
    {
        if (_closed) throw new IOException("closed");
        if (!_incoming.TryTake(out var d, waitMillis)) return -1;
        d.AsSpan(0, Math.Min(d.Length, buffer.Length)).CopyTo(buffer);
        return Math.Min(d.Length, buffer.Length);
    }

    public void Send(byte[] buf, int off, int len) => send(buf.AsSpan(off, len).ToArray());

    public void Send(ReadOnlySpan<byte> buffer) => send(buffer.ToArray());

    public void Close() => _closed = true;
}
