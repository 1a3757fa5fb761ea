namespace HikShareCloud.Service.Tests;

[Trait("Category", "Unit")]
public sealed class ServeCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("hikshare-serve-config-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Config(string json)
    {
        var file = Path.Combine(_dir, "sharing.json");
        File.WriteAllText(file, json);
        return file;
    }

    [Fact]
    public void LoadOptions_SharingSection_BoundWithListsAndNestedSmtp()
    {
        var file = Config("""
            { "Sharing": { "StateDirectory": "/tmp/x", "SigningKeyFiles": ["/k/a.json", "/k/b.json"], "Broker": "mqtts://broker.example:8883",
                           "Smtp": { "Host": "mail.example", "Port": 587, "Tls": true, "From": "noreply@example.com" }, "ViewerTokenMinutes": 5 } }
            """);
        Assert.True(ServeCommand.LoadOptions(file, out var o, out var errors), string.Join("; ", errors));
        Assert.Equal(["/k/a.json", "/k/b.json"], o!.SigningKeyFiles);
        Assert.Equal(("mail.example", 587, true), (o.Smtp!.Host, o.Smtp.Port, o.Smtp.Tls));
        Assert.Equal(5, o.ViewerTokenMinutes);
        Assert.Equal(600_000, o.PasswordIterations);
    }

    [Fact]
    public void LoadOptions_SeveralMistakes_AllReportedAtOnce()
    {
        var file = Config("""{ "Sharing": { "Broker": "http://nope", "PasswordIterations": 1000, "ViewerTokenMinutes": 600 } }""");
        Assert.False(ServeCommand.LoadOptions(file, out _, out var errors));
        Assert.Contains(errors, e => e.Contains("Sharing:Broker"));
        Assert.Contains(errors, e => e.Contains("Sharing:PasswordIterations"));
        Assert.Contains(errors, e => e.Contains("Sharing:ViewerTokenMinutes"));
        Assert.Contains(errors, e => e.Contains("Sharing:SigningKeyFiles"));
        Assert.Contains(errors, e => e.Contains("Sharing:Smtp or Sharing:SmsWebhook"));
    }

    [Fact]
    public void LoadOptions_UnknownKey_NamedInTheError()
    {
        var file = Config("""{ "Sharing": { "Brokr": "mqtt://127.0.0.1:1883" } }""");
        Assert.False(ServeCommand.LoadOptions(file, out _, out var errors));
        Assert.Contains("Brokr", Assert.Single(errors));
    }

    [Fact]
    public async Task Run_MissingKeyFile_Exit78WithTheFix()
    {
        var file = Config($$"""{ "Sharing": { "StateDirectory": "{{_dir}}/state", "SigningKeyFiles": ["{{_dir}}/missing.json"], "SmsWebhook": "http://127.0.0.1:9/" } }""");
        var stderr = new StringWriter();
        Assert.Equal(78, await ServeCommand.RunAsync(file, TextWriter.Null, stderr));
        Assert.Contains("hikshare-cloud keygen", stderr.ToString());
    }
}
