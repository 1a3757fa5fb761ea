using System.Net;
using HikShareGateway.Tests.Infrastructure;

namespace HikShareGateway.Tests.Host;

/// <summary>
/// Issue 16 (idle RSS): the real gateway process finds FFmpeg at start and says so, but does not keep its ~400 library
/// mappings until something needs them; the first snapshot loads them.
/// </summary>
[Trait("Category", "Integration")]
public sealed class IdleMemoryTests
{
    private static bool Mapped(int pid, string library) =>
        File.ReadLines($"/proc/{pid}/maps").Any(l => l.Contains(library, StringComparison.Ordinal));

    [Fact]
    public async Task DemoGateway_AtStart_LogsFfmpegFoundWithoutKeepingItMapped_TheFirstSnapshotLoadsIt()
    {
        await using var demo = await DemoGatewayProcess.StartAsync();
        // Logged after the probe unloaded the libraries.
        await demo.WaitForOutputAsync("snapshots and transcoding available", 30_000);
        var pid = demo.Process.Id;
        Assert.False(Mapped(pid, "libavcodec.so"), "libavcodec is mapped in an idle gateway\n" + demo.Output);
        Assert.False(Mapped(pid, "libswscale.so"), "libswscale is mapped in an idle gateway");

        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{demo.HttpPort}") };
        using var response = await http.GetAsync($"/api/v1/devices/demo-nvr-1/channels/1/snapshot.jpg?width=320&token={demo.Token}");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.True(Mapped(pid, "libavcodec.so"), "a snapshot was made without libavcodec mapped?");
    }
}
