using HikShareGateway.Tests.Infrastructure;

namespace HikShareGateway.Tests.Fuzz;

/// <summary>
/// A short afl++ run of every fuzz target (scripts/fuzz.sh; the long runs are done by hand, see docs): the harness builds,
/// instruments, gets coverage, and no target crashes or hangs on what a few seconds of fuzzing find.
/// </summary>
[Trait("Category", "Integration")]
public sealed class FuzzSmokeTests
{
    [Fact]
    public async Task EveryTarget_ShortAflRun_FindsCoverageAndNoCrashOrHang()
    {
        var root = RepoRoot();
        var run = await ToolRunner.RunAsync("bash", [Path.Combine(root, "scripts", "fuzz.sh"), "--seconds", "3"], TimeSpan.FromMinutes(12));
        Assert.True(run.ExitCode == 0, $"fuzz.sh exited {run.ExitCode}\n{run.Stdout}\n{run.Stderr}");
        var rows = run.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Skip(1)
            .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)).Where(c => c.Length == 6).ToList();
        Assert.Equal(["rtsp", "sdp", "transport", "rtp", "viewer-path", "auth-header", "soap", "grants", "jws-token", "ptz", "stun", "sdp-offer", "rtcp", "srtp", "dtls-record"], rows.Select(r => r[0]));
        Assert.All(rows, r =>
        {
            Assert.True(long.Parse(r[1]) > 100, $"{r[0]}: only {r[1]} executions");
            Assert.True(int.Parse(r[3]) > 1, $"{r[0]}: no coverage beyond the seeds ({r[3]} paths)");
            Assert.Equal("0", r[4]);
            Assert.Equal("0", r[5]);
        });
    }

    private static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "HikShareGateway.sln")))
        {
            dir = dir.Parent;
        }
        return dir?.FullName ?? throw new InvalidOperationException("no HikShareGateway.sln above " + AppContext.BaseDirectory);
    }
}
