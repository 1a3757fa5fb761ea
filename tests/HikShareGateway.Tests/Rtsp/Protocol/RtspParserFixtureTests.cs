using System.Buffers;
using System.Text;
using HikShareGateway.Media;
using HikShareGateway.Rtsp.Protocol;
using static HikShareGateway.Tests.Rtsp.Protocol.RtspTestKit;

namespace HikShareGateway.Tests.Rtsp.Protocol;

/// <summary>
/// Every recorded camera response under TestData/rtsp through <see cref="RtspParser"/>: whole, every strict
/// prefix, byte per segment, split in two at every point, with bare LF line ends.
/// </summary>
[Trait("Category", "Unit")]
public sealed class RtspParserFixtureTests
{
    /// <summary>Status and CSeq of each fixture, read by hand from the files.</summary>
    private static readonly Dictionary<string, (int Status, int CSeq)> Expected = new(StringComparer.Ordinal)
    {
        ["bad_rtptime.txt"] = (200, 3),
        ["bunny_describe.txt"] = (200, 1),
        ["bunny_play.txt"] = (200, 3),
        ["bunny_setup.txt"] = (200, 2),
        ["dahua_describe_h264_aac_onvif.txt"] = (200, 3),
        ["dahua_describe_h265_pcma.txt"] = (200, 3),
        ["dahua_options.txt"] = (200, 5),
        ["dahua_play.txt"] = (200, 7),
        ["dahua_setup.txt"] = (200, 4),
        ["gw_main_describe.txt"] = (200, 1),
        ["gw_main_play.txt"] = (200, 4),
        ["gw_main_setup_audio.txt"] = (200, 3),
        ["gw_main_setup_video.txt"] = (200, 2),
        ["gw_sub_describe.txt"] = (200, 1),
        ["gw_sub_play.txt"] = (200, 3),
        ["gw_sub_setup.txt"] = (200, 2),
        ["h264dvr_describe.txt"] = (200, 3),
        ["h264dvr_play.txt"] = (200, 6),
        ["h264dvr_setup_audio.txt"] = (200, 5),
        ["h264dvr_setup_video.txt"] = (200, 4),
        ["hikvision_describe.txt"] = (200, 1),
        ["hikvision_play.txt"] = (200, 3),
        ["hikvision_setup.txt"] = (200, 2),
        ["hikvision_setup_ssrc_space.txt"] = (200, 3),
        ["longse_unauthorized.txt"] = (401, 1),
        ["missing_content_type_describe.txt"] = (200, 1),
        ["reolink_describe.txt"] = (200, 3),
        ["reolink_describe_control_first.txt"] = (200, 3),
        ["reolink_play.txt"] = (200, 6),
        ["reolink_setup.txt"] = (200, 4),
        ["reolink_teardown.txt"] = (200, 7),
    };

    public static TheoryData<string> AllFixtures()
    {
        var data = new TheoryData<string>();
        foreach (var name in FixtureNames())
        {
            data.Add(name);
        }
        return data;
    }

    public static TheoryData<string> SdpFixtures()
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

    [Fact]
    public void FixtureFolder_HoldsTheRecordedResponsesAndEachHasAnExpectation()
    {
        var names = FixtureNames();
        Assert.True(names.Length >= 30, $"only {names.Length} fixtures found under {FixtureDir}");
        Assert.Equal(Expected.Keys.Order(StringComparer.Ordinal), names.Order(StringComparer.Ordinal));
    }

    [Theory]
    [MemberData(nameof(AllFixtures))]
    public void TryRead_Fixture_WholeFileIsOneResponseWithStatusCSeqAndContentLengthBody(string name)
    {
        var bytes = Fixture(name);
        var (status, cseq) = Expected[name];

        var r = Read(bytes);

        Assert.Equal(RtspReadStatus.Message, r.Status);
        Assert.Null(r.Error);
        var m = r.Message!;
        Assert.False(m.IsRequest);
        Assert.Equal(status, m.StatusCode);
        Assert.Equal(cseq, m.CSeq);
        Assert.Equal(bytes.Length, r.Consumed);
        var cl = m.Headers.Get("Content-Length");
        Assert.Equal(cl is null ? 0 : int.Parse(cl), m.Body.Length);
        // Header names and values come without their CR and surrounding spaces.
        Assert.All(m.Headers.Fields, f =>
        {
            Assert.DoesNotContain('\r', f.Key + f.Value);
            Assert.Equal(f.Key.Trim(), f.Key);
            Assert.Equal(f.Value.Trim(), f.Value);
        });
    }

