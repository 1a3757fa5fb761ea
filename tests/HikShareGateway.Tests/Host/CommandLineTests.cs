using HikShareGateway;

namespace HikShareGateway.Tests.Host;

[Trait("Category", "Unit")]
public class CommandLineTests
{
    [Fact]
    public void Parse_NoArguments_RunsDaemon()
    {
        var cli = CommandLine.Parse([]);
        Assert.Equal("run", cli.Command);
        Assert.Null(cli.ConfigPath);
    }

    [Fact]
    public void Parse_CommandAndConfig_AreRecognised()
    {
        var cli = CommandLine.Parse(["status", "--config", "/etc/x.json", "--json"]);
        Assert.Equal("status", cli.Command);
        Assert.Equal("/etc/x.json", cli.ConfigPath);
        Assert.True(cli.Options.ContainsKey("json"));
    }

    [Fact]
    public void Parse_UnknownCommand_Throws()
    {
        var e = Assert.Throws<CommandLineException>(() => CommandLine.Parse(["frobnicate"]));
        Assert.Contains("frobnicate", e.Message);
    }

    [Fact]
    public void Parse_ConfigWithoutFile_Throws()
    {
        Assert.Throws<CommandLineException>(() => CommandLine.Parse(["--config"]));
    }
}
