using System.Diagnostics;
using System.Net;
using HikShareCloud;
using HikShareGateway.Access;
using HikShareGateway.Access.Grants;
using HikShareGateway.Access.Jose;
using HikShareGateway.Access.Sessions;
using HikShareGateway.Access.Tokens;
using HikShareGateway.Cloud;
using HikShareGateway.Core.Access;
using HikShareGateway.Tests.Access;
using HikShareGateway.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;
using static HikShareGateway.Tests.Access.AccessTestKit;

namespace HikShareGateway.Tests.Cloud;

/// <summary>hikshare-cloud end to end: keys, signing, publishing to a real mosquitto, the gateway applying it.</summary>
[Trait("Category", "Integration")]
public sealed class HikShareCloudToolTests : IAsyncLifetime
{
    private MosquittoBroker _broker = null!;
    private readonly string _dir = TempDirectory();

    public async Task InitializeAsync() => _broker = await MosquittoBroker.StartAsync();

    public async Task DisposeAsync()
    {
        await _broker.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private static async Task<(int Code, string Out, string Err)> Tool(string? stdin, params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        var code = await CloudTool.RunAsync(args, o, e, new StringReader(stdin ?? ""));
        return (code, o.ToString().Trim(), e.ToString().Trim());
    }

    [Fact]
    public async Task Tool_KeygenSignPublish_GatewayApplies_TokenWorks_DeltaRevokes()
    {
        var keyFile = Path.Combine(_dir, "cloud.key.json");
        // :: keygen prints the public JWK; the private key file is 0600.
        var keygen = await Tool(null, "keygen", "--kid", "cloud-e2e", "--out", keyFile);
        Assert.Equal(0, keygen.Code);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(keyFile));
        }
        Assert.True(Ed25519PublicJwk.TryParse(keygen.Out, out var jwk, out var why), why);
        Assert.Equal(keygen.Out, (await Tool(null, "jwk", "--key", keyFile)).Out);