    [Theory]
    [MemberData(nameof(AllFixtures))]
    public void TryRead_Fixture_EveryStrictPrefixNeedsMoreAndConsumesNothing(string name)
    {
        var bytes = Fixture(name);
        for (var i = 0; i < bytes.Length; i++)
        {
            var r = Read(bytes.AsSpan(0, i).ToArray());
            Assert.True(r.Status == RtspReadStatus.NeedMore, $"{name}: prefix of {i} bytes gave {r.Status} ({r.Error})");
            Assert.Equal(0, r.Consumed);
            Assert.Null(r.Message);
        }
    }

    [Theory]
    [MemberData(nameof(AllFixtures))]
    public void TryRead_FixtureBytePerSegment_EveryPrefixNeedsMoreAndWholeParsesIdentically(string name)
    {
        var bytes = Fixture(name);
        var contiguous = Read(bytes).Message!;
        var segmented = TestSegment.BytePerSegment(bytes);

        for (var i = 0; i < bytes.Length; i++)
        {
            var prefix = Read(segmented.Slice(0, i));
            Assert.True(prefix.Status == RtspReadStatus.NeedMore, $"{name}: segmented prefix of {i} bytes gave {prefix.Status} ({prefix.Error})");
            Assert.Equal(0, prefix.Consumed);
        }
        var whole = Read(segmented);
        Assert.Equal(RtspReadStatus.Message, whole.Status);
        Assert.Equal(bytes.Length, whole.Consumed);
        Assert.Equal(Describe(contiguous), Describe(whole.Message!));
    }

    [Theory]
    [MemberData(nameof(AllFixtures))]
    public void TryRead_FixtureSplitInTwoSegmentsAtEveryPoint_ParsesIdentically(string name)
    {
        var bytes = Fixture(name);
        var expected = Describe(Read(bytes).Message!);
        for (var i = 1; i < bytes.Length; i++)
        {
            var r = Read(TestSegment.Sequence(bytes.AsMemory(0, i), bytes.AsMemory(i)));
            Assert.Equal(RtspReadStatus.Message, r.Status);
            Assert.Equal(bytes.Length, r.Consumed);
            Assert.Equal(expected, Describe(r.Message!));
        }
    }

    [Theory]
    [MemberData(nameof(AllFixtures))]
    public void TryRead_FixtureWithBareLfHeaderLines_ParsesLikeCrLf(string name)
    {
        var bytes = Fixture(name);
        var end = bytes.AsSpan().IndexOf("\r\n\r\n"u8) + 4;
        var head = Encoding.Latin1.GetString(bytes, 0, end).Replace("\r\n", "\n", StringComparison.Ordinal);
        byte[] lf = [.. Encoding.Latin1.GetBytes(head), .. bytes.AsSpan(end)];

        var r = Read(lf);

        Assert.Equal(RtspReadStatus.Message, r.Status);
        Assert.Equal(lf.Length, r.Consumed);
        Assert.Equal(Describe(Read(bytes).Message!), Describe(r.Message!));
        for (var i = 0; i < lf.Length; i++)
        {
            Assert.Equal(RtspReadStatus.NeedMore, Read(lf.AsSpan(0, i).ToArray()).Status);
        }
    }

    [Theory]
    [MemberData(nameof(AllFixtures))]
    public void TryRead_FixturePrecededByStrayLineEnds_SkipsThemOnlyWithAWholeMessage(string name)
    {
        var bytes = Fixture(name);
        byte[] stray = [.. "\r\n\n\r\n"u8, .. bytes];

        // Incomplete: nothing consumed, not even the stray line ends (they are re-read next time).
        var partial = Read(stray.AsSpan(0, stray.Length - 1).ToArray());
        Assert.Equal(RtspReadStatus.NeedMore, partial.Status);
        Assert.Equal(0, partial.Consumed);

        var whole = Read(stray);
        Assert.Equal(RtspReadStatus.Message, whole.Status);
        Assert.Equal(stray.Length, whole.Consumed);
        Assert.Equal(Describe(Read(bytes).Message!), Describe(whole.Message!));
    }

    [Theory]
    [MemberData(nameof(AllFixtures))]
    public void ToBytes_ParsedFixture_ReparsesToTheSameStatusHeadersAndBody(string name)
    {
        var m = Read(Fixture(name)).Message!;

        var again = Read(m.ToBytes());

        Assert.Equal(RtspReadStatus.Message, again.Status);
        Assert.Equal(m.StatusCode, again.Message!.StatusCode);
        Assert.Equal(m.Reason, again.Message.Reason);
        Assert.Equal(m.CSeq, again.Message.CSeq);
        Assert.Equal(m.Body, again.Message.Body);
        Assert.Equal(
            m.Headers.Fields.Select(f => f.Key + ":" + f.Value).Order(StringComparer.Ordinal),
            again.Message.Headers.Fields.Select(f => f.Key + ":" + f.Value).Order(StringComparer.Ordinal));
    }

