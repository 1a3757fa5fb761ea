using System.Text;
using HikShareGateway.WebRtc.Sdp;
using HikShareGateway.WebRtc.Tests.Infrastructure;

namespace HikShareGateway.WebRtc.Tests.Sdp;

[Trait("Category", "Unit")]
public sealed class SdpTests
{
    private static string Fixture(string name) => File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", name));

    private static SdpOffer Parse(string text)
    {
        Assert.True(SdpOfferParser.TryParse(Encoding.UTF8.GetBytes(text), out var offer, out var failure), failure.ToString());
        return offer;
    }

    private static readonly SourceMedia HighWithPcma = new(new SourceVideo("H264", new H264Profile(0x64, 0x00, 0x28)), new SourceAudio("PCMA"));

    private static AnswerParameters Ours() => new(
        "gw12", "abcdefghijklmnopqrstuvwx",
        new SdpFingerprint("sha-256", Enumerable.Range(0, 32).Select(i => (byte)i).ToArray()),
        [new SdpCandidate("1", 1, "udp", SdpCandidate.HostPriority(65535), "192.0.2.10", 8189, "host")],
        0x11111111, 0x22222222, "hikshare", 42);

    [Fact]
    public void ChromiumRecvonlyOffer_ParsesTransportBundleAndCodecs()
    {
        var offer = Parse(Fixture("chromium-recvonly-video-audio.sdp"));
        Assert.Equal(["0", "1"], offer.BundleMids);
        Assert.True(offer.Trickle);
        Assert.Equal(2, offer.Media.Count);
        var video = offer.Media[0];
        Assert.Equal("video", video.Kind);
        Assert.Equal("UDP/TLS/RTP/SAVPF", video.Protocol);
        Assert.Equal("0", video.Mid);
        Assert.Equal(SdpDirection.RecvOnly, video.Direction);
        Assert.True(video.RtcpMux);
        Assert.True(video.RtcpRsize);
        Assert.Equal("Wc3e", video.IceUfrag);
        Assert.Equal("4x0r0jLv7n6d2t7mK0bJvG8c", video.IcePwd);
        Assert.Equal("sha-256", video.Fingerprint.Algorithm);
        Assert.Equal("6F:1D:0A:9C:84:2E:53:B7:C0:11:4A:E8:73:95:2D:F6:08:BB:CE:47:91:3A:6E:D2:5C:80:F4:19:A7:E3:02:6B", video.Fingerprint.DigestText);
        Assert.Equal("actpass", video.Setup);
        Assert.Equal(11, video.Extmaps.Count);
        Assert.Contains(video.Extmaps, e => e.Id == 9 && e.Uri == "urn:ietf:params:rtp-hdrext:sdes:mid");
        var h264 = video.Codecs.Single(c => c.PayloadType == 112);
        Assert.Equal("H264", h264.Name);
        Assert.Equal(90000, h264.ClockRate);
        Assert.Equal("64001f", h264.FmtpParameter("profile-level-id"));
        Assert.Equal("1", h264.FmtpParameter("packetization-mode"));
        Assert.Equal(["goog-remb", "transport-cc", "ccm fir", "nack", "nack pli"], h264.Feedback);
        var audio = offer.Media[1];
        Assert.Equal(8, audio.Codecs.Count);
        Assert.Contains(audio.Codecs, c => c is { PayloadType: 111, Name: "opus", ClockRate: 48000, Channels: 2 });
    }

    [Fact]
    public void SendingTrackAndDataChannel_AreParsedWithSsrcAndApplicationSection()
    {
        var offer = Parse(Fixture("chromium-sendrecv-audio-datachannel.sdp"));
        Assert.Equal(3, offer.Media.Count);
        Assert.Equal(SdpDirection.SendRecv, offer.Media[1].Direction);
        Assert.Equal([3735928559u], offer.Media[1].Ssrcs);
        Assert.Equal("application", offer.Media[2].Kind);
        Assert.False(offer.Media[2].IsRtp);
    }

    [Theory]
    [InlineData(0x64, 0x00, 0x28, 112)] // High source → the offered High
    [InlineData(0x4d, 0x00, 0x29, 127)] // Main → Main (exact beats the High superset)
    [InlineData(0x42, 0xe0, 0x1f, 106)] // Constrained Baseline → exact 42e01f
    [InlineData(0x64, 0x0c, 0x1f, 112)] // Constrained High → High
    public void H264Source_TakesTheOfferedPacketizationMode1ProfileThatPlaysIt(byte idc, byte iop, byte level, int expectedPt)
    {
        var offer = Parse(Fixture("chromium-recvonly-video-audio.sdp"));
        var source = new SourceMedia(new SourceVideo("H264", new H264Profile(idc, iop, level)), null);
        Assert.True(SdpNegotiator.TryNegotiate(offer, source, out var n, out _));
        Assert.Equal(expectedPt, n.Video!.Codec.PayloadType);
        Assert.True(n.Video.Nack && n.Video.Pli && n.Video.Fir);
        Assert.Null(n.Audio);
        Assert.Null(n.Sections[1]);
    }

