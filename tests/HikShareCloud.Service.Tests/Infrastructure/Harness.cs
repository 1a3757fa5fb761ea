using HikShareCloud.Service.Accounts;
using HikShareCloud.Service.Storage;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace HikShareCloud.Service.Tests.Infrastructure;

/// <summary>A migrated database and the services over it, on a fake clock starting 2026-12-01T08:00Z.</summary>
public sealed class Harness
{
    public const string Remote = "192.0.2.7:50000";

    private Harness(ServiceDb db, ServiceOptions options, FakeTimeProvider time, IVerificationSender? sender)
    {
        Db = db;
        Options = options;
        Time = time;
        Accounts = new AccountService(db, options, PasswordHasher.ForTests(1000), sender ?? Codes, time, NullLogger<AccountService>.Instance);
    }

    public ServiceDb Db { get; }
    public ServiceOptions Options { get; }
    public FakeTimeProvider Time { get; }
    public RecordingSender Codes { get; } = new();
    public AccountService Accounts { get; }

    public static async Task<Harness> CreateAsync(IDbFactory factory, ServiceOptions? options = null, IVerificationSender? sender = null)
    {
        var db = await factory.CreateAsync();
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 1, 8, 0, 0, TimeSpan.Zero));
        await MigrationRunner.ApplyAsync(db, time);
        return new Harness(db, options ?? new ServiceOptions { SigningKeyFiles = ["unused"], SmsWebhook = "http://127.0.0.1:9/sms" }, time, sender);
    }

    /// <summary>Signs up, verifies with the code sent and signs in; returns the account and an API token.</summary>
    public async Task<(AccountRef Account, string Token)> VerifiedAccountAsync(string address, string password = "correct horse battery")
    {
        await Accounts.SignUpAsync(address, password);
        var normal = AccountService.Normalize(address);
        await Accounts.VerifyAsync(address, Codes.LastCode[normal]);
        return await Accounts.SignInAsync(address, password, Remote);
    }
}
