using HikShareGateway.Access.Credentials;
using HikShareGateway.Core.Access;
using Microsoft.Extensions.Time.Testing;

namespace HikShareGateway.Tests.Access;

[Trait("Category", "Unit")]
public sealed class RtspCredentialStoreTests : IDisposable
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 1, 8, 0, 0, TimeSpan.Zero));
    private readonly string _dir = Directory.CreateTempSubdirectory("hikshare-rtspcred-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private DateTimeOffset TokenExp => _time.GetUtcNow().AddHours(1);

    [Fact]
    public void Issue_PasswordIs24Alphanumerics_ValidAsBasicForThatAccountOnly()
    {
        var store = new RtspCredentialStore(_dir, _time);
        Assert.Equal(RtspCredentialIssue.Issued, store.TryIssue("bob@example.com", TokenExp, null, out var c));
        Assert.Matches("^[A-Za-z0-9]{24}$", c!.Password);
        Assert.Equal("bob@example.com", c.Info.Username);
        Assert.Equal("bob@example.com", store.VerifyBasic("bob@example.com", c.Password)?.Username);
        Assert.Null(store.VerifyBasic("eve@example.com", c.Password));
        Assert.Null(store.VerifyBasic("bob@example.com", c.Password[..23] + (c.Password[23] == 'a' ? 'b' : 'a')));
    }

    [Fact]
    public void Expiry_NeverOutlivesTheToken_AndTtlShortensIt()
    {
        var store = new RtspCredentialStore(_dir, _time);
        store.TryIssue("bob@example.com", TokenExp, TimeSpan.FromDays(30), out var capped);
        Assert.Equal(TokenExp, capped!.Info.ExpiresAt);
        store.TryIssue("bob@example.com", TokenExp, TimeSpan.FromMinutes(5), out var shortLived);
        Assert.Equal(_time.GetUtcNow().AddMinutes(5), shortLived!.Info.ExpiresAt);

        _time.Advance(TimeSpan.FromMinutes(6));
        Assert.Null(store.VerifyBasic("bob@example.com", shortLived.Password));
        Assert.NotNull(store.VerifyBasic("bob@example.com", capped.Password));
        Assert.Single(store.List("bob@example.com"));
        Assert.Equal(RtspCredentialIssue.TokenExpired, store.TryIssue("bob@example.com", _time.GetUtcNow(), null, out _));
    }

    [Fact]
    public void SixteenLivePerAccount_TheSeventeenthIsRefused_OtherAccountsUnaffected()
    {
        var store = new RtspCredentialStore(_dir, _time);
        for (var i = 0; i < RtspCredentialStore.MaxPerAccount; i++)
        {
            Assert.Equal(RtspCredentialIssue.Issued, store.TryIssue("bob@example.com", TokenExp, null, out _));
        }
        Assert.Equal(RtspCredentialIssue.TooMany, store.TryIssue("bob@example.com", TokenExp, null, out _));
        Assert.Equal(RtspCredentialIssue.Issued, store.TryIssue("amy@example.com", TokenExp, null, out _));
        var first = store.List("bob@example.com")[0];
        Assert.False(store.Revoke("amy@example.com", first.Id)); // not hers
        Assert.True(store.Revoke("bob@example.com", first.Id));
        Assert.Equal(RtspCredentialIssue.Issued, store.TryIssue("bob@example.com", TokenExp, null, out _));
    }

    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public void Restart_KeepsCredentials_FileHoldsOnlyHashes()
    {
        var store = new RtspCredentialStore(_dir, _time);
        store.TryIssue("bob@example.com", TokenExp, null, out var c);
        var text = File.ReadAllText(Path.Combine(_dir, RtspCredentialStore.FileName));
        Assert.DoesNotContain(c!.Password, text);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(_dir, RtspCredentialStore.FileName)));

        var again = new RtspCredentialStore(_dir, _time);
        Assert.Equal(c.Info, again.VerifyBasic("bob@example.com", c.Password));
        Assert.Equal([RtspCredentialStore.Ha1("bob@example.com", c.Password, sha256: true)], again.DigestHa1("bob@example.com", sha256: true));
    }

    [Fact]
    public void Ha1_IsHashOfUserRealmPassword_InBothAlgorithms()
    {
        // RFC 7616 §3.4.2: A1 = username ":" realm ":" password.
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData("bob:HikShareGateway:pw"u8)), RtspCredentialStore.Ha1("bob", "pw", sha256: true));
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.MD5.HashData("bob:HikShareGateway:pw"u8)), RtspCredentialStore.Ha1("bob", "pw", sha256: false));
    }

    [Fact]
    public void CorruptFile_StartFailsNamingTheFile()
    {
        File.WriteAllText(Path.Combine(_dir, RtspCredentialStore.FileName), "{not json");
        var e = Assert.Throws<InvalidDataException>(() => new RtspCredentialStore(_dir, _time));
        Assert.Contains(RtspCredentialStore.FileName, e.Message);
    }
}
