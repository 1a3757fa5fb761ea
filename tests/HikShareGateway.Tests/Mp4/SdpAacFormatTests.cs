using HikShareGateway.Mp4.Rtp;
using HikShareGateway.Mp4.Streaming;

namespace HikShareGateway.Tests.Mp4;

[Trait("Category", "Unit")]
public sealed class SdpAacFormatTests
{
    [Fact]
    public void SdpAacFormat_CameraFmtp_GivesConfigAndLayout_OtherModesRefused()
    {
        Assert.True(SdpAacFormat.TryParse("streamtype=5;profile-level-id=2;mode=AAC-hbr;config=1408;sizelength=13;indexlength=3;indexdeltalength=3",
            out var config, out var layout));
        Assert.Equal(new byte[] { 0x14, 0x08 }, config);
        Assert.Equal(AacAuLayout.Hbr, layout);
        Assert.False(SdpAacFormat.TryParse("mode=generic;config=1408;sizelength=13", out _, out _));
        Assert.False(SdpAacFormat.TryParse("mode=AAC-hbr;config=14G8;sizelength=13;indexlength=3", out _, out _));
        Assert.False(SdpAacFormat.TryParse("mode=AAC-hbr;sizelength=13;indexlength=3", out _, out _));
        Assert.False(SdpAacFormat.TryParse(null, out _, out _));
    }
}
