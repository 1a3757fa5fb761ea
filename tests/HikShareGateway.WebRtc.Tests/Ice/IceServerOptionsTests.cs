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
    [InlineData("turn:t.example", TurnTransport.Udp)]
    [InlineData("turn:t.example?transport=udp", TurnTransport.Udp)]
    [InlineData("turn:t.example:3478?transport=tcp", TurnTransport.Tcp)]
    [InlineData("turns:t.example", TurnTransport.Tls)]
    [InlineData("turns:t.example:443?transport=tcp", TurnTransport.Tls)]
    public void TurnUrl_NamesTheTransportToTheServer_AsBrowsersWriteIt(string text, TurnTransport transport)
    {
        Assert.True(IceServerUrl.TryParse(text, out var url, out var why), why);
        Assert.Equal(transport, url.TurnTransport);
    }

    [Fact]
    public void TurnsOverUdp_IsRefused() => Assert.False(IceServerUrl.TryParse("turns:t.example?transport=udp", out _, out _));

    [Fact]
    public void TlsCaFile_MissingOrWithoutCertificates_IsAnError_NamingTheKey()
    {
        var empty = Path.GetTempFileName();
        var options = new WebRtcOptions
        {
            IceServers =
            [
                new IceServerOptions { Urls = ["turns:t.example"], Username = "u", Credential = "p", TlsCaFile = "/nonexistent/ca.pem" },
                new IceServerOptions { Urls = ["turns:t.example"], Username = "u", Credential = "p", TlsCaFile = empty },
            ],
        };
        var errors = options.Validate();
        Assert.Equal(2, errors.Count);
        Assert.StartsWith("WebRtc:IceServers:0:TlsCaFile", errors[0], StringComparison.Ordinal);
        Assert.StartsWith("WebRtc:IceServers:1:TlsCaFile", errors[1], StringComparison.Ordinal);
        File.Delete(empty);
    }

    [Fact]
    public void TlsCaFile_WithAPemCertificate_Validates_AndLoadsIt()
    {
        using var key = ECDsa.Create();
        using var ca = new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=test", key, HashAlgorithmName.SHA256)
            .CreateSelfSigned(DateTimeOffset.UtcNow, DateTimeOffset.UtcNow.AddDays(1));
        var file = Path.GetTempFileName();
        File.WriteAllText(file, ca.ExportCertificatePem());
        var server = new IceServerOptions { Urls = ["turns:t.example"], Username = "u", Credential = "p", TlsCaFile = file };
        Assert.Empty(new WebRtcOptions { IceServers = [server] }.Validate());
        Assert.Equal(ca.Thumbprint, Assert.Single(server.LoadTrustedRoots()!).Thumbprint);
        File.Delete(file);
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
