using System.Text;
using HikShareGateway.Rtsp.Protocol;
using static HikShareGateway.Tests.Rtsp.Protocol.RtspTestKit;

namespace HikShareGateway.Tests.Rtsp.Protocol;

[Trait("Category", "Unit")]
public sealed class RtspAuthTests
{
    // RFC 2617 §3.5.
    private const string Rfc2617Challenge =
        "Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"";

    private static Dictionary<string, string> DigestFields(string authorization)
    {
        Assert.StartsWith("Digest ", authorization);
        return RtspAuth.ParseParameters(authorization["Digest ".Length..]);
    }

    [Fact]
    public void ParseChallenge_Rfc2617Example_AllFields()
    {
        var c = RtspAuth.ParseChallenge(Rfc2617Challenge)!;

        Assert.True(c.IsDigest);
        Assert.False(c.IsBasic);
        Assert.Equal("testrealm@host.com", c.Realm);
        Assert.Equal("dcd98b7102dd2f0e8b11d0f600bfb0c093", c.Nonce);
        Assert.Equal("5ccc069c403ebaf9f0171e9517f40e41", c.Opaque);
        Assert.Equal("auth,auth-int", c.Qop);
        Assert.Null(c.Algorithm);
    }

    [Fact]
    public void Authorization_Rfc2617Example_GivesTheRfcResponse()
    {
        var c = RtspAuth.ParseChallenge(Rfc2617Challenge)!;

        var header = RtspAuth.Authorization(c, "Mufasa", "Circle Of Life", "GET", "/dir/index.html", nc: 1, cnonce: "0a4f113b");

        var f = DigestFields(header);
        Assert.Equal("6629fae49393a05397450978507c4ef1", f["response"]);
        Assert.Equal("Mufasa", f["username"]);
        Assert.Equal("testrealm@host.com", f["realm"]);
        Assert.Equal("dcd98b7102dd2f0e8b11d0f600bfb0c093", f["nonce"]);
        Assert.Equal("/dir/index.html", f["uri"]);
        Assert.Equal("auth", f["qop"]);
        Assert.Equal("00000001", f["nc"]);
        Assert.Equal("0a4f113b", f["cnonce"]);
        Assert.Equal("5ccc069c403ebaf9f0171e9517f40e41", f["opaque"]);
        Assert.False(f.ContainsKey("algorithm"));
    }

    [Fact]
    public void Authorization_NonceCount_IsEightHexDigits()
    {
        var c = RtspAuth.ParseChallenge(Rfc2617Challenge)!;

        var f = DigestFields(RtspAuth.Authorization(c, "Mufasa", "Circle Of Life", "GET", "/dir/index.html", nc: 26, cnonce: "0a4f113b"));

        Assert.Equal("0000001a", f["nc"]);
        Assert.NotEqual("6629fae49393a05397450978507c4ef1", f["response"]);
    }

    [Fact]
    public void Authorization_QopWithoutCnonce_GeneratesOne()
    {
        var c = RtspAuth.ParseChallenge(Rfc2617Challenge)!;

        var f = DigestFields(RtspAuth.Authorization(c, "Mufasa", "Circle Of Life", "GET", "/dir/index.html"));

        Assert.Matches("^[0-9a-f]{16}$", f["cnonce"]);
    }

    [Fact]
    public void Authorization_NoQop_IsMd5OfHa1NonceHa2()
    {
        // Same credentials as RFC 2617 §3.5, challenge without qop: response = MD5(HA1:nonce:HA2) (RFC 2069 form).
        var c = RtspAuth.ParseChallenge("Digest realm=\"testrealm@host.com\", nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\"")!;

        var f = DigestFields(RtspAuth.Authorization(c, "Mufasa", "Circle Of Life", "GET", "/dir/index.html"));

        Assert.Equal("670fd8c2df070c60b045671b8b24ff02", f["response"]);
        Assert.False(f.ContainsKey("qop"));
        Assert.False(f.ContainsKey("nc"));
        Assert.False(f.ContainsKey("cnonce"));
        Assert.False(f.ContainsKey("opaque"));
    }

    [Fact]
    public void Authorization_LongseChallengeFromFixture_DescribeResponse()
    {
        var challenge = Read(Fixture("longse_unauthorized.txt")).Message!.Headers.GetAll("WWW-Authenticate");
        var c = RtspAuth.Choose(challenge)!;

        var f = DigestFields(RtspAuth.Authorization(c, "admin", "12345", "DESCRIBE", "rtsp://192.168.1.10:554/"));

        Assert.Equal("Surveillance Server", c.Realm);
        Assert.Equal("98481030", c.Nonce);
        Assert.Equal("16724ba6bdeef3da049b05c92b631024", f["response"]);
    }

    [Fact]
    public void Authorization_AlgorithmMd5_IsEchoed()
    {
        var c = RtspAuth.ParseChallenge("Digest realm=\"r\", nonce=\"n\", algorithm=MD5")!;

        Assert.Equal("MD5", DigestFields(RtspAuth.Authorization(c, "u", "p", "DESCRIBE", "rtsp://h/"))["algorithm"]);
    }

