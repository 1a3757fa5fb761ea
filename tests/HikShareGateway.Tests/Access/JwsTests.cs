using System.Text;
using HikShareGateway.Access.Jose;
using static HikShareGateway.Tests.Access.AccessTestKit;

namespace HikShareGateway.Tests.Access;

[Trait("Category", "Unit")]
public class JwsTests
{
    private static readonly byte[] Payload = Encoding.UTF8.GetBytes("{\"hello\":\"world\"}");

    [Fact]
    public void Verify_SignedWithTrustedKey_ReturnsPayload()
    {
        var jws = Encoding.ASCII.GetBytes(Jws.Sign(Payload, Key));
        Assert.Equal(JwsError.None, Jws.TryVerify(jws, Keys, 1 << 20, out var payload, out var kid));
        Assert.Equal(Payload, payload);
        Assert.Equal("cloud-1", kid);
    }

    [Fact]
    public void Verify_Rfc8037AppendixA4Vector_Verifies()
    {
        // RFC 8037 Appendix A.4: the example JWS over "Example of Ed25519 signing" with the A.2 public key.
        var key = new Ed25519PublicJwk("rfc", Convert.FromHexString("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"));
        var set = new TrustedKeySet([key]);
        // The A.4 header is {"alg":"EdDSA"} (no kid); check the signature with the key directly.
        var a4 = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";
        var ok = Ed25519Check(key, a4);
        Assert.True(ok);
        // Without a kid the gateway refuses it (it cannot know which trusted key was meant).
        Assert.Equal(JwsError.UnknownKey, Jws.TryVerify(Encoding.ASCII.GetBytes(a4), set, 4096, out _, out _));
    }

    private static bool Ed25519Check(Ed25519PublicJwk key, string compact)
    {
        var last = compact.LastIndexOf('.');
        var input = Encoding.ASCII.GetBytes(compact[..last]);
        Assert.True(Base64UrlStrict.TryDecode(compact[(last + 1)..], out var sig));
        return key.Verify(input, input.Length, sig);
    }

    [Fact]
    public void Verify_ForgedSignature_IsBadSignature()
    {
        var jws = Jws.Sign(Payload, Stranger); // same kid "cloud-1", other key
        Assert.Equal(JwsError.BadSignature, Jws.TryVerify(Encoding.ASCII.GetBytes(jws), Keys, 1 << 20, out _, out _));
    }

    [Fact]
    public void Verify_TamperedPayload_IsBadSignature()
    {
        var parts = Jws.Sign(Payload, Key).Split('.');
        parts[1] = Base64UrlStrict.Encode("{\"hello\":\"mallory\"}"u8);
        Assert.Equal(JwsError.BadSignature, Jws.TryVerify(Encoding.ASCII.GetBytes(string.Join('.', parts)), Keys, 1 << 20, out _, out _));
    }

    [Fact]
    public void Verify_UnknownKid_IsUnknownKey()
    {
        var jws = Jws.Sign(Payload, OtherKey);
        Assert.Equal(JwsError.UnknownKey, Jws.TryVerify(Encoding.ASCII.GetBytes(jws), Keys, 1 << 20, out _, out _));
    }

    [Fact]
    public void Verify_SeveralTrustedKeys_AcceptsEach()
    {
        var both = new TrustedKeySet([Key.Public, OtherKey.Public]);
        Assert.Equal(JwsError.None, Jws.TryVerify(Encoding.ASCII.GetBytes(Jws.Sign(Payload, Key)), both, 1 << 20, out _, out _));
        Assert.Equal(JwsError.None, Jws.TryVerify(Encoding.ASCII.GetBytes(Jws.Sign(Payload, OtherKey)), both, 1 << 20, out _, out _));
    }

    [Theory]
    [InlineData("{\"alg\":\"none\",\"kid\":\"cloud-1\"}")]
    [InlineData("{\"alg\":\"HS256\",\"kid\":\"cloud-1\"}")]
    [InlineData("{\"alg\":\"ES256\",\"kid\":\"cloud-1\"}")]
    [InlineData("{\"alg\":\"eddsa\",\"kid\":\"cloud-1\"}")]
    [InlineData("{\"kid\":\"cloud-1\"}")]
    public void Verify_AlgOtherThanEdDsa_IsUnsupportedAlgorithm(string header)
    {
        Assert.Equal(JwsError.UnsupportedAlgorithm, Jws.TryVerify(SignWithHeader(header, Payload), Keys, 1 << 20, out _, out _));
    }

    [Fact]
    public void Verify_TypMemberIsIgnored()
    {
        Assert.Equal(JwsError.None, Jws.TryVerify(SignWithHeader("{\"alg\":\"EdDSA\",\"kid\":\"cloud-1\",\"typ\":\"whatever\"}", Payload), Keys, 1 << 20, out _, out _));
    }

    [Fact]
    public void Verify_UnsignedJws_IsRejected()
    {
        var unsigned = Base64UrlStrict.Encode("{\"alg\":\"none\"}"u8) + "." + Base64UrlStrict.Encode(Payload) + ".";
        Assert.NotEqual(JwsError.None, Jws.TryVerify(Encoding.ASCII.GetBytes(unsigned), Keys, 1 << 20, out _, out _));
    }

