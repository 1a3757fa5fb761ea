using System.Net;
using System.Text;
using HikShareGateway.Access;
using HikShareGateway.Access.Jose;
using HikShareGateway.Access.Tokens;
using HikShareGateway.Core.Access;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using static HikShareGateway.Tests.Access.AccessTestKit;

namespace HikShareGateway.Tests.Access;

[Trait("Category", "Unit")]
public class ViewerAuthenticatorTests
{
    private static readonly IPAddress Remote = IPAddress.Parse("127.0.0.5");
    private readonly FakeTimeProvider _time = new(DateTimeOffset.Parse("2026-11-25T10:00:00Z"));

    private ViewerAuthenticator NewAuthenticator(int limit = 10)
        => new(Keys, GatewayId, new AccessOptions { AuthFailureLimit = limit, AuthFailureWindowSeconds = 60 }, _time, NullLogger<ViewerAuthenticator>.Instance);

    private string Token(string sub = Bob, string[]? aud = null, TimeSpan? ttl = null, Ed25519SigningKey? key = null)
        => ViewerTokens.Mint(key ?? Key, sub, aud ?? [GatewayId], ttl ?? TimeSpan.FromMinutes(5), _time.GetUtcNow());

    private string Claims(string json, Ed25519SigningKey? key = null) => Jws.Sign(Encoding.UTF8.GetBytes(json), key ?? Key);

    private long Now => _time.GetUtcNow().ToUnixTimeSeconds();

    [Fact]
    public void NoCredentials_IsNoCredentials()
    {
        var r = NewAuthenticator().Authenticate(new ViewerCredentials(null, null, null, null), Remote);
        Assert.Equal(AuthStatus.NoCredentials, r.Status);
    }

    [Fact]
    public void QueryToken_Valid_GivesNormalisedSub()
    {
        var r = NewAuthenticator().Authenticate(new ViewerCredentials(Token("Bob@Example.com"), null, null, null), Remote);
        Assert.Equal(AuthStatus.Ok, r.Status);
        Assert.Equal(Bob, r.Account);
    }

    [Fact]
    public void Bearer_Valid_IsOk()
    {
        var r = NewAuthenticator().Authenticate(new ViewerCredentials(null, null, null, Token()), Remote);
        Assert.Equal(AuthStatus.Ok, r.Status);
    }

    [Fact]
    public void Basic_UserEqualsSubAfterNormalisation_IsOk()
    {
        var auth = NewAuthenticator();
        Assert.Equal(AuthStatus.Ok, auth.Authenticate(new ViewerCredentials(null, "BOB@example.com", Token(), null), Remote).Status);
        Assert.Equal(AuthStatus.Ok, auth.Authenticate(new ViewerCredentials(null, "0086 189-6919-0000", Token(Carol), null), Remote).Status);
    }

    [Fact]
    public void Basic_UserDifferentFromSub_IsInvalid()
    {
        var r = NewAuthenticator().Authenticate(new ViewerCredentials(null, "carol@example.com", Token(), null), Remote);
        Assert.Equal(AuthStatus.Invalid, r.Status);
        Assert.Contains("sub", r.Reason);
    }

    [Fact]
    public void Basic_UserWithoutPassword_IsInvalid()
    {
        Assert.Equal(AuthStatus.Invalid, NewAuthenticator().Authenticate(new ViewerCredentials(null, Bob, null, null), Remote).Status);
    }

    [Fact]
    public void AudienceArrayContainingGateway_IsOk()
    {
        var r = NewAuthenticator().Authenticate(new ViewerCredentials(Token(aud: ["gw-a", GatewayId]), null, null, null), Remote);
        Assert.Equal(AuthStatus.Ok, r.Status);
    }

    [Theory]
    [InlineData("gw-other")]
    [InlineData("")]
    public void WrongAudience_IsInvalid(string aud)
    {
        var r = NewAuthenticator().Authenticate(new ViewerCredentials(Token(aud: [aud]), null, null, null), Remote);
        Assert.Equal(AuthStatus.Invalid, r.Status);
        Assert.Equal("wrong-audience", r.Reason);
    }

    [Fact]
    public void Expired_BeyondLeeway_IsInvalid_WithinLeeway_IsOk()
    {
        var auth = NewAuthenticator();
        var token = Token(ttl: TimeSpan.FromMinutes(1));
        _time.Advance(TimeSpan.FromMinutes(1) + TimeSpan.FromSeconds(59));
        Assert.Equal(AuthStatus.Ok, auth.Authenticate(new ViewerCredentials(token, null, null, null), Remote).Status);
        _time.Advance(TimeSpan.FromSeconds(1));
        var r = auth.Authenticate(new ViewerCredentials(token, null, null, null), Remote);
        Assert.Equal(AuthStatus.Invalid, r.Status);
        Assert.Equal("expired", r.Reason);
    }

