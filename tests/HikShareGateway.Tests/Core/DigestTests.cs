using HikShareGateway.Core.Protocols;

namespace HikShareGateway.Tests.Core;

/// <summary>Core's one Digest implementation against the RFC 7616 §3.9.1 and RFC 2617 §3.5 examples, both sides.</summary>
[Trait("Category", "Unit")]
public sealed class DigestTests
{
    // RFC 7616 §3.9.1: the same request answered with MD5 and with SHA-256.
    private const string Realm = "http-auth@example.org";
    private const string Nonce = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
    private const string Cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
    private const string Opaque = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS";
    private const string Md5Response = "8ca523f5e9506fed4657c9700eebdbec";
    private const string Sha256Response = "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1";

    private static string Rfc7616Authorization(string algorithm, string response) =>
        $"Digest username=\"Mufasa\", realm=\"{Realm}\", uri=\"/dir/index.html\", algorithm={algorithm}, nonce=\"{Nonce}\", nc=00000001, " +
        $"cnonce=\"{Cnonce}\", qop=auth, response=\"{response}\", opaque=\"{Opaque}\"";

    private static Dictionary<string, string> Fields(string authorization)
    {
        Assert.StartsWith("Digest ", authorization);
        return AuthParameters.Parse(authorization["Digest ".Length..]);
    }

    [Theory]
    [InlineData("MD5", Md5Response)]
    [InlineData("SHA-256", Sha256Response)]
    public void Client_Rfc7616Example_GivesTheRfcResponse(string algorithm, string expected)
    {
        var header = Digest.Authorization("Mufasa", "Circle of Life", Realm, Nonce, Opaque, "auth, auth-int", algorithm, "GET", "/dir/index.html", 1, Cnonce);

        var f = Fields(header);
        Assert.Equal(expected, f["response"]);
        Assert.Equal(algorithm, f["algorithm"]);
        Assert.Equal("auth", f["qop"]);
        Assert.Equal("00000001", f["nc"]);
        Assert.Equal(Cnonce, f["cnonce"]);
        Assert.Equal(Opaque, f["opaque"]);
        Assert.Equal("/dir/index.html", f["uri"]);
    }

    [Theory]
    [InlineData("MD5", Md5Response)]
    [InlineData("SHA-256", Sha256Response)]
    public void Server_Rfc7616Example_VerifiesWithTheStoredHa1_AndRefusesAWrongPassword(string algorithm, string response)
    {
        Assert.True(Digest.TryParseCredentials(Rfc7616Authorization(algorithm, response), out var c));
        Assert.Equal("Mufasa", c!.Username);
        Assert.Equal(Realm, c.Realm);
        Assert.Equal(Nonce, c.Nonce);
        Assert.Equal("00000001", c.Nc);
        Assert.Equal(Opaque, c.Opaque);

        Assert.True(Digest.Verify(c, "GET", Digest.Ha1(c.Algorithm, "Mufasa", Realm, "Circle of Life")));
        Assert.False(Digest.Verify(c, "GET", Digest.Ha1(c.Algorithm, "Mufasa", Realm, "Circle Of Life")));
        Assert.False(Digest.Verify(c, "POST", Digest.Ha1(c.Algorithm, "Mufasa", Realm, "Circle of Life")));
        // The other algorithm's HA1 never verifies.
        var other = c.Algorithm == DigestAlgorithm.Md5 ? DigestAlgorithm.Sha256 : DigestAlgorithm.Md5;
        Assert.False(Digest.Verify(c, "GET", Digest.Ha1(other, "Mufasa", Realm, "Circle of Life")));
    }

