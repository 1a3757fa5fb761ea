using HikShareGateway.Rtsp.Protocol;
using HikShareGateway.Rtsp.Server;

namespace HikShareGateway.Tests.Rtsp.Server;

/// <summary>The viewer's RTSP state machine without sockets or media: states, refusals, channels, response headers.</summary>
[Trait("Category", "Unit")]
public sealed class ViewerProtocolTests
{
    private static ViewerRequestPath Path(string uri)
    {
        Assert.True(ViewerRequestPath.TryParse(uri, out var path), uri);
        return path!;
    }

    private static readonly ViewerRequestPath Main = Path("rtsp://gw/live/nvr-1/1/main");
    private static readonly ViewerRequestPath Sub = Path("rtsp://gw/live/nvr-1/1/sub");

    private static ViewerProtocol Described(int tracks = 2)
    {
        var p = new ViewerProtocol();
        Assert.Equal(MediaDecision.Open, p.DecideOpen(Main));
        p.OnMediaOpened(Main, tracks);
        return p;
    }

    private static ViewerProtocol PlayingProtocol()
    {
        var p = Described();
        p.Setup(0, null, "RTP/AVP/TCP;unicast;interleaved=0-1");
        p.CheckPlay(p.SessionId);
        p.OnPlayAnswered(200);
        return p;
    }

    [Fact]
    public void New_IsInit_WithoutSessionOrMedia()
    {
        var p = new ViewerProtocol();
        Assert.Equal((ViewerState.Init, null, false, false), (p.State, p.SessionId, p.HasMedia, p.Playing));
    }

    [Fact]
    public void Describe_OpensMedia_NoTrackSetUp_SamePathKept_OtherPathReplaced()
    {
        var p = Described();
        Assert.Equal(ViewerState.Described, p.State);
        Assert.Equal([-1, -1], p.TrackChannels);
        Assert.Equal(MediaDecision.Keep, p.DecideOpen(Main));
        Assert.Equal(MediaDecision.Replace, p.DecideOpen(Sub));
    }

    [Fact]
    public void DescribeOfOtherMedia_WhilePlaying_455()
    {
        var p = PlayingProtocol();
        Assert.Equal(455, Assert.Throws<RtspRefusal>(() => p.DecideOpen(Sub)).Status);
        Assert.Equal(455, Assert.Throws<RtspRefusal>(() => p.DecideOpen(Main)).Status);
    }

    [Fact]
    public void Setup_TakesTheViewersChannels_StartsTheSession_Ready()
    {
        var p = Described();
        var t = p.Setup(1, null, "RTP/AVP/TCP;unicast;interleaved=6-7");
        Assert.Equal((6, 7), t.Interleaved);
        Assert.True(t.Tcp);
        Assert.Matches("^[0-9A-F]{16}$", p.SessionId);
        Assert.Equal(ViewerState.Ready, p.State);
        Assert.Equal([-1, 6], p.TrackChannels);
    }

    [Fact]
    public void Setup_WithoutInterleaved_TakesTwiceTheTrack()
    {
        var p = Described();
        Assert.Equal((2, 3), p.Setup(1, null, "RTP/AVP/TCP;unicast").Interleaved);
    }

    [Fact]
    public void Setup_ChannelsOfAnotherTrack_GetTheFirstFreePair()
    {
        var p = Described(3);
        p.Setup(0, null, "RTP/AVP/TCP;unicast;interleaved=0-1");
        Assert.Equal((2, 3), p.Setup(1, p.SessionId, "RTP/AVP/TCP;unicast;interleaved=0-1").Interleaved);
        Assert.Equal((4, 5), p.Setup(2, p.SessionId, "RTP/AVP/TCP;unicast;interleaved=1-2").Interleaved);
    }

    [Fact]
    public void Setup_SameTrackAgain_KeepsItsChannels()
    {
        var p = Described();
        p.Setup(0, null, "RTP/AVP/TCP;unicast;interleaved=4-5");
        Assert.Equal((4, 5), p.Setup(0, p.SessionId, "RTP/AVP/TCP;unicast;interleaved=4-5").Interleaved);
    }

    [Theory]
    [InlineData("RTP/AVP;unicast;client_port=5000-5001")]
    [InlineData("RTP/AVP/TCP;multicast")]
    [InlineData(null)]
    public void Setup_WithoutTcpUnicast_461(string? transport)
    {
        var p = Described();
        Assert.Equal(461, Assert.Throws<RtspRefusal>(() => p.Setup(0, null, transport)).Status);
        Assert.Equal(ViewerState.Described, p.State);
    }

    [Fact]
    public void Setup_NoSuchTrack_404_WrongSession_454()
    {
        var p = Described();
        Assert.Equal(404, Assert.Throws<RtspRefusal>(() => p.Setup(2, null, "RTP/AVP/TCP;unicast")).Status);
        p.Setup(0, null, "RTP/AVP/TCP;unicast");
        Assert.Equal(454, Assert.Throws<RtspRefusal>(() => p.Setup(1, "DEADBEEF", "RTP/AVP/TCP;unicast")).Status);
    }