    [Fact]
    public void Choose_DigestAndBasic_PrefersDigestWhicheverComesFirst()
    {
        string[] headers = ["Basic realm=\"IP Camera(C1234)\"", "Digest realm=\"IP Camera(C1234)\", nonce=\"abc\", stale=\"FALSE\""];

        Assert.True(RtspAuth.Choose(headers)!.IsDigest);
        Assert.True(RtspAuth.Choose(Enumerable.Reverse(headers))!.IsDigest);
    }

    [Fact]
    public void Choose_OnlyBasic_OlderHikvision_GivesBasicAndItsAuthorization()
    {
        var c = RtspAuth.Choose(["Basic realm=\"IP Camera(C1234)\""])!;

        Assert.True(c.IsBasic);
        Assert.Equal("IP Camera(C1234)", c.Realm);
        Assert.Equal("Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("admin:12345")), RtspAuth.Authorization(c, "admin", "12345", "DESCRIBE", "rtsp://h/"));
    }

    [Fact]
    public void Choose_DigestWithUnsupportedAlgorithmOrNoNonce_FallsBackToBasic()
    {
        var c = RtspAuth.Choose(["Digest realm=\"r\", nonce=\"n\", algorithm=SHA-256", "Digest realm=\"r\"", "Basic realm=\"r\""]);

        Assert.True(c!.IsBasic);
    }

    [Fact]
    public void Choose_NothingUsable_IsNull()
    {
        Assert.Null(RtspAuth.Choose([]));
        Assert.Null(RtspAuth.Choose(["Negotiate abc", "", "Digest realm=\"r\""]));
    }

    [Fact]
    public void Choose_LowerCaseSchemeAndAlgorithm_AreAccepted()
    {
        var c = RtspAuth.Choose(["digest realm=\"r\", nonce=\"n\", algorithm=md5"]);

        Assert.True(c!.IsDigest);
    }

    [Fact]
    public void ParseChallenge_Empty_IsNull()
    {
        Assert.Null(RtspAuth.ParseChallenge(""));
        Assert.Null(RtspAuth.ParseChallenge("   "));
    }

    [Fact]
    public void ParseParameters_QuotedCommasUnquotedValuesAndSpaces()
    {
        var p = RtspAuth.ParseParameters("realm=\"a, b\",nonce=abc==, qop = \"auth\" ,  stale=TRUE,opaque=\"\"");

        Assert.Equal("a, b", p["realm"]);
        Assert.Equal("abc==", p["nonce"]);
        Assert.Equal("auth", p["qop"]);
        Assert.Equal("TRUE", p["STALE"]);
        Assert.Equal("", p["opaque"]);
    }

    [Fact]
    public void ParseParameters_UnterminatedQuote_TakesTheRest()
    {
        var p = RtspAuth.ParseParameters("realm=\"abc, nonce=x");

        Assert.Equal("abc, nonce=x", p["realm"]);
    }

    private static string Basic(string userColonPassword) => "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes(userColonPassword));

    [Fact]
    public void TryParseBasic_PercentEncodedUser_IsDecoded()
    {
        Assert.True(RtspAuth.TryParseBasic(Basic("bob%40example.com:s3cret"), out var user, out var password));

        Assert.Equal("bob@example.com", user);
        Assert.Equal("s3cret", password);
    }

    [Fact]
    public void TryParseBasic_PasswordWithColons_SplitsAtTheFirst()
    {
        Assert.True(RtspAuth.TryParseBasic(Basic("admin:a:b:c"), out var user, out var password));

        Assert.Equal("admin", user);
        Assert.Equal("a:b:c", password);
    }

    [Fact]
    public void TryParseBasic_EmptyPasswordAndLowerCaseScheme_Accepted()
    {
        Assert.True(RtspAuth.TryParseBasic("basic " + Convert.ToBase64String("viewer:"u8.ToArray()), out var user, out var password));

        Assert.Equal("viewer", user);
        Assert.Equal("", password);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("Basic")]
    [InlineData("Basic ")]
    [InlineData("Basic !!!not-base64!!!")]
    [InlineData("Basic YWJj")] // "abc": no colon
    [InlineData("Bearer YWRtaW46MTIzNDU=")]
    [InlineData("Digest username=\"admin\"")]
    public void TryParseBasic_Invalid_IsFalseWithEmptyOutputs(string? header)
    {
        Assert.False(RtspAuth.TryParseBasic(header, out var user, out var password));

        Assert.Equal("", user);
        Assert.Equal("", password);
    }

    [Theory]
    [InlineData("Bearer abc.def.ghi", "abc.def.ghi")]
    [InlineData("bearer abc.def.ghi  ", "abc.def.ghi")]
    [InlineData("Basic YWJj", null)]
    [InlineData("Bearerabc", null)]
    [InlineData(null, null)]
    public void TryParseBearer_TokenOrNull(string? header, string? token)
    {
        Assert.Equal(token, RtspAuth.TryParseBearer(header));
    }
}
