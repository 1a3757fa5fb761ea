using HikShareGateway.Rtsp.Protocol;
using static HikShareGateway.Tests.Rtsp.Protocol.RtspTestKit;

namespace HikShareGateway.Tests.Rtsp.Protocol;

[Trait("Category", "Unit")]
public sealed class TransportHeaderTests
{
    public static TheoryData<string> SetupFixtures()
    {
        var data = new TheoryData<string>();
        foreach (var name in FixtureNames())
        {
            if (Read(Fixture(name)).Message!.Headers.Get("Transport") is not null)
            {
                data.Add(name);
            }
        }
        return data;
    }

    private static TransportSpec FixtureTransport(string name) =>
        Assert.Single(TransportHeader.Parse(Read(Fixture(name)).Message!.Headers.Get("Transport")));

    [Fact]
    public void SetupFixtures_AreThere()
    {
        Assert.True(SetupFixtures().Count >= 8);
    }

    [Theory]
    [MemberData(nameof(SetupFixtures))]
    public void Parse_FixtureTransport_OneUnicastRtpAvpSpecThatRoundTripsThroughToString(string name)
    {
        var spec = FixtureTransport(name);

        Assert.Equal("RTP/AVP", spec.Profile);
        Assert.False(spec.Multicast);
        Assert.True(spec.Tcp ? spec.Interleaved is not null : spec.ClientPort is not null, name);
        Assert.Equal(spec, Assert.Single(TransportHeader.Parse(spec.ToString())));
    }

    [Fact]
    public void Parse_HikvisionSsrcWithSpace_ReadsTheHexSsrc()
    {
        // Hikvision sends "ssrc= d6d6627" (retina hikvision_setup_ssrc_space.txt).
        var spec = FixtureTransport("hikvision_setup_ssrc_space.txt");

        Assert.True(spec.Tcp);
        Assert.Equal((0, 1), spec.Interleaved);
        Assert.Equal(0x0d6d6627u, spec.Ssrc);
        Assert.Null(spec.Mode);
        Assert.Equal("RTP/AVP/TCP;unicast;interleaved=0-1;ssrc=0D6D6627", spec.ToString());
    }

    [Fact]
    public void Parse_HikvisionSetup_QuotedLowerCaseModeBecomesPlay()
    {
        var spec = FixtureTransport("hikvision_setup.txt");

        Assert.Equal(0x4cacc3d1u, spec.Ssrc);
        Assert.Equal("PLAY", spec.Mode);
        Assert.Equal((0, 1), spec.Interleaved);
    }

    [Fact]
    public void Parse_DahuaSetup_UpperCaseSsrc()
    {
        Assert.Equal(0x30A98EE7u, FixtureTransport("dahua_setup.txt").Ssrc);
    }

    [Fact]
    public void Parse_H264DvrSetup_UdpClientAndServerPortsAndSsrcZero()
    {
        var spec = FixtureTransport("h264dvr_setup_video.txt");

        Assert.False(spec.Tcp);
        Assert.Null(spec.Interleaved);
        Assert.Equal((18714, 18715), spec.ClientPort);
        Assert.Equal((40004, 40005), spec.ServerPort);
        Assert.Equal(0u, spec.Ssrc);
        Assert.Equal("PLAY", spec.Mode);
    }

    [Fact]
    public void Parse_GwMainSetupAudio_DestinationAndSourceAreIgnored()
    {
        var spec = FixtureTransport("gw_main_setup_audio.txt");

        Assert.Equal(new TransportSpec { Tcp = true, Interleaved = (2, 3) }, spec);
        Assert.DoesNotContain("192.168", spec.ToString());
    }

    [Theory]
    [InlineData("RTP/AVP;unicast;client_port=5000", 5000, 5001)]
    [InlineData("RTP/AVP;unicast;client_port=5000-5001", 5000, 5001)]
    [InlineData("RTP/AVP;unicast;client_port= 5000 - 5003 ", 5000, 5003)]
    public void Parse_ClientPort_SingleNumberMeansThatAndTheNext(string header, int rtp, int rtcp)
    {
        Assert.Equal((rtp, rtcp), Assert.Single(TransportHeader.Parse(header)).ClientPort);
    }

    [Theory]
    [InlineData("RTP/AVP/TCP;unicast;interleaved=4", 4, 5)]
    [InlineData("RTP/AVP/TCP;unicast;interleaved=2-3", 2, 3)]
    [InlineData("rtp/avp/tcp;UNICAST;Interleaved=6-7", 6, 7)]
    public void Parse_Interleaved_PairOrSingleNumber(string header, int rtp, int rtcp)
    {
        var spec = Assert.Single(TransportHeader.Parse(header));

        Assert.True(spec.Tcp);
        Assert.Equal("RTP/AVP", spec.Profile);
        Assert.Equal((rtp, rtcp), spec.Interleaved);
    }