    [Fact]
    public void H265Source_WithAnOfferWithoutH265_IsNoCommonCodecNamingH265()
    {
        var offer = Parse(Fixture("chromium-recvonly-video.sdp"));
        Assert.False(SdpNegotiator.TryNegotiate(offer, new SourceMedia(new SourceVideo("H265", null), null), out _, out var failure));
        Assert.Equal(NegotiationError.NoCommonCodec, failure.Error);
        Assert.Equal("H265", failure.Codec);
    }

    [Fact]
    public void HighSourceWithAnOfferOfBaselineOnly_IsNoCommonCodecNamingTheProfile()
    {
        var text = Fixture("chromium-recvonly-video.sdp")
            .Replace("profile-level-id=64001f", "profile-level-id=42e01f")
            .Replace("profile-level-id=4d001f", "profile-level-id=42e01f");
        Assert.False(SdpNegotiator.TryNegotiate(Parse(text), HighWithPcma, out _, out var failure));
        Assert.Equal(NegotiationError.NoCommonCodec, failure.Error);
        Assert.Equal("H264 (profile-level-id 640028)", failure.Codec);
    }

    [Fact]
    public void OpusSource_TakesTheOfferedOpus48000Stereo_AsRfc7587Says()
    {
        var offer = Parse(Fixture("chromium-recvonly-video-audio.sdp"));
        var source = new SourceMedia(new SourceVideo("H264", null), new SourceAudio("opus", 48000, Channels: 2));
        Assert.True(SdpNegotiator.TryNegotiate(offer, source, out var n, out _));
        Assert.Equal(111, n.Audio!.Codec.PayloadType);
        Assert.True(n.Audio.Send);
        // Opus as mono at 48 kHz is no format a browser offers: nothing matches it.
        Assert.True(SdpNegotiator.TryNegotiate(offer, source with { Audio = new SourceAudio("opus", 48000) }, out var mono, out _));
        Assert.Null(mono.Audio);
    }

    [Fact]
    public void AudioOnlySourceWithPcmuNotOffered_IsNoCommonCodecNamingPcmu()
    {
        var text = Fixture("chromium-recvonly-video-audio.sdp").Replace(" 9 0 8 13 ", " 9 8 13 ").Replace("a=rtpmap:0 PCMU/8000\r\n", "");
        Assert.False(SdpNegotiator.TryNegotiate(Parse(text), new SourceMedia(null, new SourceAudio("PCMU")), out _, out var failure));
        Assert.Equal(NegotiationError.NoCommonCodec, failure.Error);
        Assert.Equal("PCMU", failure.Codec);
    }

    [Fact]
    public void Answer_IsIceLitePassiveBundledWithOurFingerprintCandidatesAndOneCodecPerSection()
    {
        var offer = Parse(Fixture("chromium-recvonly-video-audio.sdp"));
        Assert.True(SdpNegotiator.TryNegotiate(offer, HighWithPcma, out var n, out _));
        var answer = SdpAnswerBuilder.Build(n, Ours());
        var lines = answer.Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("v=0", lines[0]);
        Assert.Contains("a=group:BUNDLE 0 1", lines);
        Assert.Contains("a=ice-lite", lines);
        Assert.Contains("m=video 9 UDP/TLS/RTP/SAVPF 112", lines);
        Assert.Contains("m=audio 9 UDP/TLS/RTP/SAVPF 8", lines);
        Assert.Contains("a=rtpmap:8 PCMA/8000", lines);
        Assert.Contains("a=fmtp:112 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=64001f", lines);
        Assert.Contains("a=rtcp-fb:112 nack pli", lines);
        Assert.Contains("a=ssrc:286331153 cname:hikshare", lines);
        Assert.Contains("a=ssrc:572662306 cname:hikshare", lines);
        Assert.Equal(2, lines.Count(l => l == "a=setup:passive"));
        Assert.Equal(2, lines.Count(l => l == "a=ice-ufrag:gw12"));
        Assert.Equal(2, lines.Count(l => l == "a=candidate:1 1 udp 2130706431 192.0.2.10 8189 typ host"));
        Assert.Contains("a=fingerprint:sha-256 00:01:02:03:04:05:06:07:08:09:0A:0B:0C:0D:0E:0F:10:11:12:13:14:15:16:17:18:19:1A:1B:1C:1D:1E:1F", lines);
        Assert.DoesNotContain(lines, l => l.StartsWith("a=recvonly", StringComparison.Ordinal) || l.Contains("VP8"));
        Assert.All(lines, l => Assert.DoesNotContain("127.0.0.1", l)); // nothing of the offer's origin echoed
    }

    [Fact]
    public void Answer_RejectsTheDataChannelAndLeavesItOutOfTheBundle()
    {
        var offer = Parse(Fixture("chromium-sendrecv-audio-datachannel.sdp"));
        Assert.True(SdpNegotiator.TryNegotiate(offer, HighWithPcma, out var n, out _));
        var answer = SdpAnswerBuilder.Build(n, Ours());
        Assert.Contains("a=group:BUNDLE 0 1\r\n", answer);
        Assert.Contains("m=application 0 UDP/DTLS/SCTP webrtc-datachannel\r\n", answer);
        Assert.Contains("a=mid:2\r\n", answer);
    }

