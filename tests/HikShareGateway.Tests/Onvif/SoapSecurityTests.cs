using HikShareGateway.Onvif.Soap;

namespace HikShareGateway.Tests.Onvif;

[Trait("Category", "Unit")]
public sealed class SoapSecurityTests
{
    [Fact]
    public void UsernameTokenDigest_IsBase64Sha1OfNonceCreatedPassword()
    {
        // Vector computed independently (Python hashlib) for nonce 00..0f.
        var nonce = Enumerable.Range(0, 16).Select(i => (byte)i).ToArray();
        Assert.Equal("dVqmLi7WAL+3rxFONs3FIWI/V6Y=", UsernameToken.Digest(nonce, "2026-11-25T10:00:00.000Z", "Secr3t!pass"));
    }

    [Fact]
    public void UsernameTokenHeader_CarriesDigestNonceAndCreatedOnDeviceClock()
    {
        var nonce = Enumerable.Range(0, 16).Select(i => (byte)i).ToArray();
        var h = UsernameToken.Header("admin", "Secr3t!pass", nonce, new DateTimeOffset(2026, 11, 25, 10, 0, 0, TimeSpan.Zero));
        var token = h.Element(Ns.Wsse + "UsernameToken")!;
        Assert.Equal("admin", token.Element(Ns.Wsse + "Username")!.Value);
        Assert.Equal("dVqmLi7WAL+3rxFONs3FIWI/V6Y=", token.Element(Ns.Wsse + "Password")!.Value);
        Assert.Equal(Ns.PasswordDigestType, token.Element(Ns.Wsse + "Password")!.Attribute("Type")!.Value);
        Assert.Equal(Convert.ToBase64String(nonce), token.Element(Ns.Wsse + "Nonce")!.Value);
        Assert.Equal("2026-11-25T10:00:00.000Z", token.Element(Ns.Wsu + "Created")!.Value);
    }

    [Fact]
    public void HttpDigest_Rfc2617Example_GivesTheRfcResponse()
    {
        // RFC 2617 §3.5.
        Assert.True(DigestChallenge.TryParse("Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"", out var c));
        var header = HttpDigest.Authorization(c!, "GET", "/dir/index.html", "Mufasa", "Circle Of Life", "0a4f113b", 1);
        Assert.Contains("response=\"6629fae49393a05397450978507c4ef1\"", header);
        Assert.Contains("nc=00000001", header);
        Assert.Contains("opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"", header);
    }

    [Fact]
    public void DigestChallenge_NotDigestOrMissingNonce_IsRejected()
    {
        Assert.False(DigestChallenge.TryParse("Basic realm=\"IP Camera(C1234)\"", out _));
        Assert.False(DigestChallenge.TryParse("Digest realm=\"x\"", out _));
    }
}
