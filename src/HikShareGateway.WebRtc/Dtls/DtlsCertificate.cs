using System.Security.Cryptography;
using HikShareGateway.WebRtc.Sdp;
using Org.BouncyCastle.Asn1.Sec;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Generators;
using Org.BouncyCastle.Crypto.Operators;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Math;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.X509;

namespace HikShareGateway.WebRtc.Dtls;

/// <summary>
/// The gateway's DTLS identity: an ECDSA P-256 key and a self-signed certificate made at start (WebRTC
/// authenticates it by the SDP fingerprint, RFC 8827 §6.5, not by a CA). Browsers accept P-256 everywhere.
/// </summary>
public sealed class DtlsCertificate
{
    public AsymmetricKeyParameter PrivateKey { get; }
    public X509Certificate Certificate { get; }
    public byte[] Der { get; }
    /// <summary>The SHA-256 fingerprint we put in every answer.</summary>
    public SdpFingerprint Fingerprint { get; }

    private DtlsCertificate(AsymmetricKeyParameter privateKey, X509Certificate certificate)
    {
        PrivateKey = privateKey;
        Certificate = certificate;
        Der = certificate.GetEncoded();
        Fingerprint = new SdpFingerprint("sha-256", SHA256.HashData(Der));
    }

    public static DtlsCertificate Create(TimeProvider time, string commonName = "hikshare-gateway")
    {
        var random = new SecureRandom();
        var generator = new ECKeyPairGenerator();
        generator.Init(new ECKeyGenerationParameters(SecObjectIdentifiers.SecP256r1, random));
        var pair = generator.GenerateKeyPair();
        var now = time.GetUtcNow().UtcDateTime;
        var builder = new X509V3CertificateGenerator();
        builder.SetSerialNumber(new BigInteger(64, random).Add(BigInteger.One));
        var name = new X509Name("CN=" + commonName);
        builder.SetIssuerDN(name);
        builder.SetSubjectDN(name);
        // Browsers do not check validity for fingerprint-authenticated certificates; a day back covers clock skew.
        builder.SetNotBefore(now.AddDays(-1));
        builder.SetNotAfter(now.AddDays(30));
        builder.SetPublicKey(pair.Public);
        var certificate = builder.Generate(new Asn1SignatureFactory("SHA256WITHECDSA", pair.Private, random));
        return new DtlsCertificate(pair.Private, certificate);
    }

    /// <summary>The digest of a peer certificate under the SDP fingerprint's hash function (RFC 8122 §5).</summary>
    public static byte[]? Digest(string algorithm, ReadOnlySpan<byte> der) => algorithm switch
    {
        "sha-1" => SHA1.HashData(der),
        "sha-256" => SHA256.HashData(der),
        "sha-384" => SHA384.HashData(der),
        "sha-512" => SHA512.HashData(der),
        _ => null,
    };
}
