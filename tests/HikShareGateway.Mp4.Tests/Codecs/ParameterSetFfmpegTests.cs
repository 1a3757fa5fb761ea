using System.Text.Json;
using HikShareGateway.Mp4.Codecs;
using HikShareGateway.Mp4.Tests.Infrastructure;

namespace HikShareGateway.Mp4.Tests.Codecs;

/// <summary>Parameter sets from streams that ffmpeg encodes here, checked against what ffprobe reads from them.</summary>
[Trait("Category", "Integration")]
public sealed class ParameterSetFfmpegTests
{
    [Theory]
    [InlineData("1280x720", "high")]
    [InlineData("1278x718", "main")]
    public async Task H264Sps_FromLibx264_MatchesFfprobe(string size, string profile)
    {
        byte[] stream = await Tools.EncodeAsync(h265: false, size, frames: 2, profile);
        List<byte[]> nals = AnnexB.Split(stream);
        JsonElement probe = await ProbeAsync(stream, "h264");

        Assert.True(H264Sps.TryParse(AnnexB.Find(nals, h265: false, type: 7), out H264Sps? info));

        Assert.Equal(probe.GetProperty("width").GetInt32(), info!.Width);
        Assert.Equal(probe.GetProperty("height").GetInt32(), info.Height);
        Assert.Equal(probe.GetProperty("level").GetInt32(), info.LevelIdc);
        Assert.Equal(profile == "high" ? 100 : 77, info.ProfileIdc);
        Assert.Equal(profile == "high" ? "High" : "Main", probe.GetProperty("profile").GetString());
        Assert.Equal(1, info.ChromaFormatIdc);
        Assert.Equal(8, info.BitDepthLuma);
    }

    [Theory]
    [InlineData("1280x720")]
    [InlineData("642x362")]
    public async Task H265Sps_FromLibx265_MatchesFfprobe(string size)
    {
        byte[] stream = await Tools.EncodeAsync(h265: true, size, frames: 2);
        List<byte[]> nals = AnnexB.Split(stream);
        JsonElement probe = await ProbeAsync(stream, "hevc");

        Assert.True(H265Sps.TryParse(AnnexB.Find(nals, h265: true, type: 33), out H265Sps? info));

        Assert.Equal(probe.GetProperty("width").GetInt32(), info!.Width);
        Assert.Equal(probe.GetProperty("height").GetInt32(), info.Height);
        Assert.Equal(probe.GetProperty("level").GetInt32(), info.LevelIdc);
        Assert.Equal(1, info.ProfileIdc);
        Assert.Equal(0, info.ProfileSpace);
        Assert.Equal(1, info.ChromaFormatIdc);
        Assert.StartsWith("hvc1.1.6.L", info.CodecString);
    }

    internal static async Task<JsonElement> ProbeAsync(byte[] stream, string format)
    {
        ToolResult result = await Tools.RunAsync(
            "ffprobe",
            ["-v", "error", "-f", format, "-i", "-", "-show_streams", "-of", "json"],
            stdin: stream);
        Assert.True(result.ExitCode == 0, result.Stderr);
        return JsonDocument.Parse(result.Stdout).RootElement.GetProperty("streams")[0].Clone();
    }
}
