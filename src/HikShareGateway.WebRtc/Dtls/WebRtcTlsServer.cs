using HikShareGateway.WebRtc.Sdp;
using HikShareGateway.WebRtc.Srtp;
using Org.BouncyCastle.Tls;
using Org.BouncyCastle.Tls.Crypto;
using Org.BouncyCastle.Tls.Crypto.Impl.BC;

namespace HikShareGateway.WebRtc.Dtls;

/// <summary>
/// The BouncyCastle server policy of one DTLS-SRTP association: DTLS 1.2 only, ECDHE-ECDSA suites, our P-256
/// certificate, a client certificate required and checked against the offer's a=fingerprint, use_srtp with the
/// first of our profiles the client offers (GCM preferred), and the SRTP keys exported at the end.
/// </summary>
internal sealed class WebRtcTlsServer : DefaultTlsServer
{
    private readonly DtlsCertificate _certificate;
    private readonly SdpFingerprint _expectedClient;
    private readonly IReadOnlyList<SrtpProfile> _profiles;

    public WebRtcTlsServer(BcTlsCrypto crypto, DtlsCertificate certificate, SdpFingerprint expectedClient, IReadOnlyList<SrtpProfile> profiles)
        : base(crypto)
    {
        _certificate = certificate;
        _expectedClient = expectedClient;
        _profiles = profiles;
    }

    public SrtpProfile? SelectedProfile { get; private set; }
    public SrtpKeyMaterial? Keys { get; private set; }
    public DtlsFailure Failure { get; private set; }
    public short? AlertDescriptionSeen { get; private set; }

    protected override ProtocolVersion[] GetSupportedVersions() => ProtocolVersion.DTLSv12.Only();

    protected override int[] GetSupportedCipherSuites() =>
    [
        CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        CipherSuite.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
        CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
    ];

    protected override TlsCredentialedSigner GetECDsaSignerCredentials()
    {
        var crypto = (BcTlsCrypto)Crypto;
        var chain = new Certificate([crypto.CreateCertificate(_certificate.Der)]);
        return new BcDefaultTlsCredentialedSigner(new TlsCryptoParameters(m_context), crypto, _certificate.PrivateKey, chain,
            new SignatureAndHashAlgorithm(HashAlgorithm.sha256, SignatureAlgorithm.ecdsa));
    }

    /// <summary>RFC 8827 §6.5: both sides present certificates; the browser's is authenticated by its fingerprint.</summary>
    public override CertificateRequest GetCertificateRequest()
    {
        var algorithms = new List<SignatureAndHashAlgorithm>
        {
            new(HashAlgorithm.sha256, SignatureAlgorithm.ecdsa),
            new(HashAlgorithm.sha384, SignatureAlgorithm.ecdsa),
            new(HashAlgorithm.sha256, SignatureAlgorithm.rsa),
            SignatureAndHashAlgorithm.rsa_pss_rsae_sha256,
        };
        return new CertificateRequest([ClientCertificateType.ecdsa_sign, ClientCertificateType.rsa_sign], algorithms, null);
    }

    public override void NotifyClientCertificate(Certificate clientCertificate)
    {
        if (clientCertificate is null || clientCertificate.IsEmpty)
        {
            Failure = DtlsFailure.NoClientCertificate;
            throw new TlsFatalAlert(AlertDescription.handshake_failure);
        }
        var der = clientCertificate.GetCertificateAt(0).GetEncoded();
        var digest = DtlsCertificate.Digest(_expectedClient.Algorithm, der);
        if (digest is null || !System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(digest, _expectedClient.Digest))
        {
            Failure = DtlsFailure.FingerprintMismatch;
            throw new TlsFatalAlert(AlertDescription.bad_certificate);
        }
    }

    public override void ProcessClientExtensions(IDictionary<int, byte[]> clientExtensions)
    {
        base.ProcessClientExtensions(clientExtensions);
        var offered = TlsSrtpUtilities.GetUseSrtpExtension(clientExtensions);
        if (offered is not null)
        {
            foreach (var ours in _profiles)
            {
                if (Array.IndexOf(offered.ProtectionProfiles, (int)ours) >= 0) { SelectedProfile = ours; break; }
            }
        }
        if (SelectedProfile is null)
        {
            // RFC 5764 §4.1.1: without a common profile there is nothing to key; refuse rather than run plain DTLS.
            Failure = DtlsFailure.NoSrtpProfile;
            throw new TlsFatalAlert(AlertDescription.handshake_failure);
        }
    }

    public override IDictionary<int, byte[]> GetServerExtensions()
    {
        var extensions = base.GetServerExtensions() ?? new Dictionary<int, byte[]>();
        TlsSrtpUtilities.AddUseSrtpExtension(extensions, new UseSrtpData([(int)SelectedProfile!.Value], TlsUtilities.EmptyBytes));
        return extensions;
    }

    public override void NotifyHandshakeComplete()
    {
        base.NotifyHandshakeComplete();
        var profile = SelectedProfile!.Value;
        // RFC 5764 §4.2: the SRTP master keys come from the TLS exporter with this label and no context.
        var exported = m_context.ExportKeyingMaterial("EXTRACTOR-dtls_srtp", null, SrtpKeyMaterial.ExportLength(profile));
        Keys = new SrtpKeyMaterial(profile, exported);
        Array.Clear(exported);
    }

    public override void NotifyAlertRaised(short alertLevel, short alertDescription, string message, Exception cause)
        => AlertDescriptionSeen ??= alertDescription;

    public override void NotifyAlertReceived(short alertLevel, short alertDescription)
        => AlertDescriptionSeen ??= alertDescription;
}

/// <summary>How a DTLS handshake ended.</summary>
public enum DtlsFailure
{
    None,
    /// <summary>Not completed within the handshake timeout.</summary>
    Timeout,
    FingerprintMismatch,
    NoClientCertificate,
    NoSrtpProfile,
    /// <summary>A TLS alert was raised or received (the description is in the result).</summary>
    Alert,
    /// <summary>The session was closed while the handshake ran.</summary>
    Closed,
}