    [Theory]
    [InlineData("")]
    [InlineData("abc")]
    [InlineData("a.b")]
    [InlineData("a.b.c.d.e")]
    [InlineData("!!!.eyJ9.AAAA")]
    [InlineData("eyJhbGciOiJFZERTQSJ9.eyJ9.AAAA=")]
    [InlineData("eyJhbGciOiJFZERTQSJ9.eyJ 9.AAAA")]
    [InlineData("bm90IGpzb24.eyJ9.AAAA")] // header "not json"
    [InlineData("WzFd.eyJ9.AAAA")]       // header is an array
    public void Verify_Malformed_IsMalformed(string compact)
    {
        Assert.Equal(JwsError.Malformed, Jws.TryVerify(Encoding.ASCII.GetBytes(compact), Keys, 1 << 20, out _, out _));
    }

    [Fact]
    public void Verify_PaddedSignature_IsMalformed()
    {
        var jws = Jws.Sign(Payload, Key) + "==";
        Assert.Equal(JwsError.Malformed, Jws.TryVerify(Encoding.ASCII.GetBytes(jws), Keys, 1 << 20, out _, out _));
    }

    [Fact]
    public void Verify_OverLimit_IsTooLarge()
    {
        var jws = Encoding.ASCII.GetBytes(Jws.Sign(new byte[5000], Key));
        Assert.Equal(JwsError.TooLarge, Jws.TryVerify(jws, Keys, 4096, out _, out _));
    }

    [Fact]
    public void Jwk_RoundTripsAndRejectsBadMembers()
    {
        Assert.True(Ed25519PublicJwk.TryParse(Key.Public.ToJson(), out var jwk, out _));
        Assert.Equal(Key.Public.PublicKey, jwk!.PublicKey);
        Assert.False(Ed25519PublicJwk.TryCreate("k", "EC", "Ed25519", Base64UrlStrict.Encode(new byte[32]), out _, out var e1));
        Assert.Contains("kty", e1);
        Assert.False(Ed25519PublicJwk.TryCreate("k", "OKP", "X25519", Base64UrlStrict.Encode(new byte[32]), out _, out var e2));
        Assert.Contains("crv", e2);
        Assert.False(Ed25519PublicJwk.TryCreate("k", "OKP", "Ed25519", Base64UrlStrict.Encode(new byte[31]), out _, out var e3));
        Assert.Contains("32", e3);
        Assert.False(Ed25519PublicJwk.TryCreate(null, "OKP", "Ed25519", Base64UrlStrict.Encode(new byte[32]), out _, out var e4));
        Assert.Contains("kid", e4);
        Assert.True(Ed25519SigningKey.TryParsePrivate(Key.ToPrivateJson(), out var back, out _));
        Assert.Equal(Key.Public.PublicKey, back!.Public.PublicKey);
    }
}

[Trait("Category", "Unit")]
public class JwsInvalidUtf8Tests
{
    [Fact]
    public void Verify_HeaderWithInvalidUtf8InAString_IsMalformedNotAnException()
    {
        var header = Base64UrlStrict.Encode([.. "{\"alg\":\"Ed"u8, 0xA4, .. "DSA\"}"u8]);
        var jws = header + ".eyJ9.AAAA";
        Assert.Equal(JwsError.Malformed, Jws.TryVerify(Encoding.ASCII.GetBytes(jws), AccessTestKit.Keys, 4096, out _, out _));
    }
}

[Trait("Category", "Unit")]
public sealed class ReasonSpellingTests
{
    [Theory]
    [InlineData(JwsError.Malformed, HikShareGateway.Access.Tokens.TokenError.Malformed)]
    [InlineData(JwsError.UnsupportedAlgorithm, HikShareGateway.Access.Tokens.TokenError.UnsupportedAlgorithm)]
    [InlineData(JwsError.UnknownKey, HikShareGateway.Access.Tokens.TokenError.UnknownKey)]
    [InlineData(JwsError.BadSignature, HikShareGateway.Access.Tokens.TokenError.BadSignature)]
    [InlineData(JwsError.TooLarge, HikShareGateway.Access.Tokens.TokenError.TooLarge)]
    public void TokenAndGrantFailures_OfTheSameCause_HaveOneSpelling(JwsError jws, HikShareGateway.Access.Tokens.TokenError token)
    {
        // The metric label {reason} must not split one cause in two ("unknown-kid" vs "unknown kid").
        Assert.Equal(jws.ReasonName(), HikShareGateway.Access.Tokens.ViewerTokens.ReasonName(token));
    }

    [Fact]
    public void EveryReason_IsKebabCase_SoMetricLabelsAgree()
    {
        var names = Enum.GetValues<JwsError>().Select(e => e.ReasonName())
            .Concat(Enum.GetValues<HikShareGateway.Access.Tokens.TokenError>().Select(HikShareGateway.Access.Tokens.ViewerTokens.ReasonName));
        Assert.All(names, n => Assert.Matches("^[a-z]+(-[a-z]+)*$", n));
    }
}
