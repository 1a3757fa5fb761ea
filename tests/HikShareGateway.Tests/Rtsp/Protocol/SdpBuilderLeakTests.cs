using HikShareGateway.Rtsp.Protocol;

namespace HikShareGateway.Tests.Rtsp.Protocol;

[Trait("Category", "Unit")]
public sealed class SdpBuilderLeakTests
{
    [Fact]
    public void Build_MediaLineWithAnAddressInItsFormats_PassesOnlyPayloadTypeNumbers()
    {
        var upstream = SessionDescription.Parse("v=0\r\nm=video 0 RTP/AVP 96 rtsp://10.0.0.1/x 10.0.0.1\r\na=rtpmap:96 H264/90000\r\n");
        var sdp = SdpBuilder.Build("s", 1, upstream.Media);
        Assert.DoesNotContain("10.0.0.1", sdp);
        Assert.Contains("m=video 0 RTP/AVP 96\r\n", sdp);
    }
}
