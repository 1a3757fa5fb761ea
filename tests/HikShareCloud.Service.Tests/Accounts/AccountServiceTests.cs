using System.Security.Cryptography;
using System.Text;
using HikShareCloud.Service.Accounts;
using HikShareCloud.Service.Tests.Infrastructure;

namespace HikShareCloud.Service.Tests.Accounts;

public abstract class AccountServiceTests(IDbFactory factory)
{
    private const string Password = "correct horse battery";

    [Fact]
    public async Task SignUp_Email_SendsSixDigitCode_AndSignInIsRefusedUntilVerified()
    {
        var h = await Harness.CreateAsync(factory);
        await h.Accounts.SignUpAsync("Alice@Example.COM", Password);
        Assert.Matches("^[0-9]{6}$", h.Codes.LastCode["alice@example.com"]);
        var e = await Assert.ThrowsAsync<ServiceException>(() => h.Accounts.SignInAsync("alice@example.com", Password, Harness.Remote));
        Assert.Equal((403, "unverified"), (e.Status, e.Code));
    }

    [Fact]
    public async Task Verify_RightCode_ThenSignInGivesATokenThatAuthenticatesTheNormalisedAccount()
    {
        var h = await Harness.CreateAsync(factory);
        var (account, token) = await h.VerifiedAccountAsync("Alice@Example.com");
        Assert.Equal("alice@example.com", account.Address);
        Assert.Equal(account, await h.Accounts.AuthenticateAsync(token));
        Assert.Null(await h.Accounts.AuthenticateAsync(token + "x"));
    }

    [Fact]
    public async Task SignUp_PhoneWithSpacesAndDoubleZero_StoredAsE164()
    {
        var h = await Harness.CreateAsync(factory);
        await h.Accounts.SignUpAsync("0086 189-6919 0000", Password);
        Assert.True(h.Codes.LastCode.ContainsKey("+8618969190000"));
    }

    [Fact]
    public async Task SignUp_NotAnAccountOrShortPassword_RefusedWithNothingStored()
    {
        var h = await Harness.CreateAsync(factory);
        Assert.Equal("bad-account", (await Assert.ThrowsAsync<ServiceException>(() => h.Accounts.SignUpAsync("alice", Password))).Code);
        Assert.Equal("weak-password", (await Assert.ThrowsAsync<ServiceException>(() => h.Accounts.SignUpAsync("alice@example.com", "short"))).Code);
        Assert.Equal(0L, await h.Db.InTransactionAsync(tx => tx.LongAsync("SELECT COUNT(*) FROM accounts")));
    }

    [Fact]
    public async Task SignUp_AddressAlreadyVerified_Conflict()
    {
        var h = await Harness.CreateAsync(factory);
        await h.VerifiedAccountAsync("alice@example.com");
        var e = await Assert.ThrowsAsync<ServiceException>(() => h.Accounts.SignUpAsync("ALICE@example.com", "another password"));
        Assert.Equal((409, "account-exists"), (e.Status, e.Code));
    }

    [Fact]
    public async Task Verify_WrongCodeUpToTheLimit_CodeDestroyed_RightCodeNoLongerWorks()
    {
        var h = await Harness.CreateAsync(factory);
        await h.Accounts.SignUpAsync("alice@example.com", Password);
        var right = h.Codes.LastCode["alice@example.com"];
        var wrong = right == "000000" ? "000001" : "000000";
        for (var i = 0; i < h.Options.VerificationMaxAttempts; i++)
        {
            Assert.Equal("wrong-code", (await Assert.ThrowsAsync<ServiceException>(() => h.Accounts.VerifyAsync("alice@example.com", wrong))).Code);
        }
        Assert.Equal("code-expired", (await Assert.ThrowsAsync<ServiceException>(() => h.Accounts.VerifyAsync("alice@example.com", right))).Code);
        // A new code brings the account back.
        await h.Accounts.ResendCodeAsync("alice@example.com");
        await h.Accounts.VerifyAsync("alice@example.com", h.Codes.LastCode["alice@example.com"]);
    }

    [Fact]
    public async Task Verify_AfterTheCodeExpired_Refused()
    {
        var h = await Harness.CreateAsync(factory);
        await h.Accounts.SignUpAsync("alice@example.com", Password);
        h.Time.Advance(TimeSpan.FromMinutes(h.Options.VerificationCodeMinutes) + TimeSpan.FromSeconds(1));
        Assert.Equal("code-expired", (await Assert.ThrowsAsync<ServiceException>(() => h.Accounts.VerifyAsync("alice@example.com", h.Codes.LastCode["alice@example.com"]))).Code);
    }

    [Fact]
    public async Task Verify_CodeStoredOnlyAsASaltedHash()
    {
        var h = await Harness.CreateAsync(factory);
        await h.Accounts.SignUpAsync("alice@example.com", Password);
        var stored = (byte[])(await h.Db.InTransactionAsync(tx => tx.ScalarAsync("SELECT code_hash FROM verification_codes")))!;
        Assert.NotEqual(SHA256.HashData(Encoding.UTF8.GetBytes(h.Codes.LastCode["alice@example.com"])), stored);
        Assert.DoesNotContain(h.Codes.LastCode["alice@example.com"], Encoding.Latin1.GetString(stored));
    }

