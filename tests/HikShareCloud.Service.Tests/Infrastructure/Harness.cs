using HikShareGateway.Core.Access;
using System.Security.Cryptography;
using System.Text;
using HikShareCloud.Service.Accounts;
using HikShareCloud.Service.Gateways;
using HikShareCloud.Service.Grants;
using HikShareCloud.Service.Shares;
using HikShareGateway.Access.Grants;
using HikShareGateway.Access.Jose;
using HikShareCloud.Service.Storage;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace HikShareCloud.Service.Tests.Infrastructure;

/// <summary>A migrated database and the services over it, on a fake clock starting 2026-12-01T08:00Z.</summary>
public sealed class Harness
{
    public const string Remote = "192.0.2.7:50000";

    public static readonly ServiceOptions DefaultOptions = new() { SigningKeyFiles = ["unused"], SmsWebhook = "http://127.0.0.1:9/sms" };

    private Harness(ServiceDb db, ServiceOptions options, FakeTimeProvider time, IVerificationSender? sender, SigningKeys? keys = null, RecordingSender? codes = null)
    {
        Codes = codes ?? new RecordingSender();
        Db = db;
        Options = options;
        Time = time;
        Accounts = new AccountService(db, options, PasswordHasher.ForTests(1000), sender ?? Codes, time, NullLogger<AccountService>.Instance);
        Keys = keys ?? new SigningKeys([Ed25519SigningKey.Generate("cloud-test-1")]);
        Builder = new GrantsBuilder(Keys, time);
        Gateways = new GatewayService(db, Builder, options, time, NullLogger<GatewayService>.Instance);
        Shares = new ShareService(db, Builder, Gateways, time);
        Tokens = new ViewerTokenService(db, Keys, options, time);
    }

    public SigningKeys Keys { get; }
    public GrantsBuilder Builder { get; }
    public GatewayService Gateways { get; }
    public ShareService Shares { get; }
    public ViewerTokenService Tokens { get; }
    public TrustedKeySet Trusted => new(Keys.All.Select(k => k.Public));

    /// <summary>What a gateway publishes as its retained binding message for <paramref name="code"/>.</summary>
    public static byte[] BindingMessage(string code)
    {
        var salt = RandomNumberGenerator.GetBytes(16);
        var hash = SHA256.HashData([.. salt, .. Encoding.UTF8.GetBytes(code)]);
        return Encoding.UTF8.GetBytes($$"""{"salt":"{{Base64UrlStrict.Encode(salt)}}","hash":"{{Base64UrlStrict.Encode(hash)}}"}""");
    }

    /// <summary>An inventory (contract §6) with the given devices, each with channels 1..n.</summary>
    public static byte[] Inventory(params (string DeviceId, int Channels)[] devices)
        => Encoding.UTF8.GetBytes(System.Text.Json.JsonSerializer.Serialize(new
        {
            generatedAt = "2026-12-01T08:00:00Z",
            devices = devices.Select(d => new
            {
                deviceId = d.DeviceId, manufacturer = "Hikvision", model = "DS-7608NI", firmware = "V4.0",
                channels = Enumerable.Range(1, d.Channels).Select(c => new { channel = c, name = $"Camera {c}", streams = new[] { "main", "sub" }, ptz = false, backchannel = false, playback = true }),
                online = true,
            }),
        }));

    /// <summary>A gateway announced, its inventory received and bound to <paramref name="owner"/>.</summary>
    public async Task BoundGatewayAsync(AccountRef owner, string gatewayId, params (string DeviceId, int Channels)[] devices)
    {
        await Gateways.RecordBindingAsync(gatewayId, BindingMessage("123-456"));
        await Gateways.RecordInventoryAsync(gatewayId, Inventory(devices));
        await Gateways.BindToOwnerAsync(owner, gatewayId, "123-456");
    }

    /// <summary>
    /// A real gateway GrantsStore fed with every version written for <paramref name="gatewayId"/> in
    /// order: the first as a snapshot, the rest as deltas, so both forms are verified the gateway's way.
    /// </summary>
    public async Task<GrantsStore> GatewayViewAsync(string gatewayId, TrustedKeySet? trusted = null)
    {
        var store = new GrantsStore(new GrantsStoreSettings(gatewayId, null), trusted ?? Trusted, Time, NullLogger<GrantsStore>.Instance);
        var rows = await Db.InTransactionAsync(tx => tx.QueryAsync("SELECT version, snapshot_jws, delta_jws FROM grants_versions WHERE gateway_id = @g ORDER BY version",
            r => (Version: r.GetInt64(0), Snapshot: r.GetString(1), Delta: r.IsDBNull(2) ? null : r.GetString(2)), ("@g", gatewayId)));
        foreach (var (i, row) in rows.Index())
        {
            var result = i == 0 ? store.Apply(GrantMessageKind.Snapshot, Encoding.ASCII.GetBytes(row.Snapshot)) : store.Apply(GrantMessageKind.Delta, Encoding.ASCII.GetBytes(row.Delta!));
            if (result.Outcome != GrantApplyOutcome.Applied)
            {
                throw new InvalidOperationException($"version {row.Version} not applied by the gateway: {result.Outcome} {result.Reason}");
            }
        }
        return store;
    }

    public ServiceDb Db { get; }
    public ServiceOptions Options { get; }
    public FakeTimeProvider Time { get; }
    public RecordingSender Codes { get; }

    /// <summary>A second service instance over the same database, keys and clock (nothing shared in memory but those).</summary>
    public Harness SecondInstance(SigningKeys? keys = null) => new(Db, Options, Time, null, keys ?? Keys, new RecordingSender());
    public AccountService Accounts { get; }

    public static async Task<Harness> CreateAsync(IDbFactory factory, ServiceOptions? options = null, IVerificationSender? sender = null)
    {
        var db = await factory.CreateAsync();
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 1, 8, 0, 0, TimeSpan.Zero));
        await MigrationRunner.ApplyAsync(db, time);
        return new Harness(db, options ?? DefaultOptions, time, sender);
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
