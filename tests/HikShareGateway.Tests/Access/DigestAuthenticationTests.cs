using System.Net;
using HikShareGateway.Access;
using HikShareGateway.Access.Credentials;
using HikShareGateway.Access.Tokens;
using HikShareGateway.Core.Access;
using HikShareGateway.Core.Protocols;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using static HikShareGateway.Tests.Access.AccessTestKit;

namespace HikShareGateway.Tests.Access;

/// <summary>Contract §4.1: the authenticator verifies a Digest answer against the stored HA1 of an RTSP credential.</summary>
[Trait("Category", "Unit")]
public sealed class DigestAuthenticationTests
{
    private static readonly IPAddress Remote = IPAddress.Parse("127.0.0.5");
    private readonly FakeTimeProvider _time = new(DateTimeOffset.Parse("2026-11-25T10:00:00Z"));
    private readonly RtspCredentialStore _store;
    private readonly ViewerAuthenticator _auth;
    private readonly IssuedRtspCredential _bob;

    public DigestAuthenticationTests()
    {
        _store = new RtspCredentialStore(null, _time);
        _auth = new ViewerAuthenticator(Keys, GatewayId, new AccessOptions(), _time, NullLogger<ViewerAuthenticator>.Instance, credentials: _store);
        _store.TryIssue(Bob, _time.GetUtcNow().AddHours(1), TimeSpan.FromMinutes(30), out var issued);
        _bob = issued!;
    }

    private static ViewerCredentials Answer(string user, string password, DigestAlgorithm algorithm, string? qop = "auth", string realm = RtspCredentialStore.Realm, string method = "DESCRIBE")
    {
        var header = Digest.Authorization(user, password, realm, "nonce-1", null, qop, Digest.Name(algorithm), method, "rtsp://gw/live/x/1/main", 1, "cn-1");
        Assert.True(Digest.TryParseCredentials(header, out var digest));
        return new ViewerCredentials(null, null, null, null, digest, method);
    }

    [Theory]
    [InlineData(DigestAlgorithm.Md5, "auth")]
    [InlineData(DigestAlgorithm.Md5, null)]
    [InlineData(DigestAlgorithm.Sha256, "auth")]
    [InlineData(DigestAlgorithm.Md5Sess, "auth")]
    [InlineData(DigestAlgorithm.Sha256Sess, "auth")]
    public void IssuedCredential_AsDigest_IsTheAccount(DigestAlgorithm algorithm, string? qop)
    {
        var r = _auth.Authenticate(Answer(Bob, _bob.Password, algorithm, qop), Remote);
        Assert.Equal(AuthStatus.Ok, r.Status);
        Assert.Equal(Bob, r.Account);
        Assert.Equal(_bob.Info.ExpiresAt, r.ExpiresAt);
    }

    [Fact]
    public void WrongPassword_OrAnotherAccountsUser_Invalid()
    {
        var wrong = _bob.Password[..23] + (_bob.Password[23] == 'a' ? 'b' : 'a');
        Assert.Equal(AuthStatus.Invalid, _auth.Authenticate(Answer(Bob, wrong, DigestAlgorithm.Md5), Remote).Status);
        Assert.Equal(AuthStatus.Invalid, _auth.Authenticate(Answer(Carol, _bob.Password, DigestAlgorithm.Md5), Remote).Status);
    }

    [Fact]
    public void AnswerForAnotherMethod_Invalid()
    {
        var answer = Answer(Bob, _bob.Password, DigestAlgorithm.Sha256, method: "DESCRIBE") with { DigestMethod = "PLAY" };
        Assert.Equal(AuthStatus.Invalid, _auth.Authenticate(answer, Remote).Status);
    }

    [Fact]
    public void ExpiredOrRevokedCredential_Invalid()
    {
        Assert.True(_store.Revoke(Bob, _bob.Info.Id));
        Assert.Equal(AuthStatus.Invalid, _auth.Authenticate(Answer(Bob, _bob.Password, DigestAlgorithm.Md5), Remote).Status);

        _store.TryIssue(Bob, _time.GetUtcNow().AddHours(1), TimeSpan.FromMinutes(1), out var shortLived);
        _time.Advance(TimeSpan.FromMinutes(2));
        Assert.Equal(AuthStatus.Invalid, _auth.Authenticate(Answer(Bob, shortLived!.Password, DigestAlgorithm.Md5), Remote).Status);
    }

    [Fact]
    public void WithoutACredentialStore_DigestIsNeverAccepted()
    {
        var tokensOnly = new ViewerAuthenticator(Keys, GatewayId, new AccessOptions(), _time, NullLogger<ViewerAuthenticator>.Instance);
        Assert.Equal(AuthStatus.Invalid, tokensOnly.Authenticate(Answer(Bob, _bob.Password, DigestAlgorithm.Md5), Remote).Status);
    }

    [Fact]
    public void DigestCredentials_AreNotEmpty()
    {
        Assert.False(Answer(Bob, _bob.Password, DigestAlgorithm.Md5).IsEmpty);
    }
}