    [Fact]
    public async Task SignIn_WrongPasswordUpToTheLimit_ThenEvenTheRightPasswordIsThrottled_UntilTheWindowPasses()
    {
        var h = await Harness.CreateAsync(factory);
        await h.VerifiedAccountAsync("alice@example.com");
        for (var i = 0; i < h.Options.LoginFailureLimit; i++)
        {
            Assert.Equal(401, (await Assert.ThrowsAsync<ServiceException>(() => h.Accounts.SignInAsync("alice@example.com", "wrong password", $"198.51.100.{i}:1"))).Status);
        }
        // Per account: from yet another address, the right password is refused without being checked.
        Assert.Equal(429, (await Assert.ThrowsAsync<ServiceException>(() => h.Accounts.SignInAsync("alice@example.com", Password, "203.0.113.9:1"))).Status);
        h.Time.Advance(TimeSpan.FromMinutes(h.Options.LoginWindowMinutes) + TimeSpan.FromSeconds(1));
        await h.Accounts.SignInAsync("alice@example.com", Password, "203.0.113.9:1");
    }

    [Fact]
    public async Task SignIn_ManyFailuresFromOneAddressOverSeveralAccounts_ThrottlesThatAddressOnly()
    {
        var h = await Harness.CreateAsync(factory);
        await h.VerifiedAccountAsync("alice@example.com");
        for (var i = 0; i < h.Options.LoginFailureLimit; i++)
        {
            await Assert.ThrowsAsync<ServiceException>(() => h.Accounts.SignInAsync($"nobody{i}@example.com", "whatever it is", "198.51.100.1:1"));
        }
        Assert.Equal(429, (await Assert.ThrowsAsync<ServiceException>(() => h.Accounts.SignInAsync("alice@example.com", Password, "198.51.100.1:2"))).Status);
        await h.Accounts.SignInAsync("alice@example.com", Password, "198.51.100.2:1");
    }

    [Fact]
    public async Task Session_StoredOnlyAsHash_ExpiresAfterSessionHours_AndSignOutEndsIt()
    {
        var h = await Harness.CreateAsync(factory);
        var (_, token) = await h.VerifiedAccountAsync("alice@example.com");
        var stored = (byte[])(await h.Db.InTransactionAsync(tx => tx.ScalarAsync("SELECT token_hash FROM sessions")))!;
        Assert.Equal(SHA256.HashData(Encoding.UTF8.GetBytes(token)), stored);

        var (_, second) = await h.Accounts.SignInAsync("alice@example.com", Password, Harness.Remote);
        await h.Accounts.SignOutAsync(second);
        Assert.Null(await h.Accounts.AuthenticateAsync(second));

        Assert.NotNull(await h.Accounts.AuthenticateAsync(token));
        h.Time.Advance(TimeSpan.FromHours(h.Options.SessionHours) + TimeSpan.FromSeconds(1));
        Assert.Null(await h.Accounts.AuthenticateAsync(token));
    }
}

[Trait("Category", "Unit")]
public sealed class AccountServiceTestsOnSqlite() : AccountServiceTests(new SqliteDbFactory());

[Trait("Category", "Integration")]
[Collection(PostgresCollection.Name)]
public sealed class AccountServiceTestsOnPostgres(PostgresServer server) : AccountServiceTests(new PostgresDbFactory(server));

[Trait("Category", "Unit")]
public sealed class PasswordHasherTests
{
    [Fact]
    public void Hash_Default_IsPbkdf2Sha256With600kIterations_AndVerifiesOnlyTheRightPassword()
    {
        var hasher = new PasswordHasher();
        var stored = hasher.Hash("correct horse battery");
        Assert.StartsWith("pbkdf2-sha256$600000$", stored);
        Assert.True(PasswordHasher.Verify("correct horse battery", stored));
        Assert.False(PasswordHasher.Verify("correct horse batterY", stored));
        Assert.NotEqual(stored, hasher.Hash("correct horse battery")); // salted
    }

    [Theory]
    [InlineData("")]
    [InlineData("pbkdf2-sha256$0$AA$AA")]
    [InlineData("md5$1$AA$AA")]
    [InlineData("pbkdf2-sha256$1000$not base64$AA")]
    public void Verify_MalformedStoredHash_False(string stored) => Assert.False(PasswordHasher.Verify("x", stored));

    [Fact]
    public void Options_FewerThan600kIterations_RefusedAtStart()
        => Assert.Contains(new ServiceOptions { PasswordIterations = 100_000, SigningKeyFiles = ["k"], SmsWebhook = "http://x/" }.Validate(), e => e.Contains("PasswordIterations"));
}

[Trait("Category", "Integration")]
public sealed class VerificationBySmtpTests
{
    private const string Password = "correct horse battery";

    [Fact]
    public async Task SignUp_Email_CodeArrivesAtARealSmtpServer_AndVerifiesTheAccount()
    {
        await using var smtp = await SmtpSink.StartAsync();
        var sender = new VerificationSender(new SmtpOptions { Host = "127.0.0.1", Port = smtp.Port, From = "noreply@hikshare.test" }, smsWebhook: null);
        using var sqlite = new SqliteDbFactory();
        var h = await Harness.CreateAsync(sqlite, sender: sender);
        await h.Accounts.SignUpAsync("alice@example.com", Password);
        string? code = null;
        await Wait.UntilAsync(() =>
        {
            var m = System.Text.RegularExpressions.Regex.Match(smtp.Output, "verification code is ([0-9]{6})");
            code = m.Success ? m.Groups[1].Value : null;
            return code is not null;
        }, "the code in the mail received by aiosmtpd");
        Assert.Contains("alice@example.com", smtp.Output);
        await h.Accounts.VerifyAsync("alice@example.com", code);
        await h.Accounts.SignInAsync("alice@example.com", Password, Harness.Remote);
    }
}
