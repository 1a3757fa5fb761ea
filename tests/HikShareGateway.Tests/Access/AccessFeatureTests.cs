using HikShareGateway.Access.Grants;
using HikShareGateway.Access.Sessions;
using HikShareGateway.Cloud;
using HikShareGateway.Composition;
using HikShareGateway.Core.Access;
using HikShareGateway.Core.Cloud;
using HikShareGateway.Core.Diagnostics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using static HikShareGateway.Tests.Access.AccessTestKit;

namespace HikShareGateway.Tests.Access;

/// <summary>The host wiring of AccessFeature/CloudFeature: configuration errors and the services registered.</summary>
[Trait("Category", "Unit")]
public sealed class AccessFeatureTests : IDisposable
{
    private readonly string _dir = TempDirectory();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private (Microsoft.AspNetCore.Builder.WebApplication? App, List<string> Errors) Build(Dictionary<string, string?> values, bool demo = false)
    {
        values.TryAdd("Gateway:Id", GatewayId);
        values.TryAdd("Gateway:StateDirectory", _dir);
        values.TryAdd("Http:Port", "0");
        values.TryAdd("Discovery:Enabled", "false");
        var config = new ConfigurationBuilder().AddInMemoryCollection(values).Build();
        var errors = new List<string>();
        var app = Features.Build(config, new GatewayContext(demo, CommandLine.Parse([]), DateTimeOffset.UtcNow), errors);
        return (app, errors);
    }

    [Fact]
    public void InvalidCloudSection_ReportsEveryErrorNamingTheKey()
    {
        var (app, errors) = Build(new()
        {
            ["Cloud:Broker"] = "http://broker:1883",
            ["Cloud:Password"] = "pw",
            ["Cloud:TopicPrefix"] = "a/#",
            ["Cloud:TrustedKeys:0:kid"] = "k0",
            ["Cloud:TrustedKeys:0:kty"] = "OKP",
            ["Cloud:TrustedKeys:0:crv"] = "Ed25519",
            ["Cloud:TrustedKeys:0:x"] = Key.Public.ToJson().Split("\"x\":\"")[1].TrimEnd('}', '"'),
            ["Cloud:TrustedKeys:1:kid"] = "k1",
            ["Cloud:TrustedKeys:1:kty"] = "RSA",
            ["Cloud:TrustedKeys:2:kid"] = "k0",
            ["Cloud:TrustedKeys:2:kty"] = "OKP",
            ["Cloud:TrustedKeys:2:crv"] = "Ed25519",
            ["Cloud:TrustedKeys:2:x"] = "AAAA",
            ["Cloud:ReconnectMinSeconds"] = "0",
            ["Access:AuthFailureLimit"] = "0",
        });
        Assert.Null(app);
        Assert.Contains(errors, e => e.StartsWith("Cloud:Broker", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Cloud:Password", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Cloud:TopicPrefix", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Cloud:TrustedKeys:1 ", StringComparison.Ordinal) && e.Contains("kty"));
        Assert.Contains(errors, e => e.StartsWith("Cloud:TrustedKeys:2 ", StringComparison.Ordinal) && e.Contains("32"));
        Assert.DoesNotContain(errors, e => e.StartsWith("Cloud:TrustedKeys:0", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Cloud:ReconnectMinSeconds", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Access:AuthFailureLimit", StringComparison.Ordinal));
    }

    [Fact]
    public void BrokerConfigured_RegistersOurImplementations()
    {
        var (app, errors) = Build(new() { ["Cloud:Broker"] = "mqtts://broker.example.com" });
        Assert.Empty(errors);
        var sp = app!.Services;
        Assert.IsType<GrantsStore>(sp.GetRequiredService<IAccessPolicy>());
        Assert.Same(sp.GetRequiredService<IAccessPolicy>(), sp.GetRequiredService<IGrantsStatus>());
        Assert.IsType<SessionRegistry>(sp.GetRequiredService<ISessionRegistry>());
        Assert.IsType<MqttCloudClient>(sp.GetRequiredService<ICloudPublisher>());
        Assert.IsType<HikShareGateway.Access.Tokens.ViewerAuthenticator>(sp.GetRequiredService<IViewerAuthenticator>());
        Assert.IsType<HikShareGateway.Access.Audit.CloudAuditSink>(sp.GetRequiredService<IAuditSink>());
    }

    [Fact]
    public void NoBroker_OutsideDemo_UsesNoPublisher_ButStillEnforcesGrants()
    {
        var (app, errors) = Build(new());
        Assert.Empty(errors);
        Assert.IsType<NullCloudPublisher>(app!.Services.GetRequiredService<ICloudPublisher>());
        Assert.IsType<GrantsStore>(app.Services.GetRequiredService<IAccessPolicy>());
    }

    [Fact]
    public void Demo_WithoutBroker_CreatesAndTrustsADemoKey_ThenReusesIt()
    {
        var (app, errors) = Build(new() { ["Cloud:EmbeddedBrokerPort"] = "0" }, demo: true);
        Assert.Empty(errors);
        var keyFile = Path.Combine(_dir, DemoCloud.KeyFileName);
        Assert.True(File.Exists(keyFile));
        var keys = app!.Services.GetRequiredService<HikShareGateway.Access.Jose.TrustedKeySet>();
        Assert.True(keys.TryGet(DemoCloud.KeyId, out var trusted));
        Assert.IsType<MqttCloudClient>(app.Services.GetRequiredService<ICloudPublisher>());
        var (app2, errors2) = Build(new() { ["Cloud:EmbeddedBrokerPort"] = "0" }, demo: true);
        Assert.Empty(errors2);
        Assert.True(app2!.Services.GetRequiredService<HikShareGateway.Access.Jose.TrustedKeySet>().TryGet(DemoCloud.KeyId, out var again));
        Assert.Equal(trusted!.PublicKey, again!.PublicKey);
    }
}