    [Fact]
    public void EveryPrefixOfEveryFixture_ParsesOrFailsWithAReasonWithoutThrowing()
    {
        foreach (var name in new[] { "chromium-recvonly-video-audio.sdp", "chromium-recvonly-video.sdp", "chromium-sendrecv-audio-datachannel.sdp" })
        {
            var bytes = Encoding.UTF8.GetBytes(Fixture(name));
            for (var n = 0; n <= bytes.Length; n++)
            {
                var ok = SdpOfferParser.TryParse(bytes.AsSpan(0, n), out var offer, out var failure);
                Assert.True(ok ? offer is not null && failure.Error == SdpError.None : failure.Error != SdpError.None, $"{name} prefix {n}");
            }
        }
    }

    [Fact]
    public void OversizedOffers_AreRefusedBeforeDecoding()
    {
        var big = new byte[64 * 1024 + 1];
        Assert.False(SdpOfferParser.TryParse(big, out _, out var f1));
        Assert.Equal(SdpError.TooLarge, f1.Error);

        var many = "v=0\r\n" + string.Concat(Enumerable.Repeat("a=x\r\n", 3000));
        Assert.False(SdpOfferParser.TryParse(Encoding.ASCII.GetBytes(many), out _, out var f2));
        Assert.Equal(SdpError.TooManyLines, f2.Error);

        var sections = "v=0\r\n" + string.Concat(Enumerable.Repeat("m=video 9 UDP/TLS/RTP/SAVPF 96\r\n", 17));
        Assert.False(SdpOfferParser.TryParse(Encoding.ASCII.GetBytes(sections), out _, out var f3));
        Assert.Equal(SdpError.TooManyMedia, f3.Error);
    }

    [Theory]
    [InlineData("", SdpError.NotSdp)]
    [InlineData("hello world", SdpError.NotSdp)]
    [InlineData("v=1\r\n", SdpError.NotSdp)]
    [InlineData("v=0\r\ns=-\r\n", SdpError.NoMedia)]
    [InlineData("v=0\r\nthis is not sdp\r\n", SdpError.BadLine)]
    [InlineData("v=0\r\nm=video\r\n", SdpError.BadMediaLine)]
    [InlineData("v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96\r\n", SdpError.BadLine)]
    [InlineData("v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=fingerprint:sha-256 00\r\n", SdpError.MissingIceCredentials)]
    [InlineData("v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuv\r\n", SdpError.MissingFingerprint)]
    [InlineData("v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuv\r\na=fingerprint:sha-256 00:11\r\n", SdpError.BadFingerprint)]
    [InlineData("v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=ice-ufrag:ab\r\na=ice-pwd:abcdefghijklmnopqrstuv\r\n", SdpError.MissingIceCredentials)]
    public void MalformedOffers_AreRefusedWithTheirReason(string text, SdpError expected)
    {
        Assert.False(SdpOfferParser.TryParse(Encoding.UTF8.GetBytes(text), out _, out var failure));
        Assert.Equal(expected, failure.Error);
    }

    [Fact]
    public void PassiveSetupInAnOffer_IsUnsupported()
    {
        var text = Fixture("chromium-recvonly-video.sdp").Replace("a=setup:actpass", "a=setup:passive");
        Assert.False(SdpOfferParser.TryParse(Encoding.UTF8.GetBytes(text), out _, out var failure));
        Assert.Equal(SdpError.UnsupportedSetup, failure.Error);
    }

    [Fact]
    public void InvalidUtf8_IsRefused()
    {
        Assert.False(SdpOfferParser.TryParse([(byte)'v', (byte)'=', (byte)'0', 0xC3, 0x28], out _, out var failure));
        Assert.Equal(SdpError.NotUtf8, failure.Error);
    }

    [Fact]
    public void FailureDetail_HasNoControlCharactersFromTheNetwork()
    {
        Assert.False(SdpOfferParser.TryParse("v=0\r\nX\u001b[31m=evil\r\n"u8.ToArray(), out _, out var failure));
        Assert.Equal(SdpError.BadLine, failure.Error);
        Assert.DoesNotContain(failure.Detail, c => char.IsControl(c));
    }

    [Fact]
    public void MutatedOrRandomOffers_NeverThrow()
    {
        var seeds = new[] { "chromium-recvonly-video-audio.sdp", "chromium-recvonly-video.sdp", "chromium-sendrecv-audio-datachannel.sdp" }
            .Select(f => Encoding.UTF8.GetBytes(Fixture(f))).ToArray();
        var random = new Random(8829);
        for (var c = 0; c < 1500; c++)
        {
            var bytes = TestBytes.MutatedOrRandom(c, random, seeds, 300);
            if (SdpOfferParser.TryParse(bytes, out var offer, out _)
                && SdpNegotiator.TryNegotiate(offer, HighWithPcma, out var n, out _))
            {
                Assert.StartsWith("v=0\r\n", SdpAnswerBuilder.Build(n, Ours()));
            }
        }
    }
}
