using Microsoft.Extensions.Configuration;
using HikShareGateway.Composition;

namespace HikShareGateway.Tests.Ops;

[Trait("Category", "Unit")]
public class ExampleConfigTests
{
    /// <summary>The keys the installer must fill in; the example says so next to each ("FILL IN").</summary>
    private static readonly string[] Placeholders = ["Gateway:Id", "Cloud:TrustedKeys"];

    private static string Example => Path.Combine(RepoPaths.Root, "config", "gateway.example.json");

    private static List<string> BuildErrors(string path, Dictionary<string, string?>? overrides = null)
    {
        var configuration = GatewayConfiguration.Build(path, demo: false, overrides);
        var errors = new List<string>();
        var app = Features.Build(configuration, new GatewayContext(false, CommandLine.Parse(["--config", path]), DateTimeOffset.UnixEpoch), errors);
        (app as IDisposable)?.Dispose();
        return errors;
    }

    [Fact]
    public void ExampleConfig_LoadsUnchanged_OnlyPlaceholderErrors()
    {
        var errors = BuildErrors(Example);
        Assert.Contains(errors, e => e.StartsWith("Gateway:Id is required", StringComparison.Ordinal));
        Assert.All(errors, e => Assert.True(Placeholders.Any(p => e.StartsWith(p, StringComparison.Ordinal)), "unexpected error in the example: " + e));
    }

    [Fact]
    public void ExampleConfig_PlaceholdersFilled_HasNoErrorButTrustedKeys()
    {
        var errors = BuildErrors(Example, new()
        {
            ["Gateway:Id"] = "gw-lab-01",
            ["Cloud:TrustedKeys:0:kid"] = "cloud-1",
            ["Cloud:TrustedKeys:0:kty"] = "OKP",
            ["Cloud:TrustedKeys:0:crv"] = "Ed25519",
            ["Cloud:TrustedKeys:0:x"] = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
        });
        Assert.Empty(errors);
    }

    [Fact]
    public void ExampleConfig_DocumentsEveryKeyOfTheHttpAndAdminSections()
    {
        var text = File.ReadAllText(Example);
        foreach (var key in new[] { "\"Port\": 8080", "\"BindAddress\": \"*\"", "\"DefaultTimeoutMs\": 1000", "\"MaxTimeoutMs\": 60000", "\"CommandTimeoutMs\": 10000",
                     "\"RatePerSecond\": 5", "\"Burst\": 10", "\"Port\": 8081", "\"BindAddress\": \"127.0.0.1\"", "\"Token\": null", "\"TokenFile\": null",
                     "\"SecretsFile\": null", "\"Port\": 8554", "\"TlsPort\": 8322", "\"TlsCertificateFile\": null", "\"StateDirectory\": \"/var/lib/hikshare-gateway\"", "\"TopicPrefix\": \"hikshare/v1\"", "\"ProbeIntervalSeconds\": 300", "\"MetricsPerAccount\": false",
                     "\"MaxConnections\": 1000", "\"MaxConnectionsPerAddress\": 64", "\"RequestHeadersTimeoutSeconds\": 10", "\"KeepAliveTimeoutSeconds\": 30" })
        {
            Assert.Contains(key, text);
        }
        // No password key is set in the example: they belong in secrets.json.
        Assert.DoesNotContain(GatewayConfiguration.Build(Example, demo: false).AsEnumerable(),
            kv => kv.Key.EndsWith("Password", StringComparison.OrdinalIgnoreCase) && kv.Value is not null);
    }

