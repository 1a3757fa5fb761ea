using HikShareGateway.Mp4.Boxes;
using HikShareGateway.Mp4.Tests.Infrastructure;

namespace HikShareGateway.Mp4.Tests.Boxes;

/// <summary>The test box reader and our avcC, checked against a fragmented MP4 that ffmpeg's own muxer writes.</summary>
[Trait("Category", "Integration")]
public sealed class FfmpegReferenceTests
{
    [Fact]
    public async Task FfmpegFragmentedMp4_OfTheDemoAsset_ReadsCleanlyAndHoldsTheSameAvcC()
    {
        ToolResult result = await Tools.RunAsync(
            "ffmpeg",
            ["-hide_banner", "-loglevel", "error", "-i", Tools.DemoAsset, "-t", "2", "-c", "copy",
             "-movflags", "frag_every_frame+empty_moov+default_base_moof", "-f", "mp4", "-"]);
        Assert.True(result.ExitCode == 0, result.Stderr);

        Box file = BoxReader.Read(result.Stdout);

        Assert.Equal(["ftyp", "moov"], file.Children.Take(2).Select(b => b.Type));
        Assert.Equal(50, file.Children.Count(b => b.Type == "moof"));
        Assert.Equal(50, file.Children.Count(b => b.Type == "mdat"));
        byte[] ffmpegAvcC = file.Find("moov/trak/mdia/minf/stbl/stsd/avc1/avcC").Payload.ToArray();
        Assert.Equal(ffmpegAvcC, Mp4WriterTests.DemoVideoTrack().Configuration);
    }
}