    [Fact]
    public void NotYetValid_BeyondLeeway_IsInvalid()
    {
        var auth = NewAuthenticator();
        var early = Claims($"{{\"sub\":\"{Bob}\",\"aud\":\"{GatewayId}\",\"exp\":{Now + 3600},\"nbf\":{Now + 61}}}");
        var r = auth.Authenticate(new ViewerCredentials(early, null, null, null), Remote);
        Assert.Equal("not-yet-valid", r.Reason);
        var withinLeeway = Claims($"{{\"sub\":\"{Bob}\",\"aud\":\"{GatewayId}\",\"exp\":{Now + 3600},\"nbf\":{Now + 59}}}");
        Assert.Equal(AuthStatus.Ok, auth.Authenticate(new ViewerCredentials(withinLeeway, null, null, null), Remote).Status);
    }

    [Theory]
    [InlineData("{\"aud\":\"gw-test\",\"exp\":9999999999}", "missing-claim")]
    [InlineData("{\"sub\":\"bob@example.com\",\"exp\":9999999999}", "missing-claim")]
    [InlineData("{\"sub\":\"bob@example.com\",\"aud\":\"gw-test\"}", "missing-claim")]
    [InlineData("{\"sub\":\"bob@example.com\",\"aud\":\"gw-test\",\"exp\":\"soon\"}", "malformed")]
    [InlineData("{\"sub\":\"bob\",\"aud\":\"gw-test\",\"exp\":9999999999}", "bad-subject")]
    [InlineData("[1,2]", "malformed")]
    [InlineData("not json", "malformed")]
    public void BadClaims_AreInvalid(string claims, string reason)
    {
        var r = NewAuthenticator().Authenticate(new ViewerCredentials(Claims(claims), null, null, null), Remote);
        Assert.Equal(AuthStatus.Invalid, r.Status);
        Assert.Equal(reason, r.Reason);
    }

    [Fact]
    public void TamperedToken_IsInvalid()
    {
        var parts = Token().Split('.');
        parts[1] = Base64UrlStrict.Encode(Encoding.UTF8.GetBytes($"{{\"sub\":\"{Owner}\",\"aud\":\"{GatewayId}\",\"exp\":{Now + 600}}}"));
        var r = NewAuthenticator().Authenticate(new ViewerCredentials(string.Join('.', parts), null, null, null), Remote);
        Assert.Equal("bad-signature", r.Reason);
    }

    [Fact]
    public void UnknownKeyAndOtherAlg_AreInvalid()
    {
        var auth = NewAuthenticator();
        Assert.Equal("unknown-kid", auth.Authenticate(new ViewerCredentials(Token(key: OtherKey), null, null, null), Remote).Reason);
        var hs = Encoding.ASCII.GetString(SignWithHeader("{\"alg\":\"HS256\",\"kid\":\"cloud-1\"}", Encoding.UTF8.GetBytes($"{{\"sub\":\"{Bob}\",\"aud\":\"{GatewayId}\",\"exp\":{Now + 600}}}")));
        Assert.Equal("unsupported-alg", auth.Authenticate(new ViewerCredentials(hs, null, null, null), Remote).Reason);
        Assert.Equal("malformed", auth.Authenticate(new ViewerCredentials("garbage", null, null, null), Remote).Reason);
    }

    [Fact]
    public void RepeatedFailures_FromOneAddress_AreAnsweredRateLimited_ButAValidTokenFromItIsStillAccepted()
    {
        var auth = NewAuthenticator(limit: 3);
        var bad = new ViewerCredentials("garbage", null, null, null);
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(AuthStatus.Invalid, auth.Authenticate(bad, Remote).Status);
        }
        // Past the limit a failure says why ("too many"), but a valid token from the same address (a neighbour behind
        // the same NAT) is accepted: the limit never locks an honest viewer out.
        var limited = auth.Authenticate(bad, Remote);
        Assert.Equal(AuthStatus.RateLimited, limited.Status);
        Assert.Contains("too many failed authentications", limited.Reason);
        Assert.Equal(AuthStatus.Ok, auth.Authenticate(new ViewerCredentials(Token(), null, null, null), Remote).Status);
        Assert.Equal(AuthStatus.Invalid, auth.Authenticate(bad, IPAddress.Parse("127.0.0.6")).Status);
        _time.Advance(TimeSpan.FromSeconds(61));
        Assert.Equal(AuthStatus.Invalid, auth.Authenticate(bad, Remote).Status);
    }

    [Fact]
    public void RateLimit_CountsIPv4MappedIPv6AsTheSameAddress()
    {
        var auth = NewAuthenticator(limit: 2);
        var bad = new ViewerCredentials("garbage", null, null, null);
        auth.Authenticate(bad, Remote);
        auth.Authenticate(bad, Remote.MapToIPv6());
        Assert.Equal(AuthStatus.RateLimited, auth.Authenticate(bad, Remote).Status);
    }

    [Fact]
    public void FailureReason_NeverContainsTheToken()
    {
        var token = Token(aud: ["gw-other"]);
        var r = NewAuthenticator().Authenticate(new ViewerCredentials(token, null, null, null), Remote);
        Assert.DoesNotContain(token.Split('.')[2], r.Reason);
        Assert.DoesNotContain(token, r.ToString());
    }
}