    [Fact]
    public void Parse_AlternativesUdpFirst_KeepsTheOrderSoTheServerCanPickTcp()
    {
        // ffmpeg/live555 may offer UDP first; the relay answers with the TCP one.
        var specs = TransportHeader.Parse("RTP/AVP;unicast;client_port=5000-5001,RTP/AVP/TCP;unicast;interleaved=0-1, RTP/AVP;multicast;ttl=16");

        Assert.Equal(3, specs.Count);
        Assert.False(specs[0].Tcp);
        Assert.Equal((5000, 5001), specs[0].ClientPort);
        Assert.True(specs[1].Tcp);
        Assert.Equal((0, 1), specs[1].Interleaved);
        Assert.True(specs[2].Multicast);
        Assert.Same(specs[1], specs.First(s => s.Tcp && !s.Multicast));
    }

    [Theory]
    [InlineData("RTP/AVP/TCP;unicast;interleaved=0-1;mode=\"PLAY\"")]
    [InlineData("RTP/AVP/TCP;unicast;interleaved=0-1;mode=play")]
    [InlineData("RTP/AVP/TCP;unicast;interleaved=0-1;MODE = \"Play\"")]
    public void Parse_Mode_QuotedOrNotAnyCaseIsPlay(string header)
    {
        Assert.Equal("PLAY", Assert.Single(TransportHeader.Parse(header)).Mode);
    }

    [Theory]
    [InlineData("RTP/AVP/UDP;unicast;client_port=1-2", false)]
    [InlineData("RTP/AVP/TCP;unicast;interleaved=0-1", true)]
    [InlineData("RTP/AVPF/TCP;unicast;interleaved=0-1", true)]
    public void Parse_LowerTransport_TcpOnlyWhenSaid(string header, bool tcp)
    {
        Assert.Equal(tcp, Assert.Single(TransportHeader.Parse(header)).Tcp);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("RAW/RAW/UDP;unicast;client_port=1-2")]
    [InlineData("MP2T/H2221/UDP;unicast")]
    [InlineData(",,,")]
    public void Parse_NothingOrNonRtpAlternatives_GivesNoSpec(string? header)
    {
        Assert.Empty(TransportHeader.Parse(header));
    }

    [Fact]
    public void Parse_NonRtpAlternativeBesideRtp_OnlyTheRtpOneIsKept()
    {
        var spec = Assert.Single(TransportHeader.Parse("RAW/RAW/UDP;unicast;client_port=1-2,RTP/AVP/TCP;interleaved=8-9"));

        Assert.Equal((8, 9), spec.Interleaved);
    }

    [Theory]
    [InlineData("RTP/AVP/TCP;unicast;interleaved=a-b")]
    [InlineData("RTP/AVP/TCP;unicast;interleaved=")]
    [InlineData("RTP/AVP/TCP;unicast;interleaved=-1")]
    [InlineData("RTP/AVP/TCP;unicast;interleaved")]
    public void Parse_UnparseableInterleaved_LeavesItUnset(string header)
    {
        var spec = Assert.Single(TransportHeader.Parse(header));

        Assert.Null(spec.Interleaved);
    }

    [Theory]
    [InlineData("ssrc=zz")]
    [InlineData("ssrc=")]
    [InlineData("ssrc=123456789")]
    public void Parse_UnparseableSsrc_LeavesItUnset(string ssrc)
    {
        Assert.Null(Assert.Single(TransportHeader.Parse("RTP/AVP/TCP;unicast;interleaved=0-1;" + ssrc)).Ssrc);
    }

    public static TheoryData<TransportSpec, string> Specs() => new()
    {
        { new TransportSpec { Tcp = true, Interleaved = (0, 1) }, "RTP/AVP/TCP;unicast;interleaved=0-1" },
        { new TransportSpec { Tcp = true, Interleaved = (4, 5), Mode = "PLAY" }, "RTP/AVP/TCP;unicast;interleaved=4-5;mode=PLAY" },
        { new TransportSpec { ClientPort = (5000, 5001), ServerPort = (6970, 6971), Ssrc = 0xDEADBEEF }, "RTP/AVP;unicast;client_port=5000-5001;server_port=6970-6971;ssrc=DEADBEEF" },
        { new TransportSpec { Profile = "RTP/SAVP", Multicast = true, ClientPort = (1, 2), Ssrc = 1 }, "RTP/SAVP;multicast;client_port=1-2;ssrc=00000001" },
    };

    [Theory]
    [MemberData(nameof(Specs))]
    public void ToString_Spec_WritesTheHeaderAndParsesBackEqual(TransportSpec spec, string text)
    {
        Assert.Equal(text, spec.ToString());
        Assert.Equal(spec, Assert.Single(TransportHeader.Parse(text)));
    }
}
