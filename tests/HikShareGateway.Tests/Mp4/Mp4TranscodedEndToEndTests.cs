using System.Net;
using System.Text.Json;
using HikShareGateway.Composition;
using HikShareGateway.Tests.Infrastructure;
using Microsoft.Playwright;

namespace HikShareGateway.Tests.Mp4;

/// <summary>
/// Live fMP4 of an H.265 camera (gst-rtsp-server, x265enc) for a viewer without H.265: <c>?codec=h264</c> serves it
/// through the shared H.264 transcoder. Debian's Chromium (no hvc1 in MSE) plays it; ffprobe reads avc1; without the
/// parameter the stream comes as it is (hvc1); no transcoder free gives 503 with the reason.
/// </summary>
[Trait("Category", "Integration")]
public sealed class Mp4TranscodedEndToEndTests
{
    private static Dictionary<string, string> Environment(GstRtspCamera camera, string maxTranscoders) => new()
    {
        // The demo recorder takes the main URL's port: the H.265 camera is the channel's sub stream.
        ["HIKSHARE_Devices__0__Channels__0__Sub"] = camera.Url().ToString(),
        ["HIKSHARE_Devices__0__Username"] = "admin",
        ["HIKSHARE_Devices__0__Password"] = "Gst-Pa55",
        ["HIKSHARE_Media__MaxTranscoders"] = maxTranscoders,
        ["HIKSHARE_Media__TranscodeMaxWidth"] = "640",
    };

    private static Task<GstRtspCamera> H265CameraAsync() =>
        GstRtspCamera.StartAsync(new GstCameraOptions { Codec = GstVideoCodec.H265, Backchannel = false, User = "admin", Password = "Gst-Pa55" });

    [Fact]
    public async Task H265Camera_CodecH264_ChromiumWithoutHevcPlaysIt_FfprobeReadsAvc1_TwoViewersOneTranscoder()
    {
        await using var camera = await H265CameraAsync();
        await using var demo = await DemoGatewayProcess.StartAsync(Environment(camera, "1"));
        var url = $"http://127.0.0.1:{demo.HttpPort}/api/v1/live/{DemoDefaults.DeviceId}/1/sub.mp4?token={demo.Token}&codec=h264";

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = "/usr/bin/chromium",
            Args = ["--no-sandbox", "--autoplay-policy=no-user-gesture-required"],
        });
        var page = await browser.NewPageAsync();
        // Why the parameter is needed: this browser cannot play the camera's own stream.
        Assert.False(await page.EvaluateAsync<bool>("() => MediaSource.isTypeSupported('video/mp4; codecs=\"hvc1.1.6.L93.B0\"')"));
        await page.SetContentAsync($"<!doctype html><video id=\"v\" muted autoplay playsinline src=\"{url}\"></video>");
        await page.WaitForFunctionAsync("() => document.getElementById('v').currentTime > 2", null, new PageWaitForFunctionOptions { Timeout = 60_000 });
        var state = await page.EvaluateAsync<JsonElement>(
            "() => { const v = document.getElementById('v'); return { w: v.videoWidth, h: v.videoHeight, frames: v.getVideoPlaybackQuality().totalVideoFrames, error: v.error ? v.error.message : null }; }");
        Assert.Equal(640, state.GetProperty("w").GetInt32());
        Assert.Equal(360, state.GetProperty("h").GetInt32());
        Assert.True(state.GetProperty("frames").GetInt32() >= 25, state.ToString());
        Assert.Equal(JsonValueKind.Null, state.GetProperty("error").ValueKind);

        // A second viewer while Chromium still plays: the same transcoder (Media:MaxTranscoders = 1 would refuse another).
        var run = await ToolRunner.RunAsync("ffprobe", ["-v", "error", "-show_streams", "-show_entries", "packet=pts_time", "-read_intervals", "%+#50",
            "-of", "json", url], TimeSpan.FromSeconds(60));
        Assert.True(run.ExitCode == 0, run.ToString() + demo.Output);
        using var json = JsonDocument.Parse(run.Stdout);
        var video = json.RootElement.GetProperty("streams").EnumerateArray().Single(s => s.GetProperty("codec_type").GetString() == "video");
        Assert.Equal("h264", video.GetProperty("codec_name").GetString());
        Assert.Equal("avc1", video.GetProperty("codec_tag_string").GetString());
        Assert.Equal(640, video.GetProperty("width").GetInt32());
        Assert.True(json.RootElement.GetProperty("packets").GetArrayLength() >= 50, run.Stdout);
        Assert.True(await page.EvaluateAsync<bool>("() => !document.getElementById('v').error"));
    }

    [Fact]
    public async Task H265Camera_NoCodecParameter_ServedAsHvc1_CodecH264WithNoTranscoderFree_503WithReason_OtherCodec_400()
    {
        await using var camera = await H265CameraAsync();
        await using var demo = await DemoGatewayProcess.StartAsync(Environment(camera, "0"));
        var url = $"http://127.0.0.1:{demo.HttpPort}/api/v1/live/{DemoDefaults.DeviceId}/1/sub.mp4?token={demo.Token}";
        using var http = new HttpClient();

        using (var asIs = await http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead))
        {
            Assert.Equal(HttpStatusCode.OK, asIs.StatusCode);
            Assert.Contains("hvc1", asIs.Content.Headers.GetValues("Content-Type").Single());
        }
        using (var refused = await http.GetAsync(url + "&codec=h264"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
            Assert.Equal("application/problem+json", refused.Content.Headers.ContentType?.MediaType);
            Assert.Contains("Media:MaxTranscoders", await refused.Content.ReadAsStringAsync());
        }
        using (var bad = await http.GetAsync(url + "&codec=vp9"))
        {
            Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        }
        // The demo recorder's H.264 main stream is served as it is with codec=h264: nothing to transcode, no 503.
        using var h264 = await http.GetAsync($"http://127.0.0.1:{demo.HttpPort}/api/v1/live/{DemoDefaults.DeviceId}/1/main.mp4?token={demo.Token}&codec=h264",
            HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, h264.StatusCode);
        Assert.Contains("avc1", h264.Content.Headers.GetValues("Content-Type").Single());
        await demo.WaitForOutputAsync("no transcoder");
    }
}
