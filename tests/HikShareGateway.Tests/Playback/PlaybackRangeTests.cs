using HikShareGateway.Core.Devices;
using HikShareGateway.Media;
using HikShareGateway.Rtsp.Playback;
using HikShareGateway.Rtsp.Protocol;
using HikShareGateway.Rtsp.Server;

namespace HikShareGateway.Tests.Playback;

/// <summary>The pure parts of playback: times, Range headers, the timeline between viewer and source, RTP-Info, sources.</summary>
[Trait("Category", "Unit")]
public sealed class PlaybackRangeTests
{
    private static readonly DateTimeOffset Start = new(2026, 11, 25, 10, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData("20261125T100000Z", "2026-11-25T10:00:00.0000000+00:00")]
    [InlineData("20261125T100000.25Z", "2026-11-25T10:00:00.2500000+00:00")]
    [InlineData("19000101T000009.000193431Z", "1900-01-01T00:00:09.0001934+00:00")] // gst-rtsp-server's 9 digits
    [InlineData("2026-11-25T11:00:00+01:00", "2026-11-25T10:00:00.0000000+00:00")]
    public void PlaybackTime_ParsesBasicAndExtendedUtc(string text, string expected)
    {
        Assert.True(PlaybackTime.TryParse(text, out var t));
        Assert.Equal(expected, t.ToString("O"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("tomorrow")]
    [InlineData("20261325T100000Z")]
    [InlineData("20261125T100000")]
    public void PlaybackTime_RejectsTheRest(string text) => Assert.False(PlaybackTime.TryParse(text, out _));

    [Theory]
    [InlineData("npt=0-", "npt=0-")]
    [InlineData("npt=7.5-10", "npt=7.5-10")]
    [InlineData("npt=0:01:02.5-", "npt=62.5-")]
    [InlineData("npt=now-", "npt=-")]
    [InlineData("npt=5-;time=20261125T100000Z", "npt=5-")]
    [InlineData("clock=20261125T100005Z-", "clock=20261125T100005Z-")]
    [InlineData("clock=20261125T100005.5Z-20261125T100010Z", "clock=20261125T100005.500Z-20261125T100010Z")]
    public void Range_RoundTrips(string header, string formatted)
    {
        Assert.True(RtspRange.TryParse(header, out var r));
        Assert.Equal(formatted, r!.ToString());
    }

    [Theory]
    [InlineData("smpte=0:10:00-")]
    [InlineData("npt=abc-")]
    [InlineData("clock=yesterday-")]
    [InlineData("npt")]
    public void Range_RejectsWhatItCannotSeekTo(string header) => Assert.False(RtspRange.TryParse(header, out _));

    [Fact]
    public void TemplateSource_GetsNpt_ClockSeeksBecomeOffsetsFromStart()
    {
        var t = new PlaybackTimeline(Start, Start.AddMinutes(30), SourceUsesClock: false);
        Assert.Equal("npt=0-", t.InitialUpstreamRange());
        Assert.Equal("npt=7-", t.ToUpstream(Parse("npt=7-")));
        Assert.Equal("npt=65-120", t.ToUpstream(Parse("clock=20261125T100105Z-20261125T100200Z")));
        Assert.Equal("npt=0-", t.ToUpstream(Parse("clock=20261125T090000Z-"))); // before start: start
        Assert.Equal("clock=20261125T100008Z-20261125T100010Z", t.ToViewer("npt=8-10", RangeUnit.Clock));
        Assert.Equal("npt=8-10", t.ToViewer("npt=8-10", RangeUnit.Npt));
        Assert.Equal("npt=0-10", t.SdpRange("npt=0-10"));
        Assert.Equal("npt=0-1800", t.SdpRange(null));
        Assert.Equal("npt=0-", new PlaybackTimeline(Start, null, false).SdpRange("npt=now-"));
    }

    [Fact]
    public void OnvifSource_GetsClock_NptSeeksBecomeTimesFromStart()
    {
        var t = new PlaybackTimeline(Start, Start.AddMinutes(30), SourceUsesClock: true);
        Assert.Equal("clock=20261125T100000Z-20261125T103000Z", t.InitialUpstreamRange());
        Assert.Equal("clock=20261125T100007Z-20261125T103000Z", t.ToUpstream(Parse("npt=7-")));
        Assert.Equal("clock=20261125T101500Z-20261125T103000Z", t.ToUpstream(Parse("clock=20261125T101500Z-")));
        Assert.Equal("npt=60-1800", t.ToViewer("clock=20261125T100100Z-20261125T103000Z", RangeUnit.Npt));
        Assert.Null(t.ToViewer("garbage", RangeUnit.Npt));
        Assert.Equal("npt=0-1800", t.SdpRange("clock=20261125T100000Z-"));
    }

    [Fact]
    public void ContainsBye_FindsByeInACompoundPacket()
    {
        // SR (PT 200, length 6 words) followed by BYE (PT 203, length 1 word), RFC 3550 §6.1.
        byte[] sr = [0x80, 200, 0, 6, .. new byte[24]];
        byte[] bye = [0x81, 203, 0, 1, 1, 2, 3, 4];
        Assert.True(RtcpPacket.ContainsBye([.. sr, .. bye]));
        Assert.False(RtcpPacket.ContainsBye(sr));
        Assert.False(RtcpPacket.ContainsBye([0x80]));
    }

    [Fact]
    public void TrackOf_MatchesControlUrls_ByUrl_ByPath_OrTheOnlyTrack()
    {
        string[] controls = ["rtsp://127.0.0.1:18600/Streaming/tracks/101/stream=0", "rtsp://127.0.0.1:18600/Streaming/tracks/101/stream=1"];
        Assert.Equal(1, PlaybackViewerMedia.TrackOf("rtsp://127.0.0.1:18600/Streaming/tracks/101/stream=1", controls, 2));
        Assert.Equal(0, PlaybackViewerMedia.TrackOf("rtsp://192.168.1.64/Streaming/tracks/101/stream=0", controls, 2)); // device's own IP
        Assert.Equal(-1, PlaybackViewerMedia.TrackOf("rtsp://x/other", controls, 2));
        Assert.Equal(0, PlaybackViewerMedia.TrackOf("rtsp://x/other", ["rtsp://y/track1"], 1));
    }

    [Fact]
    public void HikvisionTracksUrl_FromTheMainStream()
    {
        var ch = new ChannelInfo { Channel = 3, MainUri = new Uri("rtsp://admin:pw@192.0.2.10:554/Streaming/Channels/301?transportmode=unicast") };
        var uri = PlaybackService.HikvisionTracks(ch, Start, Start.AddMinutes(5));
        Assert.Equal("rtsp://192.0.2.10:554/Streaming/tracks/301?starttime=20261125T100000Z&endtime=20261125T100500Z", uri!.ToString());
        Assert.Null(PlaybackService.HikvisionTracks(new ChannelInfo { Channel = 1, MainUri = new Uri("rtsp://192.0.2.10/live/main") }, Start, Start));
    }

    [Theory]
    [InlineData("start=20261125T100000Z", true)]
    [InlineData("start=20261125T100000Z&end=20261125T103000Z", true)]
    [InlineData("", false)]
    [InlineData("start=noon", false)]
    [InlineData("start=20261125T100000Z&end=20261125T090000Z", false)]
    public void PlaybackQuery_NeedsAStartBeforeItsEnd(string query, bool ok)
    {
        var q = ViewerRequestPath.ParseQuery(query);
        if (ok)
        {
            Assert.Equal(Start, PlaybackService.ParseSpan(q).Start);
        }
        else
        {
            Assert.Equal(400, Assert.Throws<RtspRefusal>(() => PlaybackService.ParseSpan(q)).Status);
        }
    }

    private static RtspRange Parse(string header) => RtspRange.TryParse(header, out var r) ? r! : throw new FormatException(header);
}
