using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using HikShareGateway.Tests.Infrastructure;

namespace HikShareGateway.Tests.Sharing;

[Trait("Category", "Unit")]
public sealed class BindCodeUnitTests
{
    [Fact]
    public void NewCode_IsTenUnambiguousCapitalsAroundADash_AndDiffersEachTime()
    {
        var codes = Enumerable.Range(0, 50).Select(_ => BindingCode.NewCode()).ToList();
        Assert.All(codes, c => Assert.Matches("^[A-HJKMNP-TV-Z2-9]{5}-[A-HJKMNP-TV-Z2-9]{5}$", c));
        Assert.Equal(codes.Count, codes.Distinct().Count());
    }

    [Fact]
    public void Message_CarriesOnlySaltHashAndExpiry_HashIsSha256OfSaltAndCode()
    {
        var salt = RandomNumberGenerator.GetBytes(16);
        var json = Encoding.UTF8.GetString(BindingCode.Message("ABCDE-FGHJK", salt, new DateTimeOffset(2026, 12, 1, 9, 0, 0, TimeSpan.Zero)));
        Assert.DoesNotContain("ABCDE", json);
        using var doc = JsonDocument.Parse(json);
        Assert.Equal(["salt", "hash", "expiresAt"], doc.RootElement.EnumerateObject().Select(p => p.Name));
        Assert.Equal("2026-12-01T09:00:00Z", doc.RootElement.GetProperty("expiresAt").GetString());
        var hash = Convert.FromBase64String(Pad(doc.RootElement.GetProperty("hash").GetString()!));
        Assert.Equal(SHA256.HashData([.. salt, .. "ABCDE-FGHJK"u8.ToArray()]), hash);
    }

    private static string Pad(string b64url)
    {
        var s = b64url.Replace('-', '+').Replace('_', '/');
        return s + new string('=', (4 - s.Length % 4) % 4);
    }
}

/// <summary>The gateway side of binding against mosquitto and the sharing service, the gateway a real daemon process.</summary>
[Trait("Category", "Integration")]
[Collection("SharingEndToEnd")]
public sealed class BindCodeEndToEndTests
{
    [Fact]
    public async Task BindCode_PrintedByTheGateway_BindsItToTheOwner_WhoSeesItsDevice_AndTheGatewayAppliesTheServicesGrants()
    {
        await using var stack = await SharingStack.StartAsync(camera: false);
        var owner = await stack.AccountAsync("owner@example.com");
        var code = await stack.PrintBindingCodeAsync();

        using (var wrong = await stack.BindAsync(owner, "AAAAA-AAAAA"))
        {
            Assert.Equal(HttpStatusCode.Forbidden, wrong.StatusCode);
        }
        // Typed in lower case: the same code.
        using (var bound = await stack.BindAsync(owner, code.ToLowerInvariant()))
        {
            Assert.Equal(HttpStatusCode.NoContent, bound.StatusCode);
        }
        using (var again = await stack.BindAsync(owner, code))
        {
            Assert.Equal(HttpStatusCode.Conflict, again.StatusCode); // works once
        }

        using var c = stack.Client(owner);
        await Wait.UntilAsync(async () => (await c.GetStringAsync("api/v1/gateways")).Contains(SharingStack.DeviceId),
            "the gateway's inventory listed for its owner", 15_000);
        var gateways = await c.GetFromJsonAsync<JsonElement>("api/v1/gateways");
        var version = gateways[0].GetProperty("grantsVersion").GetInt64();
        Assert.True(version > 0);
        // The service signed grants naming the owner's device; the daemon verified them with the trusted key and applied them.
        await stack.WaitAppliedAsync(version);
    }

    [Fact]
    public async Task BindCode_WithoutBroker_ExitsWithConfigError()
    {
        var dir = Directory.CreateTempSubdirectory("hikshare-bindcode-");
        try
        {
            var config = Path.Combine(dir.FullName, "gateway.json");
            await File.WriteAllTextAsync(config, """{ "Gateway": { "Id": "gw-x", "StateDirectory": "/tmp/x" } }""");
            var run = await ToolRunner.RunAsync("dotnet", [Path.Combine(AppContext.BaseDirectory, "hikshare-gateway.dll"), "bind-code", "--config", config], TimeSpan.FromSeconds(60));
            Assert.Equal(ExitCodes.Config, run.ExitCode);
            Assert.Contains("Cloud:Broker is required", run.Stderr);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
