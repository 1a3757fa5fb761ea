using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.Tls;
using Org.BouncyCastle.Tls.Crypto;
using Org.BouncyCastle.Tls.Crypto.Impl.BC;
using TlsHash = Org.BouncyCastle.Tls.HashAlgorithm;

namespace HikShareGateway.Rtsp.Transport;

/// <summary>
/// The RTSPS server's certificate chain (leaf first, as in the PEM file) and private key (RSA or ECDSA), converted
/// once for BouncyCastle's TLS; shared by every connection of the port.
/// </summary>
public sealed class RtspsIdentity
{
    private RtspsIdentity(byte[][] chain, AsymmetricKeyParameter key, bool ecdsa, int curveBits, string subject, DateTime notAfter)
    {
        Chain = chain;
        PrivateKey = key;
        IsEcdsa = ecdsa;
        CurveBits = curveBits;
        Subject = subject;
        NotAfter = notAfter;
    }

    /// <summary>DER of each certificate sent, leaf first.</summary>
    internal byte[][] Chain { get; }
    internal AsymmetricKeyParameter PrivateKey { get; }
    internal bool IsEcdsa { get; }
    /// <summary>ECDSA: the curve's size (256, 384, 521), which fixes its TLS 1.3 signature scheme.</summary>
    internal int CurveBits { get; }
    public string Subject { get; }
    public DateTime NotAfter { get; }

    /// <summary>
    /// From the leaf with its private key and the certificates after it in the file (<paramref name="chain"/>; the
    /// leaf itself is skipped there when it repeats). Throws <see cref="CryptographicException"/> for a key that is
    /// neither RSA nor ECDSA.
    /// </summary>
    public static RtspsIdentity Create(X509Certificate2 leaf, X509Certificate2Collection? chain = null)
    {
        byte[] pkcs8;
        bool ecdsa;
        var curveBits = 0;
        using (var ec = leaf.GetECDsaPrivateKey())
        using (var rsa = ec is null ? leaf.GetRSAPrivateKey() : null)
        {
            if (ec is not null)
            {
                ecdsa = true;
                curveBits = ec.KeySize;
                pkcs8 = ec.ExportPkcs8PrivateKey();
            }
            else if (rsa is not null)
            {
                ecdsa = false;
                pkcs8 = rsa.ExportPkcs8PrivateKey();
            }
            else
            {
                throw new CryptographicException("the RTSPS key is neither RSA nor ECDSA");
            }
        }
        AsymmetricKeyParameter key;
        try
        {
            key = PrivateKeyFactory.CreateKey(pkcs8);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(pkcs8);
        }
        var ders = new List<byte[]> { leaf.RawData };
        foreach (var c in chain ?? [])
        {
            if (!c.RawData.AsSpan().SequenceEqual(leaf.RawData))
            {
                ders.Add(c.RawData);
            }
        }
        return new RtspsIdentity([.. ders], key, ecdsa, curveBits, leaf.Subject, leaf.NotAfter.ToUniversalTime());
    }
}

/// <summary>The keys our record writer takes over at the end of the handshake (see <see cref="TlsRecordWriter"/>).</summary>
internal sealed record RtspsKeys(bool Tls13, TlsRecordCipher Cipher, HashAlgorithmName Hash, byte[] SecretOrKey, byte[] Iv, string Suite, string Version);

/// <summary>
/// BouncyCastle's server policy for RTSPS: TLS 1.3 and the ECDHE AEAD suites of TLS 1.2 only, in the server's order
/// (AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305: every relayed byte is encrypted once per viewer); the certificate chain
/// of <see cref="RtspsIdentity"/>; no resumption, no renegotiation, no client certificate. At the end of the
/// handshake it copies the server's write keys (<see cref="Keys"/>) without destroying anything BouncyCastle still
/// holds: the TLS 1.3 server application traffic secret, or the TLS 1.2 server write key and IV from the key block.
/// </summary>
internal sealed class RtspsTlsServer(BcTlsCrypto crypto, RtspsIdentity identity) : DefaultTlsServer(crypto)
{
    private static readonly int[] Tls13Suites =
    [
        CipherSuite.TLS_AES_128_GCM_SHA256,
        CipherSuite.TLS_AES_256_GCM_SHA384,
        CipherSuite.TLS_CHACHA20_POLY1305_SHA256,
    ];

