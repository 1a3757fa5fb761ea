using HikShareGateway.Rtsp.Server;

namespace HikShareGateway.Tests.Rtsp.Server;

/// <summary>Digest nonces bound to time and connection, checked without any state per nonce.</summary>
[Trait("Category", "Unit")]
public sealed class DigestNoncesTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 1, 10, 0, 0, TimeSpan.Zero);

    [Fact]
    public void IssuedNonce_ValidOnItsConnection_UntilItsLifetime_ThenStale()
    {
        var nonces = new DigestNonces(lifetime: TimeSpan.FromMinutes(5));
        var nonce = nonces.Issue("c1", T0);
        Assert.Equal(NonceStatus.Valid, nonces.Check(nonce, "c1", T0));
        Assert.Equal(NonceStatus.Valid, nonces.Check(nonce, "c1", T0.AddMinutes(5)));
        Assert.Equal(NonceStatus.Stale, nonces.Check(nonce, "c1", T0.AddMinutes(5).AddMilliseconds(1)));
    }

    [Fact]
    public void NonceOfAnotherConnection_Invalid()
    {
        var nonces = new DigestNonces();
        Assert.Equal(NonceStatus.Invalid, nonces.Check(nonces.Issue("c1", T0), "c2", T0));
    }

    [Fact]
    public void NonceOfAnotherKey_Invalid_AsAfterARestart()
    {
        Assert.Equal(NonceStatus.Invalid, new DigestNonces().Check(new DigestNonces().Issue("c1", T0), "c1", T0));
    }

    [Fact]
    public void NonceFromTheFuture_Invalid()
    {
        var nonces = new DigestNonces();
        Assert.Equal(NonceStatus.Invalid, nonces.Check(nonces.Issue("c1", T0.AddMinutes(1)), "c1", T0));
    }

    [Fact]
    public void TamperedNonce_EveryCharacterChanged_Invalid()
    {
        var nonces = new DigestNonces();
        var nonce = nonces.Issue("c1", T0);
        Assert.Equal(32, nonce.Length);
        for (var i = 0; i < nonce.Length; i++)
        {
            var c = nonce.ToCharArray();
            c[i] = c[i] == 'A' ? 'B' : 'A';
            Assert.Equal(NonceStatus.Invalid, nonces.Check(new string(c), "c1", T0));
        }
    }

    [Theory]
    [InlineData("")]
    [InlineData("abc")]
    [InlineData("not base64 at all, not at all!!!")]
    [InlineData("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    public void Garbage_Invalid(string nonce)
    {
        Assert.Equal(NonceStatus.Invalid, new DigestNonces().Check(nonce, "c1", T0));
    }

    [Fact]
    public void Nonce_IsAQuotableToken()
    {
        var nonce = new DigestNonces().Issue("c1", T0);
        Assert.Matches("^[A-Za-z0-9_-]{32}$", nonce);
    }
}
