using HikShareGateway.Mp4.Streaming;

namespace HikShareGateway.Tests.Mp4;

[Trait("Category", "Unit")]
public sealed class SdpParameterSetsTests
{
    [Fact]
    public void Parse_H264SpropParameterSets_GivesSpsThenPps()
    {
        var sets = SdpParameterSets.Parse("profile-level-id=42001f; packetization-mode=1; sprop-parameter-sets=Z0IAH5WoFAFuQA==,aM48gA==");
        Assert.Equal(2, sets.Count);
        Assert.Equal(0x67, sets[0][0]);
        Assert.Equal([0x68, 0xCE, 0x3C, 0x80], sets[1]);
    }

    [Fact]
    public void Parse_H265VpsSpsPps_InTheirOrder_PaddingMissingIsAccepted()
    {
        var sets = SdpParameterSets.Parse("sprop-vps=QAEMAf//;sprop-sps=QgEB;sprop-pps=RAHA");
        Assert.Equal([0x40, 0x42, 0x44], sets.Select(s => s[0]));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("packetization-mode=1")]
    [InlineData("sprop-parameter-sets=!!!,")]
    [InlineData("sprop-parameter-sets")]
    public void Parse_NothingUsable_GivesNothing(string? fmtp) => Assert.Empty(SdpParameterSets.Parse(fmtp));
}