    [Fact]
    public void Play_BeforeSetup_455_WrongSession_454()
    {
        Assert.Equal(455, Assert.Throws<RtspRefusal>(() => new ViewerProtocol().CheckPlay(null)).Status);
        var p = Described();
        Assert.Equal(455, Assert.Throws<RtspRefusal>(() => p.CheckPlay(null)).Status);
        p.Setup(0, null, "RTP/AVP/TCP;unicast");
        Assert.Equal(454, Assert.Throws<RtspRefusal>(() => p.CheckPlay("0123;timeout=60")).Status);
        p.CheckPlay(p.SessionId + ";timeout=60");
        p.CheckPlay(null); // players may omit it
    }

    [Fact]
    public void PlayPauseTeardown_Transitions()
    {
        var p = PlayingProtocol();
        Assert.Equal(ViewerState.Playing, p.State);
        p.CheckPause();
        p.OnPaused();
        Assert.Equal(ViewerState.Paused, p.State);
        p.OnPlayAnswered(200);
        Assert.True(p.Playing);
        p.OnPlayAnswered(457);
        Assert.Equal(ViewerState.Ready, p.State);
        p.OnTeardown();
        Assert.Equal(ViewerState.Closed, p.State);
        p.OnMediaClosed();
        Assert.Equal(ViewerState.Closed, p.State);
    }

    [Fact]
    public void Pause_WithoutSession_455()
    {
        Assert.Equal(455, Assert.Throws<RtspRefusal>(() => Described().CheckPause()).Status);
    }

    [Fact]
    public void MediaClosed_BackToInit_SessionKept()
    {
        var p = Described();
        p.Setup(0, null, "RTP/AVP/TCP;unicast");
        var session = p.SessionId;
        p.OnMediaClosed();
        Assert.Equal((ViewerState.Init, false, session), (p.State, p.HasMedia, p.SessionId));
        Assert.Equal(MediaDecision.Open, p.DecideOpen(Sub));
    }

    [Fact]
    public void AggregatePlayUrl_OtherPath_AuthorizedAgainstTheMediasPath_WithTheRequestsToken()
    {
        var p = PlayingProtocol();
        var aggregate = Path("rtsp://gw/live/nvr-1/2/main?token=abc");
        var chosen = p.PlayPath(aggregate);
        Assert.Equal(Main.StreamKey, chosen.StreamKey);
        Assert.Equal("abc", chosen.Token);
        Assert.Same(Main, p.PlayPath(Main));
    }

    [Fact]
    public void Interleaved_RoutedOnlyWhilePlaying_RtpAndRtcpOfEachTrack()
    {
        var p = Described();
        p.Setup(0, null, "RTP/AVP/TCP;unicast;interleaved=0-1");
        p.Setup(1, p.SessionId, "RTP/AVP/TCP;unicast;interleaved=2-3");
        Assert.False(p.TryRouteInterleaved(0, out _, out _));
        p.OnPlayAnswered(200);
        Assert.True(p.TryRouteInterleaved(0, out var track, out var rtcp));
        Assert.Equal((0, false), (track, rtcp));
        Assert.True(p.TryRouteInterleaved(3, out track, out rtcp));
        Assert.Equal((1, true), (track, rtcp));
        Assert.False(p.TryRouteInterleaved(4, out _, out _));
    }

    [Fact]
    public void Finish_AddsCSeqServerAndSessionOnSessionMethodsOnly()
    {
        var p = Described();
        p.Setup(0, null, "RTP/AVP/TCP;unicast");
        var setup = RtspMessage.Request("SETUP", "rtsp://gw/live/nvr-1/1/main/trackID=0");
        setup.Headers.Add("CSeq", "7");
        var response = RtspMessage.Response(200);
        p.Finish(response, setup);
        Assert.Equal("7", response.Headers.Get("CSeq"));
        Assert.Equal("HikShareGateway", response.Headers.Get("Server"));
        Assert.Equal(p.SessionId + ";timeout=60", response.Headers.Get("Session"));

        var options = RtspMessage.Request("OPTIONS", "*");
        var optionsResponse = RtspMessage.Response(200);
        p.Finish(optionsResponse, options);
        Assert.Equal("0", optionsResponse.Headers.Get("CSeq"));
        Assert.Null(optionsResponse.Headers.Get("Session"));
    }

    [Fact]
    public void Error_401CarriesBasic_ReasonsOnlyWherePeopleReadThem()
    {
        var unauthorized = ViewerProtocol.Error(3, 401, "no token");
        Assert.Equal("Basic realm=\"HikShareGateway\"", unauthorized.Headers.Get("WWW-Authenticate"));
        Assert.Equal("no token\n", unauthorized.BodyText);
        Assert.Empty(ViewerProtocol.Error(3, 455, "SETUP first").Body);
        Assert.Equal("3", ViewerProtocol.Error(3, 403, "x").Headers.Get("CSeq"));
        Assert.Equal("0", ViewerProtocol.Error(-1, 400, "x").Headers.Get("CSeq"));
    }
}
