using System.Text.RegularExpressions;
using HikShareGateway.Media;
using HikShareGateway.Rtsp.Protocol;
using static HikShareGateway.Tests.Rtsp.Protocol.RtspTestKit;

namespace HikShareGateway.Tests.Rtsp.Protocol;

/// <summary>SessionDescription.Parse on odd SDP, and SdpBuilder over every recorded DESCRIBE (contract §6: nothing of the camera passes).</summary>
[Trait("Category", "Unit")]
public sealed partial class SdpTests
{
    [GeneratedRegex(@"\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b")]
    private static partial Regex Ipv4();

    public static TheoryData<string> DescribeFixtures()
    {
        var data = new TheoryData<string>();
        foreach (var name in FixtureNames())
        {
            if (Read(Fixture(name)).Message is { Body.Length: > 0 })
            {
                data.Add(name);
            }
        }
        return data;
    }

    private static (SessionDescription Upstream, string Built, string ContentBase) BuildFrom(string fixture)
    {
        var m = Read(Fixture(fixture)).Message!;
        var upstream = SessionDescription.Parse(m.BodyText);
        return (upstream, SdpBuilder.Build("live/dev/1/main", 42, upstream.Media), m.Headers.Get("Content-Base") ?? "");
    }

    [Fact]
    public void DescribeFixtures_AreThere()
    {
        Assert.True(DescribeFixtures().Count >= 10);
    }

    [Theory]
    [MemberData(nameof(DescribeFixtures))]
    public void Build_FromFixture_CarriesNoCameraAddressUrlOrHost(string name)
    {
        var (_, built, contentBase) = BuildFrom(name);

        Assert.DoesNotContain("://", built);
        Assert.DoesNotContain("rtsp", built, StringComparison.OrdinalIgnoreCase);
        Assert.All(Ipv4().Matches(built), ip => Assert.Equal("0.0.0.0", ip.Value));
        if (Uri.TryCreate(contentBase, UriKind.Absolute, out var baseUri))
        {
            Assert.DoesNotContain(baseUri.Host, built, StringComparison.OrdinalIgnoreCase);
        }
        Assert.DoesNotContain("x.y.z.w", built);
    }

    [Theory]
    [MemberData(nameof(DescribeFixtures))]
    public void Build_FromFixture_DropsVendorAndSessionAttributes(string name)
    {
        var (_, built, _) = BuildFrom(name);

        foreach (var vendor in new[] { "Media_header", "MEDIAINFO", "appversion", "x-qt-text", "packetization-supported", "rtppayload-supported", "LIVE555", "libavformat", "Wowza", "cliprect", "sdplang", "a=type:", "\r\ne=", "\r\ni=" })
        {
            Assert.DoesNotContain(vendor, built);
        }
        Assert.All(built.Split("\r\n", StringSplitOptions.RemoveEmptyEntries), line => Assert.Matches("^[vostcmba]=", line));
        Assert.EndsWith("\r\n", built);
        Assert.DoesNotContain("\n", built.Replace("\r\n", "", StringComparison.Ordinal));
    }

    [Theory]
    [MemberData(nameof(DescribeFixtures))]
    public void Build_FromFixture_KeepsRtpmapAndFmtpVerbatim(string name)
    {
        var (upstream, built, _) = BuildFrom(name);
        var rebuilt = SessionDescription.Parse(built);

        for (var i = 0; i < upstream.Media.Count; i++)
        {
            foreach (var key in new[] { "rtpmap", "fmtp" })
            {
                var expected = upstream.Media[i].Attributes.Where(a => a.Key == key).Select(a => a.Value).ToArray();
                var actual = rebuilt.Media[i].Attributes.Where(a => a.Key == key).Select(a => a.Value).ToArray();
                Assert.Equal(expected, actual);
            }
        }
    }

    [Theory]
    [MemberData(nameof(DescribeFixtures))]
    public void Build_FromFixture_GatewayControlsAndSameMediaWhenReparsed(string name)
    {
        var (upstream, built, _) = BuildFrom(name);

        var rebuilt = SessionDescription.Parse(built);

        Assert.Equal("*", rebuilt.SessionControl);
        Assert.Single(Regex.Matches(built, @"^a=control:\*\r$", RegexOptions.Multiline));
        Assert.Equal("live/dev/1/main", rebuilt.SessionName);
        Assert.Equal(upstream.Media.Count, rebuilt.Media.Count);
        for (var i = 0; i < upstream.Media.Count; i++)
        {
            var up = upstream.Media[i];
            var down = rebuilt.Media[i];
            Assert.Equal(up.Type, down.Type);
            Assert.Equal(up.Formats, down.Formats);
            Assert.Equal(up.EncodingName, down.EncodingName);
            Assert.Equal(up.VideoCodec, down.VideoCodec);
            Assert.Equal("RTP/AVP", down.Protocol);
            Assert.Equal($"trackID={i}", down.Control);
            Assert.Single(down.Attributes, a => a.Key == "control");
            Assert.Equal("recvonly", down.Direction);
        }
    }

    [Fact]
    public void Build_FromHikvision_KeepsSpropParameterSetsAndDimensionsDropsMetadataVendorLines()
    {
        var (_, built, _) = BuildFrom("hikvision_describe.txt");

        Assert.Contains("a=fmtp:96 profile-level-id=420029; packetization-mode=1; sprop-parameter-sets=Z00AKZpkA8ARPyzUBAQFAAADA+gAAOpgBA==,aO48gA==\r\n", built);
        Assert.Contains("a=rtpmap:96 H264/90000\r\n", built);
        Assert.Contains("a=x-dimensions:1920,1080\r\n", built);
        Assert.Contains("b=AS:5000\r\n", built);
        Assert.Contains("m=application 0 RTP/AVP 107\r\n", built);
        Assert.Contains("a=rtpmap:107 vnd.onvif.metadata/90000\r\n", built);
        Assert.DoesNotContain("192.168.5.106", built);
        Assert.DoesNotContain("Streaming/Channels", built);
        Assert.DoesNotContain("profile=Profile_1", built);
    }

