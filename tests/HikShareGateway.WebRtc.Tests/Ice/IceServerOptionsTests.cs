using System.Security.Cryptography;
using System.Text;
using HikShareGateway.WebRtc.Ice;

namespace HikShareGateway.WebRtc.Tests.Ice;

[Trait("Category", "Unit")]
public sealed class IceServerOptionsTests
{
    [Theory]
    [InlineData("stun:stun.example.org", IceServerKind.Stun, "stun.example.org", 3478, "udp")]
    [InlineData("stun:10.99.1.1:3479", IceServerKind.Stun, "10.99.1.1", 3479, "udp")]
    [InlineData("turn:turn.example.org?transport=udp", IceServerKind.Turn, "turn.example.org", 3478, "udp")]
    [InlineData("turn:[2001:db8::1]:3478?transport=tcp", IceServerKind.Turn, "2001:db8::1", 3478, "tcp")]
    [InlineData("turns:turn.example.org", IceServerKind.Turns, "turn.example.org", 5349, "tcp")]
    public void Url_Parses(string text, IceServerKind kind, string host, int port, string transport)
    {
        Assert.True(IceServerUrl.TryParse(text, out var url, out var why), why);
        Assert.Equal(new IceServerUrl(kind, host, port, transport), url);
    }

    [Theory]
    [InlineData("http://x")]
    [InlineData("stun:")]
    [InlineData("stun:host:0")]
    [InlineData("stun:host?transport=udp")]
    [InlineData("turn:host?transport=sctp")]
    [InlineData("turn:[::1")]
    public void BadUrl_IsRefused(string text) => Assert.False(IceServerUrl.TryParse(text, out _, out _));

    [Fact]
    public void Validation_ReportsEveryBadEntryAtOnce()
    {
        var options = new WebRtcOptions
        {
            IceServers =
            [
                new IceServerOptions { Urls = ["stun:ok.example"] },
                new IceServerOptions { Urls = ["turn:t.example"] },                                     // no credentials
                new IceServerOptions { Urls = ["ftp:x"] },                                              // bad URL
                new IceServerOptions { Urls = [], },                                                   // none
                new IceServerOptions { Urls = ["turn:t.example"], SharedSecret = "topsecret-value", Credential = "password-value" }, // both
            ],
        };
        var errors = options.Validate();
        Assert.Equal(4, errors.Count);
        Assert.Contains(errors, e => e.StartsWith("WebRtc:IceServers:1", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("WebRtc:IceServers:2:Urls:0", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("WebRtc:IceServers:3", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("WebRtc:IceServers:4", StringComparison.Ordinal));
        Assert.DoesNotContain(errors, e => e.Contains("topsecret-value") || e.Contains("password-value")); // secrets are never echoed
    }

    [Fact]
    public void RestSecret_GivesExpiryColonUser_AndItsHmacSha1AsPassword()
    {
        var server = new IceServerOptions { Urls = ["turn:t"], SharedSecret = "north", Username = "gw1", RestTtl = TimeSpan.FromHours(1) };
        var now = DateTimeOffset.FromUnixTimeSeconds(1_800_000_000);
        var c = server.CredentialsAt(now);
        Assert.Equal("1800003600:gw1", c.Username);
        Assert.Equal(Convert.ToBase64String(HMACSHA1.HashData("north"u8, Encoding.UTF8.GetBytes("1800003600:gw1"))), c.Password);
        Assert.Equal(new TurnCredentials("u", "p"), new IceServerOptions { Urls = ["turn:t"], Username = "u", Credential = "p" }.CredentialsAt(now));
    }
}
