using System.Text.Json;
using HikShareGateway.Composition;
using HikShareGateway.Tests.Infrastructure;
using Microsoft.Playwright;

namespace HikShareGateway.Tests.Mp4;

/// <summary>
/// The live fMP4 of a camera that sends AAC (gst-rtsp-server: voaacenc, rtpmp4gpay, RFC 3640 AAC-hbr): the AAC goes
/// in as it is (mp4a, which MSE plays); ffprobe reads it and ffmpeg decodes it without an error.
/// </summary>
[Trait("Category", "Integration")]
public sealed class Mp4AacEndToEndTests
{
    [Fact]
    public async Task Ffprobe_GstCameraWithAac_ReadsH264AndAacAsIs_MimeNamesMp4a_AudioDecodes()
    {
        await using var camera = await GstRtspCamera.StartAsync(new GstCameraOptions { AacAudio = true, User = "admin", Password = "Gst-Pa55", Backchannel = false });
        await using var demo = await DemoGatewayProcess.StartAsync(new Dictionary<string, string>
        {
            // The demo recorder takes the main URL's port: the gst camera is the channel's sub stream.
            ["HIKSHARE_Devices__0__Channels__0__Sub"] = camera.Url().ToString(),
            ["HIKSHARE_Devices__0__Username"] = "admin",
            ["HIKSHARE_Devices__0__Password"] = "Gst-Pa55",
        });
        var url = $"http://127.0.0.1:{demo.HttpPort}/api/v1/live/{DemoDefaults.DeviceId}/1/sub.mp4?token={demo.Token}";

        string type;
        using (var http = new HttpClient())
        using (var response = await http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead))
        {
            type = response.Content.Headers.GetValues("Content-Type").Single();
            Assert.Matches("^video/mp4; codecs=\"avc1\\.[0-9A-F]{6},mp4a\\.40\\.2\"$", type);
        }

        // Chromium's MSE takes that type, and <video> plays the stream with its AAC track.
        using (var playwright = await Playwright.CreateAsync())
        {
            await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
            {
                ExecutablePath = "/usr/bin/chromium",
                Args = ["--no-sandbox", "--autoplay-policy=no-user-gesture-required"],
            });
            var page = await browser.NewPageAsync();
            Assert.True(await page.EvaluateAsync<bool>("t => MediaSource.isTypeSupported(t)", type), type);
            await page.SetContentAsync($"<!doctype html><video id=\"v\" muted autoplay playsinline src=\"{url}\"></video>");
            await page.WaitForFunctionAsync("() => document.getElementById('v').currentTime > 2", null, new PageWaitForFunctionOptions { Timeout = 45_000 });
            Assert.True(await page.EvaluateAsync<bool>("() => !document.getElementById('v').error"));
        }

        var run = await ToolRunner.RunAsync("ffprobe", ["-v", "error", "-show_streams", "-show_entries", "packet=stream_index,pts_time", "-read_intervals", "%+#200",
            "-of", "json", url], TimeSpan.FromSeconds(60));
        Assert.True(run.ExitCode == 0, run.ToString() + demo.Output);
        using var json = JsonDocument.Parse(run.Stdout);
        var streams = json.RootElement.GetProperty("streams").EnumerateArray().ToDictionary(s => s.GetProperty("codec_type").GetString()!, s => s);
        Assert.Equal("h264", streams["video"].GetProperty("codec_name").GetString());
        Assert.Equal("aac", streams["audio"].GetProperty("codec_name").GetString());
        Assert.Equal("mp4a", streams["audio"].GetProperty("codec_tag_string").GetString());
        Assert.Equal("LC", streams["audio"].GetProperty("profile").GetString());
        Assert.Equal("16000", streams["audio"].GetProperty("sample_rate").GetString());
        Assert.Equal(1, streams["audio"].GetProperty("channels").GetInt32());
        var audioIndex = streams["audio"].GetProperty("index").GetInt32();
        var times = json.RootElement.GetProperty("packets").EnumerateArray()
            .Where(p => p.GetProperty("stream_index").GetInt32() == audioIndex)
            .Select(p => double.Parse(p.GetProperty("pts_time").GetString()!, System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.True(times.Count >= 20, $"{times.Count} audio packets");
        for (var i = 1; i < times.Count; i++)
        {
            Assert.True(times[i] > times[i - 1], $"audio pts {times[i]} after {times[i - 1]} at packet {i}");
        }

        // The AAC decodes: 3 s of it, no decoder error.
        var decode = await ToolRunner.RunAsync("ffmpeg", ["-hide_banner", "-nostdin", "-v", "error", "-i", url, "-map", "0:a",
            "-t", "3", "-progress", "pipe:1", "-f", "null", "-"], TimeSpan.FromSeconds(60));
        Assert.True(decode.ExitCode == 0 && decode.Stderr.Length == 0, decode.ToString());
        var decoded = decode.Stdout.Split('\n').Where(l => l.StartsWith("out_time_us=", StringComparison.Ordinal))
            .Select(l => long.TryParse(l["out_time_us=".Length..], out var us) ? us : 0).DefaultIfEmpty(0).Max();
        Assert.True(decoded >= 2_500_000, $"{decoded} µs of audio decoded of 3 s\n{decode}");
    }
}