    [Theory]
    [MemberData(nameof(SdpFixtures))]
    public void SessionDescriptionParse_FixtureBody_HasMediaWithTypeFormatAndEncoding(string name)
    {
        var sdp = SdpOf(name);

        Assert.NotEmpty(sdp.Media);
        Assert.All(sdp.Media, m =>
        {
            Assert.Contains(m.Type, new[] { "video", "audio", "application" });
            Assert.Equal("RTP/AVP", m.Protocol);
            Assert.Single(m.Formats);
            Assert.False(string.IsNullOrEmpty(m.EncodingName), $"{name}: {m.Type} has no encoding");
            Assert.NotNull(m.Control);
        });
        Assert.Single(sdp.Media, m => m.Type == "video");
    }

    [Fact]
    public void TryRead_HikvisionDescribe_VideoH264AndOnvifMetadataTrack()
    {
        var r = Read(Fixture("hikvision_describe.txt"));
        Assert.Equal("application/sdp", r.Message!.Headers.Get("content-type"));
        Assert.Equal("rtsp://192.168.5.106:554/Streaming/Channels/101/", r.Message.Headers.Get("Content-Base"));

        var sdp = SessionDescription.Parse(r.Message.BodyText);

        Assert.Equal("Media Presentation", sdp.SessionName);
        Assert.Equal("rtsp://192.168.5.106:554/Streaming/Channels/101/?transportmode=unicast&profile=Profile_1", sdp.SessionControl);
        Assert.Equal(2, sdp.Media.Count);
        var video = sdp.Media[0];
        Assert.Equal("video", video.Type);
        Assert.Equal(["96"], video.Formats);
        Assert.Equal(VideoCodec.H264, video.VideoCodec);
        Assert.Equal("recvonly", video.Direction);
        Assert.Equal(["AS:5000"], video.Bandwidths);
        Assert.Equal("1920,1080", video.Attribute("x-dimensions"));
        Assert.Contains("sprop-parameter-sets=Z00AKZpkA8ARPyzUBAQFAAADA+gAAOpgBA==,aO48gA==", video.Attribute("fmtp"));
        Assert.Equal("rtsp://192.168.5.106:554/Streaming/Channels/101/trackID=1?transportmode=unicast&profile=Profile_1", video.Control);
        var metadata = sdp.Media[1];
        Assert.Equal("application", metadata.Type);
        Assert.Equal(["107"], metadata.Formats);
        Assert.Equal("VND.ONVIF.METADATA", metadata.EncodingName);
        Assert.Equal(VideoCodec.None, metadata.VideoCodec);
        Assert.True(metadata.HasAttribute("Media_header"));
        Assert.Equal("1.0", metadata.Attribute("appversion"));
    }

    [Fact]
    public void TryRead_DahuaH265Describe_VideoH265AndAudioPcma()
    {
        var sdp = SdpOf("dahua_describe_h265_pcma.txt");

        Assert.Equal("*", sdp.SessionControl);
        Assert.Equal(2, sdp.Media.Count);
        Assert.Equal("video", sdp.Media[0].Type);
        Assert.Equal(VideoCodec.H265, sdp.Media[0].VideoCodec);
        Assert.Equal("H265", sdp.Media[0].EncodingName);
        Assert.Equal("trackID=0", sdp.Media[0].Control);
        Assert.Contains("sprop-vps=QAEMAf//AWAAAAMAsAAAAwAAAwBarAwAAAMABAAAAwAyqA==", sdp.Media[0].Attribute("fmtp"));
        Assert.Equal("audio", sdp.Media[1].Type);
        Assert.Equal(["8"], sdp.Media[1].Formats);
        Assert.Equal("PCMA", sdp.Media[1].EncodingName);
        Assert.Equal("trackID=1", sdp.Media[1].Control);
        Assert.Equal("recvonly", sdp.Media[1].Direction);
    }

    [Fact]
    public void TryRead_ReolinkDescribeControlFirst_SameMediaAsReolinkDescribe()
    {
        var first = SdpOf("reolink_describe_control_first.txt");
        var normal = SdpOf("reolink_describe.txt");

        Assert.Equal("*", first.SessionControl);
        Assert.Equal("*", normal.SessionControl);
        Assert.Equal(2, first.Media.Count);
        Assert.Equal(VideoCodec.H264, first.Media[0].VideoCodec);
        Assert.Equal("trackID=1", first.Media[0].Control);
        Assert.Equal("MPEG4-GENERIC", first.Media[1].EncodingName);
        Assert.Equal("trackID=2", first.Media[1].Control);
        Assert.Equal(
            normal.Media.Select(m => (m.Type, string.Join(' ', m.Formats), m.EncodingName, m.Control, m.Attribute("fmtp"))),
            first.Media.Select(m => (m.Type, string.Join(' ', m.Formats), m.EncodingName, m.Control, m.Attribute("fmtp"))));
    }

