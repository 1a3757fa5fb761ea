using HikShareGateway.Ffmpeg.Snapshots;
using HikShareGateway.Ffmpeg.Video;

namespace HikShareGateway.Ffmpeg.Tests.Snapshots;

[Trait("Category", "Unit")]
public sealed class SpropParameterSetsTests
{
    [Fact]
    public void H264_SpropParameterSets_BothUnitsDecoded()
    {
        var sets = SpropParameterSets.Parse(VideoCodec.H264, "packetization-mode=1;profile-level-id=42001f;sprop-parameter-sets=Z0IAH5WoFAFuQA==,aM48gA==");
        Assert.Equal(2, sets.Count);
        Assert.Equal(0x67, sets[0].Span[0]);
        Assert.Equal([0x68, 0xce, 0x3c, 0x80], sets[1].ToArray());
    }

    [Fact]
    public void H265_VpsSpsPps_InThatOrderWhateverTheSourceOrder()
    {
        var sets = SpropParameterSets.Parse(VideoCodec.H265, "sprop-pps=RAHA8vA8kA==; sprop-sps=QgEBAWAAAAMAsA==; sprop-vps=QAEMAf//AWAAAAMAsAAAAwAAAwB4rAk=");
        Assert.Equal([0x40, 0x42, 0x44], sets.Select(s => s.Span[0]));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("sprop-parameter-sets=***not base64***")]
    [InlineData("sprop-parameter-sets")]
    [InlineData("profile-level-id=42001f")]
    public void MissingOrMalformed_Empty(string? fmtp) => Assert.Empty(SpropParameterSets.Parse(VideoCodec.H264, fmtp));
}
