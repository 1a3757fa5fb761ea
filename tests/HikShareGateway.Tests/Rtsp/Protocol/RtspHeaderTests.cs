using HikShareGateway.Rtsp.Protocol;

namespace HikShareGateway.Tests.Rtsp.Protocol;

/// <summary>Session and RTP-Info header parsing, in Protocol/ with the other RTSP parsers.</summary>
[Trait("Category", "Unit")]
public sealed class RtspHeaderTests
{
    [Theory]
    [InlineData("1A2B", "1A2B", null)]
    [InlineData(" 1A2B ;timeout=60", "1A2B", 60)]
    [InlineData("1A2B; Timeout = \"30\"", "1A2B", 30)]
    [InlineData("1A2B;foo=bar;timeout=15", "1A2B", 15)]
    [InlineData("1A2B;timeout=-5", "1A2B", null)]
    [InlineData("1A2B;timeout=abc", "1A2B", null)]
    public void SessionHeader_Parse_ReadsIdAndTimeout(string header, string id, int? timeout)
    {
        var parsed = SessionHeader.Parse(header);
        Assert.Equal(id, parsed.Id);
        Assert.Equal(timeout, parsed.TimeoutSeconds);
        Assert.Equal(id, SessionHeader.IdOf(header));
    }

    [Fact]
    public void RtpInfoHeader_Parse_KeepsUrlSeqAndRtptimeDropsTheRest()
    {
        var entries = RtpInfoHeader.Parse("url=\"rtsp://cam/track1\";seq=100;rtptime=9000;ssrc=1, url=rtsp://cam/track2;seq=7");
        Assert.Equal([new RtpInfoEntry("rtsp://cam/track1", ";seq=100;rtptime=9000"), new RtpInfoEntry("rtsp://cam/track2", ";seq=7")], entries);
        Assert.Equal("url=rtsp://cam/track1;seq=100;rtptime=9000,url=rtsp://cam/track2;seq=7", RtpInfoHeader.Format(entries));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("  ")]
    public void RtpInfoHeader_Parse_EmptyGivesNoEntriesAndFormatsToNull(string? header)
    {
        Assert.Empty(RtpInfoHeader.Parse(header));
        Assert.Null(RtpInfoHeader.Format(RtpInfoHeader.Parse(header)));
    }
}