    [Fact]
    public void Build_DirectionPerTrack_IsTakenFromTheCallback()
    {
        var upstream = SdpOf("dahua_describe_h265_pcma.txt");

        var built = SessionDescription.Parse(SdpBuilder.Build("s", 1, upstream.Media, i => i == 1 ? "sendonly" : "recvonly", range: null));

        Assert.Equal("recvonly", built.Media[0].Direction);
        Assert.Equal("sendonly", built.Media[1].Direction);
        Assert.DoesNotContain(built.SessionAttributes, a => a.Key == "range");
    }

    [Fact]
    public void Build_SessionNameOrValuesWithLineBreaks_CannotInjectLines()
    {
        var upstream = SessionDescription.Parse("v=0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\ra=control:rtsp://10.1.2.3/x\r\n");

        var built = SdpBuilder.Build("evil\r\nc=IN IP4 10.9.9.9\r\n", 1, upstream.Media);

        Assert.DoesNotContain("\r\nc=IN IP4 10.9.9.9", built);
        Assert.DoesNotContain("10.1.2.3", built);
        Assert.Single(Regex.Matches(built, "^c=", RegexOptions.Multiline));
    }

    [Fact]
    public void Parse_LfOnlyAndCrLf_GiveTheSameMedia()
    {
        var crlf = Read(Fixture("reolink_describe.txt")).Message!.BodyText;

        var a = SessionDescription.Parse(crlf);
        var b = SessionDescription.Parse(crlf.Replace("\r\n", "\n", StringComparison.Ordinal));

        Assert.Equal(a.Media.Select(m => m.Attributes.Count), b.Media.Select(m => m.Attributes.Count));
        Assert.Equal(a.Media.Select(m => m.Attribute("fmtp")), b.Media.Select(m => m.Attribute("fmtp")));
    }

    [Fact]
    public void Parse_HikMediaServerMalformedConnectionLine_IsIgnored()
    {
        // gortsplib sdpunmarshaler_test: "HIK Media Server" sends c=IN c=IN IP4 0.0.0.0.
        var sdp = SessionDescription.Parse("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=HIK Media Server V3.4.106\r\nc=IN c=IN IP4 0.0.0.0\r\nt=0 0\r\na=control:*\r\nm=video 0 RTP/AVP 96\r\nc=IN c=IN IP4 0.0.0.0\r\na=rtpmap:96 H264/90000\r\na=control:trackID=video\r\n");

        Assert.Equal("HIK Media Server V3.4.106", sdp.SessionName);
        Assert.Equal(VideoCodec.H264, Assert.Single(sdp.Media).VideoCodec);
        Assert.Equal("trackID=video", sdp.Media[0].Control);
    }

    [Fact]
    public void Parse_MediaLineWithoutFormats_IsKeptWithNoEncoding()
    {
        var media = Assert.Single(SessionDescription.Parse("m=video 0 RTP/AVP\r\na=control:trackID=0\r\n").Media);

        Assert.Empty(media.Formats);
        Assert.Null(media.EncodingName);
        Assert.Equal(VideoCodec.Other, media.VideoCodec);
        Assert.Equal("trackID=0", media.Control);
    }

    [Fact]
    public void Parse_BrokenMediaLine_ItsAttributesAreIgnoredNotTakenAsSessionLevel()
    {
        var sdp = SessionDescription.Parse("v=0\r\ns=x\r\nm=video\r\na=control:trackID=9\r\na=rtpmap:96 H264/90000\r\nm=audio 0 RTP/AVP 0\r\na=control:trackID=1\r\n");

        Assert.Null(sdp.SessionControl);
        Assert.Empty(sdp.SessionAttributes);
        var audio = Assert.Single(sdp.Media);
        Assert.Equal("PCMU", audio.EncodingName);
        Assert.Equal("trackID=1", audio.Control);
    }

    [Theory]
    [InlineData("")]
    [InlineData("\r\n\r\n")]
    [InlineData("garbage")]
    [InlineData("=\r\n=x\r\nm=\r\na=\r\na=:\r\n")]
    public void Parse_EmptyOrGarbage_GivesNoMediaAndDoesNotThrow(string text)
    {
        Assert.Empty(SessionDescription.Parse(text).Media);
    }

    [Fact]
    public void Parse_AttributesWithoutValue_AndDirection()
    {
        var media = Assert.Single(SessionDescription.Parse("m=audio 0 RTP/AVP 8 0\r\na=sendonly\r\na=control:trackID=2\r\n").Media);

        Assert.Equal(["8", "0"], media.Formats);
        Assert.Equal("PCMA", media.EncodingName); // the first format decides
        Assert.Equal("sendonly", media.Direction);
        Assert.True(media.HasAttribute("SENDONLY"));
        Assert.Null(media.Attribute("sendonly"));
    }

    [Theory]
    [InlineData("H265/90000", VideoCodec.H265)]
    [InlineData("HEVC/90000", VideoCodec.H265)]
    [InlineData("h264/90000", VideoCodec.H264)]
    [InlineData("JPEG/90000", VideoCodec.Other)]
    public void VideoCodec_FromRtpmap(string encoding, VideoCodec codec)
    {
        var media = Assert.Single(SessionDescription.Parse($"m=video 0 RTP/AVP 96\r\na=rtpmap:96 {encoding}\r\n").Media);

        Assert.Equal(codec, media.VideoCodec);
    }
}
