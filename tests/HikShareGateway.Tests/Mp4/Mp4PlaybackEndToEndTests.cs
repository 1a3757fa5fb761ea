using System.Net;
using System.Text.Json;
using HikShareGateway.Composition;
using HikShareGateway.Tests.Infrastructure;
using HikShareGateway.Tests.Playback;

namespace HikShareGateway.Tests.Mp4;

/// <summary>
/// <c>GET /api/v1/playback/{deviceId}/{channel}.mp4?start=…&amp;end=…</c> against the real gateway process, the demo
/// device's playback pointing at gst-rtsp-server replaying a 10 s recording (25 fps, 320x240, H.264).
/// </summary>
[Trait("Category", "Integration")]
[Collection(PlaybackRecorderCollection.Name)]
public sealed class Mp4PlaybackEndToEndTests(PlaybackRecorder recorder)
{
    [Fact]
    public async Task PlaybackMp4WithEnd_IsAnAttachment_EndsWithTheRecording_FfprobeReadsEveryFrameInOrder()
    {
        await using var demo = await DemoGatewayProcess.StartAsync(new Dictionary<string, string> { ["HIKSHARE_Devices__0__Channels__0__Playback"] = recorder.Template });
        var baseUrl = $"http://127.0.0.1:{demo.HttpPort}/api/v1/playback/{DemoDefaults.DeviceId}/1.mp4";
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(90) };

        Assert.Equal(HttpStatusCode.BadRequest, (await http.GetAsync(baseUrl + "?token=" + demo.Token)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync(baseUrl + "?start=20261125T100000Z")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await http.GetAsync($"http://127.0.0.1:{demo.HttpPort}/api/v1/playback/{DemoDefaults.DeviceId}/2.mp4?start=20261125T100000Z&token={demo.Token}")).StatusCode);

        using var response = await http.GetAsync(baseUrl + "?start=20261125T100000Z&end=20261125T100010Z&token=" + demo.Token, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("attachment", response.Content.Headers.ContentDisposition?.DispositionType);
        Assert.Equal("demo-nvr-1-1-20261125T100000Z-20261125T100010Z.mp4", response.Content.Headers.ContentDisposition?.FileNameStar);
        Assert.StartsWith("video/mp4; codecs=\"avc1.", response.Content.Headers.GetValues("Content-Type").Single());
        var file = Path.Combine(Path.GetTempPath(), "hikshare-mp4-download-" + Guid.NewGuid().ToString("N")[..8] + ".mp4");
        try
        {
            await using (var body = await response.Content.ReadAsStreamAsync())
            await using (var out_ = File.Create(file))
            {
                // Ends by itself when the recording has played out.
                await body.CopyToAsync(out_).WaitAsync(TimeSpan.FromSeconds(60));
            }
            var run = await ToolRunner.RunAsync("ffprobe", ["-v", "error", "-show_streams", "-show_entries", "packet=pts_time,flags", "-of", "json", file], TimeSpan.FromSeconds(30));
            Assert.True(run.ExitCode == 0, run.ToString());
            using var json = JsonDocument.Parse(run.Stdout);
            var video = json.RootElement.GetProperty("streams").EnumerateArray().Single(s => s.GetProperty("codec_type").GetString() == "video");
            Assert.Equal("h264", video.GetProperty("codec_name").GetString());
            Assert.Equal(320, video.GetProperty("width").GetInt32());
            var times = json.RootElement.GetProperty("packets").EnumerateArray()
                .Select(p => double.Parse(p.GetProperty("pts_time").GetString()!, System.Globalization.CultureInfo.InvariantCulture)).ToList();
            // 10 s at 25 fps; the replay may lose the very last frame to the end of the session.
            Assert.InRange(times.Count, 240, 251);
            Assert.StartsWith("K", json.RootElement.GetProperty("packets")[0].GetProperty("flags").GetString());
            for (var i = 1; i < times.Count; i++)
            {
                Assert.True(times[i] > times[i - 1], $"pts {times[i]} after {times[i - 1]} at packet {i}");
            }
            await demo.WaitForOutputAsync("Audit end playback session mp4-");
        }
        finally
        {
            File.Delete(file);
        }
    }
}
