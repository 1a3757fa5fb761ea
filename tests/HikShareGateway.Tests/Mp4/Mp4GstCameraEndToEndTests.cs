using System.Text.Json;
using HikShareGateway.Composition;
using HikShareGateway.Tests.Infrastructure;

namespace HikShareGateway.Tests.Mp4;

/// <summary>
/// The live fMP4 of a real camera with sound: gst-rtsp-server's ONVIF camera (H.264 + G.711 µ-law, Digest) as the
/// demo gateway's device; ffprobe reads both tracks, the audio as FLAC (what browsers' MSE can play).
/// </summary>
[Trait("Category", "Integration")]
public sealed class Mp4GstCameraEndToEndTests
{
    [Fact]
    public async Task Ffprobe_GstCameraWithPcmu_ReadsH264AndFlac_BothTimelinesIncreasing()
    {
        await using var camera = await GstRtspCamera.StartAsync(new GstCameraOptions { User = "admin", Password = "Gst-Pa55", AuthMethod = GstAuthMethod.Digest, Backchannel = false });
        await using var demo = await DemoGatewayProcess.StartAsync(new Dictionary<string, string>
        {
            // The demo recorder takes the main URL's port: the gst camera is the channel's sub stream.
            ["HIKSHARE_Devices__0__Channels__0__Sub"] = camera.Url().ToString(),
            ["HIKSHARE_Devices__0__Username"] = "admin",
            ["HIKSHARE_Devices__0__Password"] = "Gst-Pa55",
        });
        var url = $"http://127.0.0.1:{demo.HttpPort}/api/v1/live/{DemoDefaults.DeviceId}/1/sub.mp4?token={demo.Token}";
        var run = await ToolRunner.RunAsync("ffprobe", ["-v", "error", "-show_streams", "-show_entries", "packet=stream_index,pts_time", "-read_intervals", "%+#250",
            "-of", "json", url], TimeSpan.FromSeconds(60));
        Assert.True(run.ExitCode == 0, run.ToString() + demo.Output);
        using var json = JsonDocument.Parse(run.Stdout);
        var streams = json.RootElement.GetProperty("streams").EnumerateArray().ToDictionary(s => s.GetProperty("codec_type").GetString()!, s => s);
        Assert.Equal("h264", streams["video"].GetProperty("codec_name").GetString());
        Assert.Equal("flac", streams["audio"].GetProperty("codec_name").GetString());
        Assert.Equal("8000", streams["audio"].GetProperty("sample_rate").GetString());
        foreach (var (kind, stream) in streams)
        {
            var index = stream.GetProperty("index").GetInt32();
            var times = json.RootElement.GetProperty("packets").EnumerateArray()
                .Where(p => p.GetProperty("stream_index").GetInt32() == index)
                .Select(p => double.Parse(p.GetProperty("pts_time").GetString()!, System.Globalization.CultureInfo.InvariantCulture)).ToList();
            Assert.True(times.Count >= 20, $"{times.Count} {kind} packets");
            for (var i = 1; i < times.Count; i++)
            {
                Assert.True(times[i] > times[i - 1], $"{kind} pts {times[i]} after {times[i - 1]} at packet {i}");
            }
        }

        // The FLAC decodes, CRCs checked: gst's payloader sends 1024-sample packets, which a fixed-blocksize stream
        // announcing 160 made every decoder refuse ("blocksize 1024 > 160"; Chromium's MSE: a decode error).
        var decode = await ToolRunner.RunAsync("ffmpeg", ["-hide_banner", "-nostdin", "-v", "error", "-err_detect", "crccheck", "-i", url, "-map", "0:a",
            "-t", "3", "-progress", "pipe:1", "-f", "null", "-"], TimeSpan.FromSeconds(60));
        Assert.True(decode.ExitCode == 0 && decode.Stderr.Length == 0, decode.ToString());
        var decoded = decode.Stdout.Split('\n').Where(l => l.StartsWith("out_time_us=", StringComparison.Ordinal))
            .Select(l => long.TryParse(l["out_time_us=".Length..], out var us) ? us : 0).DefaultIfEmpty(0).Max();
        Assert.True(decoded >= 2_500_000, $"{decoded} µs of audio decoded of 3 s\n{decode}");
    }
}
