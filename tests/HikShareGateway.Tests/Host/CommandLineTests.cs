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

/// <summary>The command tree of <c>hikshare-gateway</c> (System.CommandLine): help everywhere, unknown input refused with 64.</summary>
[Trait("Category", "Unit")]
public class GatewayCommandTreeTests
{
    private static async Task<(int Code, string Out, string Err)> Invoke(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        var code = await Commands.InvokeAsync(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    public static TheoryData<string> CommandNames()
    {
        var data = new TheoryData<string>();
        foreach (var c in Commands.All)
        {
            data.Add(c.Name);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(CommandNames))]
    public async Task Help_EveryCommand_ExitsZeroAndListsEveryOptionItReads(string name)
    {
        var command = Commands.All.Single(c => c.Name == name);
        foreach (var flag in new[] { "--help", "-h" })
        {
            var (code, output, err) = await Invoke(name, flag);
            Assert.Equal(0, code);
            Assert.Equal("", err);
            Assert.Contains($"hikshare-gateway {name} [options]", output);
            Assert.Contains("--config <FILE>", output);
            Assert.Contains("--help", output);
            foreach (var o in command.CreateOptions())
            {
                Assert.Contains(o.Name, output);
            }
        }
    }

    [Fact]
    public async Task Help_Top_ListsEveryCommandAndConfig()
    {
        var (code, output, _) = await Invoke("--help");
        Assert.Equal(0, code);
        Assert.Contains("--config <FILE>", output);
        Assert.Contains("--version", output);
        foreach (var c in Commands.All)
        {
            Assert.Contains("  " + c.Name + " ", output);
        }
    }

    [Fact]
    public async Task Help_Discover_ListsEveryOptionDiscoverReads()
    {
        var (_, output, _) = await Invoke("discover", "--help");
        foreach (var o in new[] { "--wait <SECONDS>", "--user <USER>", "--password <PASSWORD>", "--interface <IP>", "--port <PORT>", "--url <URL>" })
        {
            Assert.Contains(o, output);
        }
    }

    [Theory]
    [InlineData(new[] { "--confg", "x.json" }, "hikshare-gateway: unknown option \"--confg\"")]
    [InlineData(new[] { "run", "--confg", "x.json" }, "hikshare-gateway run: unknown option \"--confg\"")]
    [InlineData(new[] { "status", "--wait", "3" }, "hikshare-gateway status: unknown option \"--wait\"")]
    [InlineData(new[] { "discover", "--usr", "admin" }, "hikshare-gateway discover: unknown option \"--usr\"")]
    [InlineData(new[] { "frobnicate" }, "hikshare-gateway: unknown command \"frobnicate\"")]
    [InlineData(new[] { "discover", "stray" }, "hikshare-gateway discover: unexpected argument \"stray\"")]
    [InlineData(new[] { "--config" }, "hikshare-gateway: option \"--config\" needs a value (--config FILE)")]
    public async Task BadCommandLine_Exits64WithOneLineNamingIt_AndTheHelpHint(string[] args, string problem)
    {
        var (code, output, err) = await Invoke(args);
        Assert.Equal(64, code);
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Equal("", output);
        var lines = err.TrimEnd().Split('\n');
        Assert.Equal(2, lines.Length);
        Assert.StartsWith(problem.Split(':')[0], lines[0]);
        Assert.Contains(problem, lines[0]);
        Assert.Matches("^Run 'hikshare-gateway( [a-z]+)? --help' for the usage\\.$", lines[1]);
    }

    [Fact]
    public async Task BadCommandLine_ControlCharactersInTheToken_AreNotEchoed()
    {
        var (code, _, err) = await Invoke("--conf\u001b[2Jig");
        Assert.Equal(64, code);
        Assert.DoesNotContain('\u001b', err);
    }

    [Fact]
    public async Task Version_CommandAndOption_PrintTheVersion()
    {
        var a = await Invoke("version");
        var b = await Invoke("--version");
        Assert.Equal(0, a.Code);
        Assert.Equal(0, b.Code);
        Assert.Matches("^hikshare-gateway [0-9]+\\.[0-9]+\\.[0-9]+", a.Out);
        Assert.Equal(a.Out, b.Out);
    }

    [Fact]
    public void Parse_ConfigBeforeOrAfterTheCommand_IsTheSame()
    {
        var before = CommandLine.Parse(["--config", "/etc/x.json", "status"]);
        var after = CommandLine.Parse(["status", "--config", "/etc/x.json"]);
        Assert.Equal("status", before.Command);
        Assert.Equal("/etc/x.json", before.ConfigPath);
        Assert.Equal(after.ConfigPath, before.ConfigPath);
        Assert.Empty(before.Options);
    }

    [Fact]
    public void Parse_DiscoverOptions_ReachTheCommandByName()
    {
        var cli = CommandLine.Parse(["discover", "--wait", "2", "--user", "admin", "--password=pw", "--interface", "192.0.2.1", "--port", "3703", "--url", "http://192.0.2.10/onvif/device_service"]);
        Assert.Equal("discover", cli.Command);
        Assert.Equal("2", cli.Options["wait"]);
        Assert.Equal("admin", cli.Options["user"]);
        Assert.Equal("pw", cli.Options["password"]);
        Assert.Equal("192.0.2.1", cli.Options["interface"]);
        Assert.Equal("3703", cli.Options["port"]);
        Assert.Equal("http://192.0.2.10/onvif/device_service", cli.Options["url"]);
    }

    [Fact]
    public void Parse_OptionGivenTwice_LastCounts()
    {
        var cli = CommandLine.Parse(["discover", "--wait", "1", "--config", "a.json", "--wait", "5", "--config", "b.json"]);
        Assert.Equal("5", cli.Options["wait"]);
        Assert.Equal("b.json", cli.ConfigPath);
    }

    [Fact]
    public void Parse_FlagSetToFalse_IsNotGiven()
    {
        Assert.False(CommandLine.Parse(["status", "--json", "false"]).Options.ContainsKey("json"));
        Assert.True(CommandLine.Parse(["status", "--json"]).Options.ContainsKey("json"));
    }
}

/// <summary>The built executable, as systemd and installers run it: the exit code is the process's.</summary>
[Trait("Category", "Integration")]
public class GatewayExecutableCommandLineTests
{
    [Fact]
    public async Task Executable_MisspelledConfigOption_Exits64WithoutStarting()
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "hikshare-gateway.dll");
        var run = await HikShareGateway.Tests.Infrastructure.ToolRunner.RunAsync("dotnet", [dll, "--confg", "x.json"], TimeSpan.FromSeconds(60));
        Assert.False(run.TimedOut);
        Assert.Equal(64, run.ExitCode);
        Assert.StartsWith("hikshare-gateway: unknown option \"--confg\"", run.Stderr);
        Assert.Equal("", run.Stdout);
    }
}