    [Fact]
    public void SecretsBesideConfig_AreMergedOverIt()
    {
        var dir = Directory.CreateTempSubdirectory("hikshare-config-").FullName;
        try
        {
            var config = Path.Combine(dir, "gateway.json");
            File.WriteAllText(config, """
                // comments are allowed
                { "Gateway": { "Id": "gw-1" },
                  "Devices": [ { "DeviceId": "cam-1", "Username": "admin", "Channels": [ { "Channel": 1, "Main": "rtsp://192.0.2.1/x" } ] } ], }
                """);
            File.WriteAllText(Path.Combine(dir, "secrets.json"), """{ "Devices": [ { "Password": "s3cret" } ] }""");
            var c = GatewayConfiguration.Build(config, demo: false);
            Assert.Equal("s3cret", c["Devices:0:Password"]);
            Assert.Equal("admin", c["Devices:0:Username"]);
            Assert.Equal("cam-1", c["Devices:0:DeviceId"]);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void ExplicitSecretsFileMissing_IsAConfigErrorNamingTheKey()
    {
        var dir = Directory.CreateTempSubdirectory("hikshare-config-").FullName;
        try
        {
            var config = Path.Combine(dir, "gateway.json");
            File.WriteAllText(config, """{ "Gateway": { "Id": "gw-1" }, "SecretsFile": "missing-secrets.json" }""");
            var e = Assert.Throws<GatewayConfigurationException>(() => GatewayConfiguration.Build(config, demo: false));
            Assert.StartsWith("SecretsFile:", e.Message);
            Assert.Contains(Path.Combine(dir, "missing-secrets.json"), e.Message);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void SecretsFileWithSyntaxError_NamesTheLine()
    {
        var dir = Directory.CreateTempSubdirectory("hikshare-config-").FullName;
        try
        {
            var config = Path.Combine(dir, "gateway.json");
            File.WriteAllText(config, """{ "Gateway": { "Id": "gw-1" } }""");
            File.WriteAllText(Path.Combine(dir, "secrets.json"), "{\n \"Devices\": [ { \"Password\": \"x\" ]\n}");
            var e = Assert.Throws<GatewayConfigurationException>(() => GatewayConfiguration.Build(config, demo: false));
            Assert.Contains("secrets.json is not valid JSON (line 2", e.Message);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}

[Trait("Category", "Unit")]
public class HttpFeatureConfigTests
{
    private static List<string> Errors(Dictionary<string, string?> values)
    {
        values["Gateway:Id"] = "gw-1";
        var config = new ConfigurationBuilder().AddInMemoryCollection(values).Build();
        var errors = new List<string>();
        var app = Features.Build(config, new GatewayContext(false, CommandLine.Parse([]), DateTimeOffset.UnixEpoch), errors);
        (app as IDisposable)?.Dispose();
        return errors;
    }

    [Fact]
    public void HttpAndAdmin_Mistakes_AreReportedWithTheirKeys()
    {
        var errors = Errors(new()
        {
            ["Http:Port"] = "9000",
            ["Http:BindAddress"] = "not-an-ip",
            ["Http:Ptz:MaxTimeoutMs"] = "0",
            ["Http:Ptz:RatePerSecond"] = "0",
            ["Admin:Port"] = "9000",
            ["Admin:BindAddress"] = "0.0.0.0",
            ["Admin:Token"] = "short",
        });
        foreach (var key in new[] { "Http:BindAddress", "Http:Ptz:MaxTimeoutMs", "Http:Ptz:RatePerSecond", "Admin:Port", "Admin:BindAddress", "Admin:Token" })
        {
            Assert.Contains(errors, e => e.StartsWith(key, StringComparison.Ordinal));
        }
    }

    [Fact]
    public void HttpAndAdminBothDisabled_IsAnError()
    {
        var errors = Errors(new() { ["Http:Port"] = "0", ["Admin:Port"] = "0" });
        Assert.Contains(errors, e => e.StartsWith("Http:Port and Admin:Port are both 0", StringComparison.Ordinal));
    }

    [Fact]
    public void Defaults_AreValid()
    {
        Assert.Empty(Errors(new()));
    }
}

[Trait("Category", "Unit")]
public class ExampleConfigRtspTests
{
    [Fact]
    public void ExampleConfig_DocumentsEveryRtspKeyWithItsDefault()
    {
        var text = File.ReadAllText(Path.Combine(RepoPaths.Root, "config", "gateway.example.json"));
        var defaults = new HikShareGateway.Rtsp.RtspOptions();
        // The keys: settable properties (a computed one such as TlsEnabled is not configuration).
        foreach (var p in typeof(HikShareGateway.Rtsp.RtspOptions).GetProperties().Where(p => p.CanWrite))
        {
            var value = p.GetValue(defaults);
            var json = value switch
            {
                null => "null",
                string s => $"\"{s}\"",
                _ => Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture),
            };
            Assert.Contains($"\"{p.Name}\": {json}", text);
        }
    }
}