    [Fact]
    public void Client_Rfc2617Example_GivesTheRfcResponse_WithoutEchoingAnAbsentAlgorithm()
    {
        var header = Digest.Authorization("Mufasa", "Circle Of Life", "testrealm@host.com", "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            "5ccc069c403ebaf9f0171e9517f40e41", "auth,auth-int", null, "GET", "/dir/index.html", 1, "0a4f113b");

        var f = Fields(header);
        Assert.Equal("6629fae49393a05397450978507c4ef1", f["response"]);
        Assert.False(f.ContainsKey("algorithm"));
    }

    [Fact]
    public void Client_NoQopOffered_UsesTheRfc2069Form_WithoutNcOrCnonce()
    {
        var f = Fields(Digest.Authorization("Mufasa", "Circle Of Life", "testrealm@host.com", "dcd98b7102dd2f0e8b11d0f600bfb0c093", null, null, null,
            "GET", "/dir/index.html", 1, "0a4f113b"));

        Assert.Equal("670fd8c2df070c60b045671b8b24ff02", f["response"]);
        Assert.False(f.ContainsKey("qop"));
        Assert.False(f.ContainsKey("nc"));
        Assert.False(f.ContainsKey("cnonce"));
    }

    [Fact]
    public void Client_QuotesAndBackslashesInValues_AreEscaped_AndReadBackUnchanged()
    {
        const string user = "a\"b\\c";
        const string realm = "r \"x\"";
        var header = Digest.Authorization(user, "p", realm, "n", "o\"", "auth", "SHA-256", "DESCRIBE", "rtsp://h/x", 3, "cn");

        Assert.Contains("username=\"a\\\"b\\\\c\"", header);
        var f = Fields(header);
        Assert.Equal(user, f["username"]);
        Assert.Equal(realm, f["realm"]);
        Assert.Equal("o\"", f["opaque"]);
        // What the client sends, the server side verifies (the hash is over the unescaped values).
        Assert.True(Digest.TryParseCredentials(header, out var c));
        Assert.True(Digest.Verify(c!, "DESCRIBE", Digest.Ha1(DigestAlgorithm.Sha256, user, realm, "p")));
    }

    [Theory]
    [InlineData(DigestAlgorithm.Md5Sess)]
    [InlineData(DigestAlgorithm.Sha256Sess)]
    public void SessVariants_RoundTrip_AndDifferFromThePlainAlgorithm(DigestAlgorithm algorithm)
    {
        var header = Digest.Authorization("u", "p", "r", "n", null, "auth", Digest.Name(algorithm), "GET", "/", 1, "cn");
        Assert.True(Digest.TryParseCredentials(header, out var c));
        Assert.Equal(algorithm, c!.Algorithm);
        Assert.True(Digest.Verify(c, "GET", Digest.Ha1(algorithm, "u", "r", "p")));
        var plain = Digest.Authorization("u", "p", "r", "n", null, "auth", algorithm == DigestAlgorithm.Md5Sess ? "MD5" : "SHA-256", "GET", "/", 1, "cn");
        Assert.NotEqual(Fields(plain)["response"], c.Response);
    }

    [Fact]
    public void Challenge_ForTheGateway_OffersQopAuth_AndParsesBack()
    {
        var challenge = Digest.Challenge("HikShareGateway", "abc123", DigestAlgorithm.Sha256, opaque: "op", stale: true);

        Assert.StartsWith("Digest ", challenge);
        var f = Fields(challenge);
        Assert.Equal("HikShareGateway", f["realm"]);
        Assert.Equal("auth", f["qop"]);
        Assert.Equal("SHA-256", f["algorithm"]);
        Assert.Equal("abc123", f["nonce"]);
        Assert.Equal("op", f["opaque"]);
        Assert.Equal("true", f["stale"]);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("Basic dXNlcjpwYXNz")]
    [InlineData("Digestusername=\"u\"")]
    [InlineData("Digest realm=\"r\", nonce=\"n\", uri=\"/\", response=\"x\"")] // no username
    [InlineData("Digest username=\"u\", realm=\"r\", nonce=\"n\", uri=\"/\", response=\"x\", algorithm=SHA-512")]
    [InlineData("Digest username=\"u\", realm=\"r\", nonce=\"n\", uri=\"/\", response=\"x\", qop=auth-int, nc=00000001, cnonce=\"c\"")]
    [InlineData("Digest username=\"u\", realm=\"r\", nonce=\"n\", uri=\"/\", response=\"x\", qop=auth, nc=1, cnonce=\"c\"")]
    [InlineData("Digest username=\"u\", realm=\"r\", nonce=\"n\", uri=\"/\", response=\"x\", qop=auth, nc=0000000g, cnonce=\"c\"")]
    [InlineData("Digest username=\"u\", realm=\"r\", nonce=\"n\", uri=\"/\", response=\"x\", qop=auth, nc=00000001")]
    [InlineData("Digest username=\"u\", realm=\"r\", nonce=\"n\", uri=\"/\", response=\"x\", algorithm=MD5-sess")] // -sess without cnonce
    public void TryParseCredentials_NotDigestOrIncomplete_IsRefused(string? header)
    {
        Assert.False(Digest.TryParseCredentials(header, out var c));
        Assert.Null(c);
    }

    [Fact]
    public void TryParseCredentials_EveryPrefixOfAValidHeader_NeverThrows_AndOnlyCompleteOnesVerify()
    {
        var full = Rfc7616Authorization("SHA-256", Sha256Response);
        var ha1 = Digest.Ha1(DigestAlgorithm.Sha256, "Mufasa", Realm, "Circle of Life");
        var verified = 0;
        for (var i = 0; i <= full.Length; i++)
        {
            if (Digest.TryParseCredentials(full[..i], out var c) && Digest.Verify(c!, "GET", ha1))
            {
                verified++;
            }
        }
        // Only prefixes that hold the whole response value verify (opaque, after it, is not hashed).
        var responseEnd = full.IndexOf(Sha256Response, StringComparison.Ordinal) + Sha256Response.Length;
        Assert.Equal(full.Length - responseEnd + 1, verified);
    }

    [Theory]
    [InlineData(null, DigestAlgorithm.Md5)]
    [InlineData("md5", DigestAlgorithm.Md5)]
    [InlineData("MD5-SESS", DigestAlgorithm.Md5Sess)]
    [InlineData("sha-256", DigestAlgorithm.Sha256)]
    [InlineData("SHA-256-sess", DigestAlgorithm.Sha256Sess)]
    public void TryParseAlgorithm_KnownTokens_CaseInsensitive(string? token, DigestAlgorithm expected)
    {
        Assert.True(Digest.TryParseAlgorithm(token, out var a));
        Assert.Equal(expected, a);
        Assert.False(Digest.TryParseAlgorithm("SHA-512-256", out _));
    }
}
