using System.Diagnostics;

namespace HikShareGateway.Tests.Ops;

[System.Runtime.Versioning.SupportedOSPlatform("linux")]
[Trait("Category", "Integration")]
public class SystemdUnitTests
{
    internal static string RepoRoot() => RepoPaths.Root;

    private static string Unit => Path.Combine(RepoRoot(), "systemd", "hikshare-gateway.service");

    private static Dictionary<string, List<string>> Settings()
    {
        var d = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var raw in File.ReadAllLines(Unit))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line[0] is '#' or ';' or '[')
            {
                continue;
            }
            var eq = line.IndexOf('=');
            var key = line[..eq];
            (d.TryGetValue(key, out var l) ? l : d[key] = []).Add(line[(eq + 1)..]);
        }
        return d;
    }

    internal static async Task<(int Code, string Out, string Err)> RunAsync(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        Process p;
        try
        {
            p = Process.Start(psi)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException($"{file} is not installed ({e.Message}): run scripts/prereqs.sh", e);
        }
        using (p)
        {
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            try
            {
                await p.WaitForExitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                p.Kill(entireProcessTree: true);
                throw;
            }
            return (p.ExitCode, await stdout, await stderr);
        }
    }

    [Fact]
    public async Task Unit_SystemdAnalyzeVerify_IsClean()
    {
        // verify insists that ExecStart's binary exists: check a copy whose ExecStart points at a stand-in.
        var dir = Directory.CreateTempSubdirectory("hikshare-unit-").FullName;
        try
        {
            var standIn = Path.Combine(dir, "hikshare-gateway");
            File.WriteAllText(standIn, "#!/bin/sh\nexit 0\n");
            File.SetUnixFileMode(standIn, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            var text = File.ReadAllText(Unit);
            Assert.Contains("ExecStart=/opt/hikshare-gateway/hikshare-gateway --config /etc/hikshare-gateway/gateway.json", text);
            var copy = Path.Combine(dir, "hikshare-gateway.service");
            File.WriteAllText(copy, text.Replace("/opt/hikshare-gateway/hikshare-gateway", standIn, StringComparison.Ordinal));

            var (code, output, error) = await RunAsync("systemd-analyze", "verify", copy);
            Assert.True(code == 0 && error.Trim().Length == 0 && output.Trim().Length == 0,
                $"systemd-analyze verify exit {code}:\n{output}\n{error}");
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public async Task Unit_SystemdAnalyzeSecurity_ExposureIsLow()
    {
        var dir = Directory.CreateTempSubdirectory("hikshare-unit-").FullName;
        try
        {
            var copy = Path.Combine(dir, "hikshare-gateway.service");
            File.Copy(Unit, copy);
            var (code, output, error) = await RunAsync("systemd-analyze", "security", "--offline=yes", "--no-pager", copy);
            Assert.True(code == 0, output + error);
            var match = System.Text.RegularExpressions.Regex.Match(output + error, @"Overall exposure level for hikshare-gateway\.service: (\d+\.\d+)");
            Assert.True(match.Success, output + error);
            var exposure = double.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            // 0 = fully locked down, 10 = unprotected; "OK" is below 3 in systemd's scale.
            Assert.True(exposure < 2.5, $"exposure {exposure}:\n{output}");
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void Unit_HasNotifyWatchdogRestartPolicyAndHardening()
    {
        var s = Settings();
        string One(string key) => Assert.Single(s[key]);
        Assert.Equal("notify", One("Type"));
        Assert.Equal("30s", One("WatchdogSec"));
        Assert.Equal("on-failure", One("Restart"));
        Assert.Equal("78", One("RestartPreventExitStatus"));
        Assert.Equal("yes", One("DynamicUser"));
        Assert.Equal("hikshare-gateway", One("StateDirectory"));
        Assert.Equal("hikshare-gateway", One("ConfigurationDirectory"));
        Assert.Equal("", One("CapabilityBoundingSet"));
        Assert.Equal("AF_UNIX AF_INET AF_INET6 AF_NETLINK", One("RestrictAddressFamilies"));
        foreach (var yes in new[] { "NoNewPrivileges", "ProtectHome", "PrivateTmp", "ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs", "ProtectControlGroups", "LockPersonality" })
        {
            Assert.Equal("yes", One(yes));
        }
        Assert.Equal("strict", One("ProtectSystem"));
        // The .NET JIT writes code into executable memory: W^X enforcement would kill the daemon.
        Assert.False(s.ContainsKey("MemoryDenyWriteExecute"));
        Assert.StartsWith("secrets.json:/etc/hikshare-gateway/secrets.json", One("LoadCredential"));
    }
}

internal static class RepoPaths
{
    public static string Root { get; } = Find();

    private static string Find()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "HikShareGateway.sln")))
        {
            dir = dir.Parent;
        }
        return dir?.FullName ?? throw new InvalidOperationException("the repository root (HikShareGateway.sln) is not above " + AppContext.BaseDirectory);
    }
}