    [Fact]
    public void TryRead_MissingContentTypeDescribe_BodyStillReadByContentLengthAndParses()
    {
        var r = Read(Fixture("missing_content_type_describe.txt"));
        Assert.Null(r.Message!.Headers.Get("Content-Type"));
        Assert.Equal(494, r.Message.Body.Length);
        Assert.Equal("l0TtlUFSR", r.Message.Headers.Get("Session"));

        var sdp = SessionDescription.Parse(r.Message.BodyText);

        Assert.Equal("No Name", sdp.SessionName);
        Assert.Equal(2, sdp.Media.Count);
        Assert.Equal(VideoCodec.H264, sdp.Media[0].VideoCodec);
        Assert.Equal("streamid=0", sdp.Media[0].Control);
        Assert.Equal("MPEG4-GENERIC", sdp.Media[1].EncodingName);
        Assert.Equal(["AS:128"], sdp.Media[1].Bandwidths);
    }

    [Fact]
    public void TryRead_H264DvrDescribe_LowerCaseCseqAndStaticAudioWithoutRtpmap()
    {
        var r = Read(Fixture("h264dvr_describe.txt"));
        Assert.Equal(3, r.Message!.CSeq);
        Assert.Equal("3", r.Message.Headers.Get("CSEQ"));

        var sdp = SessionDescription.Parse(r.Message.BodyText);

        Assert.Equal("H264", sdp.Media[0].EncodingName); // "a=rtpmap:96 H264/90000 " has a trailing space
        Assert.Equal("trackID=3", sdp.Media[0].Control);
        Assert.Equal("PCMA", sdp.Media[1].EncodingName); // static payload type 8, no rtpmap
        Assert.Equal("trackID=4", sdp.Media[1].Control);
    }

    [Fact]
    public void TryRead_GwMainDescribe_RtpmapWinsOverStaticPayloadTypeNumber()
    {
        // The device says "m=audio 0 RTP/AVP 8" but maps 8 to PCMU: players follow the rtpmap.
        var sdp = SdpOf("gw_main_describe.txt");

        Assert.Equal("PCMU", sdp.Media[1].EncodingName);
        Assert.Equal("20", sdp.Media[1].Attribute("ptime"));
        Assert.Equal("video", sdp.Media[0].Control);
    }

    [Fact]
    public void TryRead_LongseUnauthorized_TrailingSpaceAfterCSeqStillGivesCSeq()
    {
        var r = Read(Fixture("longse_unauthorized.txt"));

        Assert.Equal(401, r.Message!.StatusCode);
        Assert.Equal("Unauthorized", r.Message.Reason);
        Assert.Equal("1", r.Message.Headers.Get("CSeq"));
        Assert.Equal(1, r.Message.CSeq);
        Assert.Equal("Digest realm=\"Surveillance Server\", nonce=\"98481030\"", r.Message.Headers.Get("WWW-Authenticate"));
    }

    [Fact]
    public void TryRead_HikvisionPlay_ValuesAfterManySpacesAreTrimmed()
    {
        var r = Read(Fixture("hikvision_play.txt"));

        Assert.Equal("708345999", r.Message!.Headers.Get("Session"));
        Assert.Equal("Wed, May 05 2021 21:51:17 GMT", r.Message.Headers.Get("Date"));
    }

    [Fact]
    public void TryRead_AllFixturesBackToBackBytePerSegment_ParseInOrderAndConsumeEverything()
    {
        var names = FixtureNames();
        var all = names.SelectMany(Fixture).ToArray();
        var reader = new SequenceReader<byte>(TestSegment.BytePerSegment(all));

        foreach (var name in names)
        {
            var status = RtspParser.TryRead(ref reader, RtspLimits.Default, out var m, out _, out var error);
            Assert.True(status == RtspReadStatus.Message, $"{name}: {status} {error}");
            Assert.Equal(Expected[name].CSeq, m!.CSeq);
        }
        Assert.Equal(all.Length, reader.Consumed);
        Assert.Equal(RtspReadStatus.NeedMore, RtspParser.TryRead(ref reader, RtspLimits.Default, out _, out _, out _));
    }
}