        // :: The gateway trusts that JWK.
        var keys = new TrustedKeySet([jwk!]);
        var stateDir = Path.Combine(_dir, "state");
        using var store = new GrantsStore(new GrantsStoreSettings(GatewayId, stateDir), keys, TimeProvider.System, NullLogger<GrantsStore>.Instance);
        var audit = new RecordingAuditSink();
        using var registry = new SessionRegistry(store, audit, TimeProvider.System, NullLogger<SessionRegistry>.Instance);
        var settings = new CloudClientSettings(new BrokerAddress("127.0.0.1", _broker.Port, false), GatewayId, ReconnectMin: TimeSpan.FromMilliseconds(100));
        using var client = new MqttCloudClient(settings, store, TimeProvider.System, NullLogger<MqttCloudClient>.Instance);
        await client.StartAsync(CancellationToken.None);
        try
        {
            // :: snapshot from a plain description, published retained.
            var desc = Path.Combine(_dir, "grants.json");
            await File.WriteAllTextAsync(desc, $$"""
                { "gatewayId": "{{GatewayId}}", "version": 100,
                  "devices": [ { "deviceId": "{{Nvr}}", "owner": "Owner@Example.com" } ],
                  "shares": [ { "shareId": "sh-e2e", "owner": "owner@example.com", "recipient": "bob@example.com", "state": "accepted",
                                "devices": [ { "deviceId": "{{Nvr}}", "channels": [1], "privileges": ["liveView", "playback"] } ] } ] }
                """);
            var signed = Path.Combine(_dir, "snapshot.jws");
            var snap = await Tool(null, "snapshot", "--key", keyFile, "--in", desc, "--out", signed);
            Assert.True(snap.Code == 0, snap.Err);
            var pub = await Tool(null, "publish", "--broker", _broker.Url, "--gateway", GatewayId, "--snapshot", signed);
            Assert.True(pub.Code == 0, pub.Err);
            Assert.Contains("(retained)", pub.Out);
            await Wait.UntilAsync(() => store.Version == 100, "snapshot from hikshare-cloud applied");
            Assert.True(store.IsAllowed(Bob, Nvr, 1, Privilege.Playback));

            // :: token minted by the tool is accepted by the gateway's authenticator.
            var token = await Tool(null, "token", "--key", keyFile, "--sub", "bob@example.com", "--aud", GatewayId, "--ttl", "10m");
            Assert.Equal(0, token.Code);
            var auth = new ViewerAuthenticator(keys, GatewayId, new AccessOptions(), TimeProvider.System, NullLogger<ViewerAuthenticator>.Instance);
            var result = auth.Authenticate(new ViewerCredentials(null, "bob@example.com", token.Out, null), IPAddress.Loopback);
            Assert.Equal(AuthStatus.Ok, result.Status);
            Assert.Equal(Bob, result.Account);

            // :: a running session is cut by a delta built and piped by the tool.
            var session = new FakeSession(result.Account!, Nvr, 1, Privilege.LiveView);
            registry.Register(session.Session);
            var delta = await Tool(null, "delta", "--key", keyFile, "--gateway", GatewayId, "--base", "100", "--version", "101", "--remove-share", "sh-e2e");
            Assert.Equal(0, delta.Code);
            var pubDelta = await Tool(delta.Out, "publish", "--broker", _broker.Url, "--gateway", GatewayId, "--delta", "-");
            Assert.True(pubDelta.Code == 0, pubDelta.Err);
            await Wait.UntilAsync(() => session.Revoked, "session revoked by the tool's delta");
            Assert.Equal(101, store.Version);
            // The registry records the revocation right after the cut, on the thread that applied the delta.
            await Wait.UntilAsync(() => !audit.Events.IsEmpty, "the revoked audit event");
            Assert.Equal(AuditDecision.Revoked, Assert.Single(audit.Events).Decision);
        }
        finally
        {
            await client.StopAsync(CancellationToken.None);
        }
    }

    [Fact]
    public async Task Tool_AsAProcess_KeygenPrintsJwk()
    {
        // The built executable, as installers run it.
        var dll = Path.Combine(AppContext.BaseDirectory, "hikshare-cloud.dll");
        Assert.True(File.Exists(dll), $"{dll} missing: the test project references src/HikShareCloud");
        var keyFile = Path.Combine(_dir, "p.key.json");
        var psi = new ProcessStartInfo("dotnet", $"\"{dll}\" keygen --kid proc-1 --out \"{keyFile}\"") { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        var stdout = await p.StandardOutput.ReadToEndAsync();
        var stderr = await p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        Assert.True(p.ExitCode == 0, stderr);
        Assert.True(Ed25519PublicJwk.TryParse(stdout.Trim(), out var jwk, out _));
        Assert.Equal("proc-1", jwk!.Kid);
    }

    [Theory]
    [InlineData(new[] { "keygen", "--out", "x" }, 64, "--kid is required")]
    [InlineData(new[] { "token", "--key", "/nonexistent/k.json", "--sub", "a@b", "--aud", "g" }, 1, "does not exist")]
    [InlineData(new[] { "publish", "--broker", "http://x", "--gateway", "g", "--snapshot", "-" }, 64, "mqtt://")]
    [InlineData(new[] { "frobnicate" }, 64, "unknown command")]
    [InlineData(new[] { "delta", "stray" }, 64, "unexpected argument")]
    public async Task Tool_BadCommandLine_SaysWhat(string[] args, int code, string message)
    {
        var r = await Tool(null, args);
        Assert.Equal(code, r.Code);
        Assert.Contains(message, r.Err);
    }

    [Fact]
    public async Task Tool_InvalidDescription_NamesTheJsonPath()
    {
        var keyFile = Path.Combine(_dir, "k.json");
        await Tool(null, "keygen", "--kid", "k", "--out", keyFile);
        var r = await Tool("{\"gatewayId\":\"g\",\"version\":1,\"devices\":[{\"deviceId\":\"d\",\"owner\":\"nobody\"}],\"shares\":[]}", "snapshot", "--key", keyFile, "--in", "-");
        Assert.Equal(1, r.Code);
        Assert.Contains("$.devices[0].owner", r.Err);
    }

    [Theory]
    [InlineData("90s", 90)]
    [InlineData("30m", 1800)]
    [InlineData("2h", 7200)]
    [InlineData("1d", 86400)]
    [InlineData("600", 600)]
    public void Ttl_Parses(string s, int seconds) => Assert.Equal(TimeSpan.FromSeconds(seconds), CloudTool.ParseTtl(s));
}
