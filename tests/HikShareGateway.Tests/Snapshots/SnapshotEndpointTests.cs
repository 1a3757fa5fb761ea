using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using HikShareGateway.Tests.Infrastructure;

namespace HikShareGateway.Tests.Snapshots;

/// <summary>
/// The real gateway process (demo defaults) answering <c>…/snapshot.jpg</c> (contract §5.3): JPEG for the demo viewer,
/// 401/403/404 as for live view, and with the FFmpeg libraries out of reach a gateway that still serves RTSP, says so
/// once at start and answers snapshots 503.
/// </summary>
[Trait("Category", "Integration")]
public sealed class SnapshotEndpointTests
{
    private static string SnapshotPath(string device = "demo-nvr-1", string channel = "1", string query = "") =>
        $"/api/v1/devices/{device}/channels/{channel}/snapshot.jpg{query}";

    [Fact]
    public async Task FfmpegLibrariesMissing_GatewayServesRtspWithOneWarning_SnapshotIs503()
    {
        var empty = Directory.CreateTempSubdirectory("hikshare-no-ffmpeg-");
        try
        {
            await using var demo = await DemoGatewayProcess.StartAsync(new Dictionary<string, string> { ["HIKSHARE_Media__FfmpegLibraryDirectory"] = empty.FullName });
            await demo.WaitForOutputAsync("snapshots and transcoding are off");
            var warnings = demo.Output.Split('\n').Count(l => l.Contains("FFmpeg 5.1 libraries not found: snapshots and transcoding are off", StringComparison.Ordinal));
            Assert.True(warnings == 1, demo.Output);

            // RTSP is unaffected: the printed viewer URL plays.
            var probe = await Ffprobe.CountPacketsAsync(demo.ViewerUrl, packets: 10, timeout: TimeSpan.FromSeconds(30));
            Assert.True(probe.VideoPackets >= 10, probe + "\n" + demo.Output);

            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{demo.HttpPort}") };
            using var response = await http.GetAsync(SnapshotPath(query: "?token=" + demo.Token));
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            Assert.Equal("urn:hikshare:problem:snapshots-unavailable", problem.RootElement.GetProperty("type").GetString());
            Assert.Contains("FFmpeg", problem.RootElement.GetProperty("detail").GetString());
        }
        finally
        {
            empty.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task DemoGateway_Snapshot_JpegOfRequestedWidth_ByQueryTokenOrBearer_And401_403_404_400AsForLiveView()
    {
        await using var demo = await DemoGatewayProcess.StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{demo.HttpPort}") };

        using (var byQuery = await http.GetAsync(SnapshotPath(query: "?width=320&token=" + demo.Token)))
        {
            Assert.Equal(HttpStatusCode.OK, byQuery.StatusCode);
            Assert.Equal("image/jpeg", byQuery.Content.Headers.ContentType?.MediaType);
            await AssertJpegAsync(await byQuery.Content.ReadAsByteArrayAsync(), 320, 180);
        }
        using (var request = new HttpRequestMessage(HttpMethod.Get, SnapshotPath(query: "?stream=sub")))
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", demo.Token);
            using var byBearer = await http.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, byBearer.StatusCode);
            Assert.True((await byBearer.Content.ReadAsByteArrayAsync()).Length > 1000);
        }

        await AssertProblemAsync(http, SnapshotPath(), HttpStatusCode.Unauthorized, "unauthorized");
        await AssertProblemAsync(http, SnapshotPath(query: "?token=not-a-token"), HttpStatusCode.Unauthorized, "unauthorized");
        // Unknown device and ungranted channel: 403 alike (a device's existence is not revealed).
        await AssertProblemAsync(http, SnapshotPath(device: "no-such-nvr", query: "?token=" + demo.Token), HttpStatusCode.Forbidden, "forbidden");
        await AssertProblemAsync(http, SnapshotPath(channel: "7", query: "?token=" + demo.Token), HttpStatusCode.Forbidden, "forbidden");
        // A channel that is no number can never exist: 404, as /live/{device}/x is for RTSP.
        await AssertProblemAsync(http, SnapshotPath(channel: "x", query: "?token=" + demo.Token), HttpStatusCode.NotFound, "not-found");
        await AssertProblemAsync(http, SnapshotPath(query: "?width=8&token=" + demo.Token), HttpStatusCode.BadRequest, "bad-request");
        await AssertProblemAsync(http, SnapshotPath(query: "?stream=third&token=" + demo.Token), HttpStatusCode.BadRequest, "bad-request");
        Assert.Contains("snapshot: no liveView grant", demo.Output);
        Assert.Matches(@"Audit allow liveView session \w+ account viewer@example\.com device demo-nvr-1/1 from [^:]+:\d+: snapshot", demo.Output);
    }

