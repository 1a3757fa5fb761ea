using System.Runtime.Versioning;

namespace HikShareGateway.Tests.Ops;

[SupportedOSPlatform("linux")]
[Trait("Category", "Integration")]
public sealed class InstallScriptTests : IDisposable
{
    private readonly string _destdir = Directory.CreateTempSubdirectory("hikshare-install-").FullName;

    public void Dispose() => Directory.Delete(_destdir, true);

    /// <summary>The host's own build output (same configuration as these tests), used with --from instead of a publish.</summary>
    private static string HostBuildOutput()
    {
        var configuration = new DirectoryInfo(Path.TrimEndingDirectorySeparator(AppContext.BaseDirectory)).Parent!.Name; // …/bin/{Configuration}/net10.0/
        var dir = Path.Combine(RepoPaths.Root, "src", "HikShareGateway", "bin", configuration, "net10.0");
        Assert.True(File.Exists(Path.Combine(dir, "hikshare-gateway")), $"the host is not built in {dir}");
        return dir;
    }

    private async Task<(int Code, string Out, string Err)> RunScriptAsync(string script, IDictionary<string, string>? env = null, params string[] args)
    {
        var psi = new System.Diagnostics.ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Path.Combine(RepoPaths.Root, "scripts", script));
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        psi.Environment["DESTDIR"] = _destdir;
        foreach (var (k, v) in env ?? new Dictionary<string, string>())
        {
            psi.Environment[k] = v;
        }
        using var p = System.Diagnostics.Process.Start(psi)!;
        var o = p.StandardOutput.ReadToEndAsync();
        var e = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await p.WaitForExitAsync(cts.Token);
        return (p.ExitCode, await o, await e);
    }

    private string In(string path) => _destdir + path;

    private static UnixFileMode Mode(string path) => File.GetUnixFileMode(path);

    [Fact]
    public async Task Install_IntoDestdir_LaysOutProgramConfigSecretsAndUnit()
    {
        var (code, output, error) = await RunScriptAsync("install.sh", null, "--from", HostBuildOutput());
        Assert.True(code == 0, output + error);

        var program = In("/opt/hikshare-gateway/hikshare-gateway");
        Assert.True(File.Exists(program));
        Assert.Equal((UnixFileMode)0b111_101_101, Mode(program)); // 0755
        Assert.False(Directory.EnumerateFiles(In("/opt/hikshare-gateway"), "*.pdb").Any());
        Assert.True(File.Exists(In("/opt/hikshare-gateway/docs/installer-guide.md")));
        Assert.Equal("/opt/hikshare-gateway/hikshare-gateway", new FileInfo(In("/usr/local/bin/hikshare-gateway")).LinkTarget);

        var config = In("/etc/hikshare-gateway/gateway.json");
        Assert.Equal(File.ReadAllText(Path.Combine(RepoPaths.Root, "config", "gateway.example.json")), File.ReadAllText(config));
        Assert.Equal((UnixFileMode)0b110_100_100, Mode(config)); // 0644: no secrets in it
        var secrets = In("/etc/hikshare-gateway/secrets.json");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, Mode(secrets)); // 0600
        Assert.True(File.Exists(In("/etc/hikshare-gateway/gateway.example.json")));

        var unit = File.ReadAllText(In("/etc/systemd/system/hikshare-gateway.service"));
        Assert.Contains("ExecStart=/opt/hikshare-gateway/hikshare-gateway --config /etc/hikshare-gateway/gateway.json", unit);
        Assert.Contains("not calling systemctl", output);

        // The installed program runs.
        var (vcode, vout, verr) = await SystemdUnitTests.RunAsync(program, "version");
        Assert.True(vcode == 0, verr);
        Assert.StartsWith("hikshare-gateway ", vout);
    }

    [Fact]
    public async Task Install_Again_KeepsTheInstallersConfigAndSecrets()
    {
        Assert.Equal(0, (await RunScriptAsync("install.sh", null, "--from", HostBuildOutput())).Code);
        File.WriteAllText(In("/etc/hikshare-gateway/gateway.json"), "{ \"Gateway\": { \"Id\": \"gw-mine\" } }");
        File.WriteAllText(In("/etc/hikshare-gateway/secrets.json"), "{ \"Devices\": [ { \"Password\": \"pw\" } ] }");
        File.SetUnixFileMode(In("/etc/hikshare-gateway/secrets.json"), (UnixFileMode)0b110_100_100);

        var (code, output, error) = await RunScriptAsync("install.sh", null, "--from", HostBuildOutput());
        Assert.True(code == 0, output + error);
        Assert.Contains("gw-mine", File.ReadAllText(In("/etc/hikshare-gateway/gateway.json")));
        Assert.Contains("\"pw\"", File.ReadAllText(In("/etc/hikshare-gateway/secrets.json")));
        // A too-open secrets file is closed again.
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, Mode(In("/etc/hikshare-gateway/secrets.json")));
    }

    [Fact]
    public async Task Install_CustomPrefix_UnitFollowsIt()
    {
        var env = new Dictionary<string, string> { ["PREFIX"] = "/usr/lib/hikshare", ["SYSCONFDIR"] = "/etc/hikshare" };
        var (code, output, error) = await RunScriptAsync("install.sh", env, "--from", HostBuildOutput());
        Assert.True(code == 0, output + error);
        var unit = File.ReadAllText(In("/etc/systemd/system/hikshare-gateway.service"));
        Assert.Contains("ExecStart=/usr/lib/hikshare/hikshare-gateway --config /etc/hikshare/gateway.json", unit);
        Assert.Contains("LoadCredential=secrets.json:/etc/hikshare/secrets.json", unit);
        Assert.True(File.Exists(In("/usr/lib/hikshare/hikshare-gateway")));
    }

    [Fact]
    public async Task Uninstall_KeepsStateAndConfigUnlessPurge()
    {
        Assert.Equal(0, (await RunScriptAsync("install.sh", null, "--from", HostBuildOutput())).Code);
        Directory.CreateDirectory(In("/var/lib/hikshare-gateway"));
        File.WriteAllText(In("/var/lib/hikshare-gateway/grants.json"), "{}");

        var (code, output, error) = await RunScriptAsync("uninstall.sh");
        Assert.True(code == 0, output + error);
        Assert.False(Directory.Exists(In("/opt/hikshare-gateway")));
        Assert.False(File.Exists(In("/etc/systemd/system/hikshare-gateway.service")));
        Assert.False(File.Exists(In("/usr/local/bin/hikshare-gateway")) || new FileInfo(In("/usr/local/bin/hikshare-gateway")).LinkTarget is not null);
        Assert.True(File.Exists(In("/var/lib/hikshare-gateway/grants.json")));
        Assert.True(File.Exists(In("/etc/hikshare-gateway/gateway.json")));

        Assert.Equal(0, (await RunScriptAsync("uninstall.sh", null, "--purge")).Code);
        Assert.False(Directory.Exists(In("/var/lib/hikshare-gateway")));
        Assert.False(Directory.Exists(In("/etc/hikshare-gateway")));
    }

    [Fact]
    public async Task Install_FromDirWithoutProgram_FailsClearly()
    {
        var empty = Directory.CreateDirectory(Path.Combine(_destdir, "empty")).FullName;
        var (code, _, error) = await RunScriptAsync("install.sh", null, "--from", empty);
        Assert.Equal(1, code);
        Assert.Contains("hikshare-gateway is missing", error);
    }
}