    public RtspsKeys? Keys { get; private set; }

    /// <summary>The first alert raised or received, for the log line of a failed handshake.</summary>
    public string? Alert { get; private set; }

    protected override ProtocolVersion[] GetSupportedVersions() => ProtocolVersion.TLSv13.DownTo(ProtocolVersion.TLSv12);

    protected override int[] GetSupportedCipherSuites() => identity.IsEcdsa
        ?
        [
            .. Tls13Suites,
            CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            CipherSuite.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        ]
        :
        [
            .. Tls13Suites,
            CipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            CipherSuite.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            CipherSuite.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        ];

    protected override bool PreferLocalCipherSuites() => true;

    public override TlsCredentials GetCredentials()
    {
        var tls13 = TlsUtilities.IsTlsV13(m_context);
        var offered = m_context.SecurityParameters.ClientSigAlgs
            ?? TlsUtilities.GetDefaultSignatureAlgorithms(identity.IsEcdsa ? SignatureAlgorithm.ecdsa : SignatureAlgorithm.rsa);
        SignatureAndHashAlgorithm? chosen = null;
        foreach (var alg in offered)
        {
            if (Usable(alg, tls13))
            {
                chosen = alg;
                break;
            }
        }
        if (chosen is null)
        {
            throw new TlsFatalAlert(AlertDescription.handshake_failure, "no signature algorithm of the client fits the certificate's key");
        }
        var certificates = new TlsCertificate[identity.Chain.Length];
        for (var i = 0; i < certificates.Length; i++)
        {
            certificates[i] = crypto.CreateCertificate(identity.Chain[i]);
        }
        Certificate chain;
        if (tls13)
        {
            var entries = new CertificateEntry[certificates.Length];
            for (var i = 0; i < entries.Length; i++)
            {
                entries[i] = new CertificateEntry(certificates[i], null);
            }
            chain = new Certificate(TlsUtilities.EmptyBytes, entries);
        }
        else
        {
            chain = new Certificate(certificates);
        }
        return new BcDefaultTlsCredentialedSigner(new TlsCryptoParameters(m_context), crypto, identity.PrivateKey, chain, chosen);
    }

    /// <summary>Which signature schemes our key can make: TLS 1.3 wants RSA-PSS, and ECDSA with its curve's hash.</summary>
    private bool Usable(SignatureAndHashAlgorithm alg, bool tls13)
    {
        if (identity.IsEcdsa)
        {
            if (alg.Signature != SignatureAlgorithm.ecdsa)
            {
                return false;
            }
            var curveHash = identity.CurveBits switch { <= 256 => TlsHash.sha256, <= 384 => TlsHash.sha384, _ => TlsHash.sha512 };
            return tls13 ? alg.Hash == curveHash : alg.Hash is TlsHash.sha256 or TlsHash.sha384 or TlsHash.sha512;
        }
        if (alg.Signature is SignatureAlgorithm.rsa_pss_rsae_sha256 or SignatureAlgorithm.rsa_pss_rsae_sha384 or SignatureAlgorithm.rsa_pss_rsae_sha512)
        {
            return true;
        }
        return !tls13 && alg.Signature == SignatureAlgorithm.rsa && alg.Hash is TlsHash.sha256 or TlsHash.sha384 or TlsHash.sha512;
    }