    [Fact]
    public async Task DemoGateway_DeviceSource_EndpointServesTheDevicesJpegAtTheAskedWidth_RefusalsNeverReachTheDevice()
    {
        await using var device = await PictureDevice.StartAsync(user: "admin", password: "demo-password");
        await using var demo = await DemoGatewayProcess.StartAsync(new Dictionary<string, string>
        {
            ["HIKSHARE_Devices__0__IsapiUrl"] = device.BaseUri.ToString(),
            ["HIKSHARE_Devices__0__SnapshotSource"] = "device",
        });
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{demo.HttpPort}") };

        using (var response = await http.GetAsync(SnapshotPath(query: "?width=320&token=" + demo.Token)))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("image/jpeg", response.Content.Headers.ContentType?.MediaType);
            Assert.Equal("device", response.Headers.GetValues("X-Snapshot-Source").Single());
            var jpeg = await response.Content.ReadAsByteArrayAsync();
            await AssertJpegAsync(jpeg, 320, 180);
            await SnapshotJpegs.AssertSmpteBarsAsync(jpeg, 320, 180, fullIntensity: false);
        }
        Assert.Equal(["/ISAPI/Streaming/channels/101/picture", "/ISAPI/Streaming/channels/101/picture"], device.Paths); // the 401, then the answer

        // 401/403/404 as for live view, decided before the device is asked.
        await AssertProblemAsync(http, SnapshotPath(), HttpStatusCode.Unauthorized, "unauthorized");
        await AssertProblemAsync(http, SnapshotPath(channel: "7", query: "?token=" + demo.Token), HttpStatusCode.Forbidden, "forbidden");
        await AssertProblemAsync(http, SnapshotPath(channel: "x", query: "?token=" + demo.Token), HttpStatusCode.NotFound, "not-found");
        Assert.Equal(2, device.Paths.Count);
    }

    private static async Task AssertProblemAsync(HttpClient http, string path, HttpStatusCode status, string slug)
    {
        using var response = await http.GetAsync(path);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"{path}: {(int)response.StatusCode} {body}");
        using var problem = JsonDocument.Parse(body);
        Assert.Equal("urn:hikshare:problem:" + slug, problem.RootElement.GetProperty("type").GetString());
    }

    private static async Task AssertJpegAsync(byte[] jpeg, int width, int height)
    {
        var path = Path.Combine(Path.GetTempPath(), "hikshare-snap-" + Guid.NewGuid().ToString("N") + ".jpg");
        await File.WriteAllBytesAsync(path, jpeg);
        try
        {
            var probe = await ToolRunner.RunAsync("ffprobe", ["-v", "error", "-show_entries", "stream=codec_name,width,height", "-of", "csv=p=0", path], TimeSpan.FromSeconds(30));
            Assert.True(probe.Succeeded, probe.ToString());
            Assert.Equal($"mjpeg,{width},{height}", probe.Stdout.Trim());
        }
        finally
        {
            File.Delete(path);
        }
    }
}
