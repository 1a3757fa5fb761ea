using HikShareGateway.Rtsp.Protocol;

namespace HikShareGateway.Tests.Rtsp.Protocol;

[Trait("Category", "Unit")]
public sealed class ViewerRequestPathTests
{
    private static ViewerRequestPath Parse(string uri)
    {
        Assert.True(ViewerRequestPath.TryParse(uri, out var path), uri);
        return path!;
    }

    [Fact]
    public void TryParse_LiveWithoutStream_IsMainOfThatChannel()
    {
        var p = Parse("/live/dev/1");

        Assert.Equal(ViewerPathKind.Live, p.Kind);
        Assert.Equal("dev", p.DeviceId);
        Assert.Equal(1, p.Channel);
        Assert.False(p.Sub);
        Assert.Null(p.Track);
        Assert.Null(p.Token);
        Assert.Empty(p.Query);
        Assert.Equal("live/dev/1/main", p.StreamKey);
    }

    [Theory]
    [InlineData("/live/dev/1/main", false)]
    [InlineData("/live/dev/1/sub", true)]
    [InlineData("/live/dev/1/main/", false)]
    public void TryParse_LiveMainOrSub(string uri, bool sub)
    {
        var p = Parse(uri);

        Assert.Equal(sub, p.Sub);
        Assert.Equal(sub ? "live/dev/1/sub" : "live/dev/1/main", p.StreamKey);
    }

    [Theory]
    [InlineData("rtsp://host:8554/live/dev/2/sub")]
    [InlineData("RTSP://host/live/dev/2/sub")]
    [InlineData("rtsps://[::1]:322/live/dev/2/sub")]
    public void TryParse_AbsoluteUri_UsesThePathOnly(string uri)
    {
        var p = Parse(uri);

        Assert.Equal("dev", p.DeviceId);
        Assert.Equal(2, p.Channel);
        Assert.True(p.Sub);
        Assert.Equal("live/dev/2/sub", p.StreamKey);
    }

    [Fact]
    public void TryParse_FfmpegTrackAfterQuery_TokenAndTrack()
    {
        // ffmpeg and live555 append the control to the whole URL, query included.
        var p = Parse("rtsp://gw:8554/live/dev/1/main?token=abc.def.ghi/trackID=0");

        Assert.Equal("abc.def.ghi", p.Token);
        Assert.Equal(0, p.Track);
        Assert.False(p.Sub);
        Assert.Equal("live/dev/1/main", p.StreamKey);
    }

    [Fact]
    public void TryParse_GStreamerTrackBeforeQuery_TokenAndTrack()
    {
        var p = Parse("rtsp://gw:8554/live/dev/1/main/trackID=1?token=abc");

        Assert.Equal("abc", p.Token);
        Assert.Equal(1, p.Track);
        Assert.Equal("live/dev/1/main", p.StreamKey);
    }

    [Theory]
    [InlineData("/live/dev/1/sub/trackID=1")]
    [InlineData("/live/dev/1/sub?token=x/trackID=1")]
    [InlineData("/live/dev/1/sub/trackID=1?token=y")]
    [InlineData("/live/dev/1/sub?token=z")]
    [InlineData("/live/dev/1/sub")]
    public void StreamKey_IgnoresTrackAndToken(string uri)
    {
        Assert.Equal("live/dev/1/sub", Parse(uri).StreamKey);
    }

    [Fact]
    public void TryParse_Playback_QueryValuesAndStreamKey()
    {
        var p = Parse("/playback/dev/3?start=20261125T100000Z&end=20261125T103000Z");

        Assert.Equal(ViewerPathKind.Playback, p.Kind);
        Assert.Equal(3, p.Channel);
        Assert.Equal("20261125T100000Z", p.Query["start"]);
        Assert.Equal("20261125T103000Z", p.Query["end"]);
        Assert.Null(p.Token);
        Assert.Equal("playback/dev/3", p.StreamKey);
    }

    [Fact]
    public void TryParse_PlaybackWithTokenAndTrack()
    {
        var p = Parse("/playback/dev/3?start=20261125T100000Z&token=t.o.k/trackID=1");

        Assert.Equal("t.o.k", p.Token);
        Assert.Equal(1, p.Track);
        Assert.Equal("20261125T100000Z", p.Query["start"]);
    }

    [Theory]
    [InlineData("/live/my%20cam/1", "my cam")]
    [InlineData("/live/caf%C3%A9/1", "café")]
    [InlineData("/live/a%2Bb/1", "a+b")]
    [InlineData("/live/a+b/1", "a+b")]
    [InlineData("/live/NVR-01_east/1", "NVR-01_east")]
    public void TryParse_PercentEncodedDeviceId_IsDecoded(string uri, string device)
    {
        Assert.Equal(device, Parse(uri).DeviceId);
    }

    [Fact]
    public void TryParse_QueryValues_PercentAndPlusDecodedFirstOneWins()
    {
        var p = Parse("/live/dev/1?token=a%2Bb&note=x+y&token=second&flag");

        Assert.Equal("a+b", p.Token);
        Assert.Equal("x y", p.Query["note"]);
        Assert.Equal("", p.Query["flag"]);
    }

    [Theory]
    [InlineData("/live/dev/0")]
    [InlineData("/live/dev/-1")]
    [InlineData("/live/dev/x")]
    [InlineData("/live/dev/1.5")]
    [InlineData("/live/dev/99999999999")]
    [InlineData("/live/dev/1/third")]
    [InlineData("/live/dev/1/MAIN")]
    [InlineData("/live/dev/1/main/extra")]
    [InlineData("/foo/dev/1")]
    [InlineData("/LIVE/dev/1")]
    [InlineData("/live")]
    [InlineData("/live/dev")]
    [InlineData("")]
    [InlineData("/")]
    [InlineData("/live//1")]
    [InlineData("live/dev/1")]
    [InlineData("rtsp://host:8554")]
    [InlineData("rtsp://host:8554?token=x")]
    [InlineData("/playback/dev/3/sub")]
    [InlineData("/live/dev/1/main?token=x/trackID=")]
    [InlineData("/live/dev/1/main?token=x/foo")]
    [InlineData("/live/dev/1/main/trackID=x")]
    [InlineData("/live/dev/1/main/trackID=-1")]
    public void TryParse_Invalid_IsFalseAndNull(string uri)
    {
        Assert.False(ViewerRequestPath.TryParse(uri, out var path), uri);
        Assert.Null(path);
    }

    [Fact]
    public void ParseQuery_NullOrEmpty_IsEmpty()
    {
        Assert.Empty(ViewerRequestPath.ParseQuery(null));
        Assert.Empty(ViewerRequestPath.ParseQuery(""));
        Assert.Empty(ViewerRequestPath.ParseQuery("&&"));
    }
}