    public override void NotifyHandshakeComplete()
    {
        base.NotifyHandshakeComplete();
        var sp = m_context.SecurityParameters;
        var suite = sp.CipherSuite;
        var (cipher, hash) = suite switch
        {
            CipherSuite.TLS_AES_128_GCM_SHA256 or CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 or CipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
                => (TlsRecordCipher.Aes128Gcm, HashAlgorithmName.SHA256),
            CipherSuite.TLS_AES_256_GCM_SHA384 or CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 or CipherSuite.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
                => (TlsRecordCipher.Aes256Gcm, HashAlgorithmName.SHA384),
            CipherSuite.TLS_CHACHA20_POLY1305_SHA256 or CipherSuite.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 or CipherSuite.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
                => (TlsRecordCipher.ChaCha20Poly1305, HashAlgorithmName.SHA256),
            _ => throw new TlsFatalAlert(AlertDescription.internal_error, "unexpected cipher suite"),
        };
        var name = CipherSuiteName(suite);
        if (TlsUtilities.IsTlsV13(sp.NegotiatedVersion))
        {
            // A copy: BouncyCastle keeps its own (it would need it for a KeyUpdate of its own, which we never let it send).
            var secret = m_context.Crypto.AdoptSecret(sp.TrafficSecretServer).Extract();
            Keys = new RtspsKeys(true, cipher, hash, secret, [], name, "TLS 1.3");
            return;
        }
        // RFC 5246 §6.3: client_write_key, server_write_key, client_write_IV, server_write_IV (AEAD: no MAC keys).
        var keyLength = TlsRecordWriter.KeyLength(cipher);
        var ivLength = cipher == TlsRecordCipher.ChaCha20Poly1305 ? 12 : 4;
        var seed = new byte[64];
        sp.ServerRandom.CopyTo(seed, 0);
        sp.ClientRandom.CopyTo(seed, 32);
        var block = sp.MasterSecret.DeriveUsingPrf(sp.PrfAlgorithm, ExporterLabel.key_expansion, seed, 2 * keyLength + 2 * ivLength).Extract();
        try
        {
            Keys = new RtspsKeys(false, cipher, hash, block.AsSpan(keyLength, keyLength).ToArray(),
                block.AsSpan(2 * keyLength + ivLength, ivLength).ToArray(), name, "TLS 1.2");
        }
        finally
        {
            CryptographicOperations.ZeroMemory(block);
        }
    }

    private static string CipherSuiteName(int suite) => suite switch
    {
        CipherSuite.TLS_AES_128_GCM_SHA256 => "TLS_AES_128_GCM_SHA256",
        CipherSuite.TLS_AES_256_GCM_SHA384 => "TLS_AES_256_GCM_SHA384",
        CipherSuite.TLS_CHACHA20_POLY1305_SHA256 => "TLS_CHACHA20_POLY1305_SHA256",
        CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 => "ECDHE-ECDSA-AES128-GCM-SHA256",
        CipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => "ECDHE-RSA-AES128-GCM-SHA256",
        CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 => "ECDHE-ECDSA-AES256-GCM-SHA384",
        CipherSuite.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 => "ECDHE-RSA-AES256-GCM-SHA384",
        CipherSuite.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 => "ECDHE-ECDSA-CHACHA20-POLY1305",
        _ => "ECDHE-RSA-CHACHA20-POLY1305",
    };

    public override void NotifyAlertRaised(short alertLevel, short alertDescription, string message, Exception cause)
        => Alert ??= "sent " + AlertDescription.GetText(alertDescription) + (message is null ? "" : ": " + message);

    public override void NotifyAlertReceived(short alertLevel, short alertDescription)
        => Alert ??= "received " + AlertDescription.GetText(alertDescription);
}

/// <summary>
/// BouncyCastle's server protocol (non-blocking), which tells us when a TLS 1.3 client's KeyUpdate asks for ours
/// (RFC 8446 §4.6.3): BouncyCastle would send it with its next write, which never comes (our writer owns the write
/// direction), so our writer sends it instead.
/// </summary>
internal sealed class RtspsTlsProtocol : TlsServerProtocol
{
    private volatile bool _keyUpdateRequested;

    /// <summary>True once since the last call when the client asked for our KeyUpdate.</summary>
    public bool TakeKeyUpdateRequest()
    {
        if (!_keyUpdateRequested)
        {
            return false;
        }
        _keyUpdateRequested = false;
        return true;
    }

    protected override void Receive13KeyUpdate(MemoryStream buf)
    {
        var at = buf.Position;
        var request = buf.ReadByte();
        buf.Position = at;
        base.Receive13KeyUpdate(buf);
        if (request == KeyUpdateRequest.update_requested)
        {
            _keyUpdateRequested = true;
        }
    }
}
