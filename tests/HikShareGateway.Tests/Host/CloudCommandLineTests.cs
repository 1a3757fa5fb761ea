using HikShareCloud;

namespace HikShareGateway.Tests.Host;

/// <summary>The command tree of <c>hikshare-cloud</c>: help on every command, unknown input refused with 64.</summary>
[Trait("Category", "Unit")]
public class CloudCommandLineTests
{
    private static async Task<(int Code, string Out, string Err)> Invoke(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        var code = await CloudTool.RunAsync(args, o, e, TextReader.Null);
        return (code, o.ToString(), e.ToString());
    }

    public static TheoryData<string> CommandNames()
    {
        var data = new TheoryData<string>();
        foreach (var c in CloudTool.Commands)
        {
            data.Add(c.Name);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(CommandNames))]
    public async Task Help_EveryCommand_ExitsZeroAndListsItsOptions(string name)
    {
        var command = CloudTool.Commands.Single(c => c.Name == name);
        var (code, output, err) = await Invoke(name, "--help");
        Assert.Equal(0, code);
        Assert.Equal("", err);
        Assert.Contains($"hikshare-cloud {name} [options]", output);
        var options = command.CreateOptions().ToList();
        Assert.NotEmpty(options);
        foreach (var o in options)
        {
            Assert.Contains(o.Name, output);
        }
    }

    [Fact]
    public async Task Help_Top_ListsEveryCommand()
    {
        var (code, output, _) = await Invoke("--help");
        Assert.Equal(0, code);
        foreach (var c in CloudTool.Commands)
        {
            Assert.Contains("  " + c.Name + " ", output);
        }
    }

    [Theory]
    [InlineData(new[] { "token", "--sbu", "bob@example.com" }, "hikshare-cloud token: unknown option \"--sbu\"")]
    [InlineData(new[] { "keygen", "--kid", "k", "--out", "f", "--forse" }, "hikshare-cloud keygen: unknown option \"--forse\"")]
    [InlineData(new[] { "serve-all" }, "hikshare-cloud: unknown command \"serve-all\"")]
    [InlineData(new string[0], "hikshare-cloud: a command is required")]
    public async Task BadCommandLine_Exits64NamingIt(string[] args, string problem)
    {
        var (code, output, err) = await Invoke(args);
        Assert.Equal(64, code);
        Assert.Equal("", output);
        var lines = err.TrimEnd().Split('\n');
        Assert.Equal(problem, lines[0]);
        Assert.Matches("^Run 'hikshare-cloud( [a-z]+)? --help' for the usage\\.$", lines[^1]);
    }

    [Fact]
    public async Task RepeatedOption_KeepsEveryValue()
    {
        var dir = Directory.CreateTempSubdirectory("hikshare-cli-").FullName;
        try
        {
            var key = Path.Combine(dir, "k.json");
            Assert.Equal(0, (await Invoke("keygen", "--kid", "k", "--out", key)).Code);
            var (code, token, err) = await Invoke("token", "--key", key, "--sub", "bob@example.com", "--aud", "gw-a", "--aud", "gw-b", "--ttl", "2m");
            Assert.True(code == 0, err);
            var payload = token.Trim().Split('.')[1];
            var json = System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(payload.PadRight(payload.Length + (4 - payload.Length % 4) % 4, '=').Replace('-', '+').Replace('_', '/')));
            Assert.Contains("\"aud\":[\"gw-a\",\"gw-b\"]", json);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
