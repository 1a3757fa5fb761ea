using System.Text;
using HikShareGateway.WebRtc.Sdp;

namespace HikShareGateway.WebRtc.Tests.Sdp;

/// <summary>An H.265 source to offers with H.265 (RFC 7798 §7.2 as browsers offer it) and without.</summary>
[Trait("Category", "Unit")]
public sealed class H265NegotiationTests
{
    private static readonly SourceMedia H265WithPcmu = new(new SourceVideo("H265", null), new SourceAudio("PCMU"));

    /// <summary>Chromium's recvonly offer with the H.265 payload types a Chromium with an H.265 decoder adds (Main, Main 10).</summary>
    internal static string OfferWithH265(string main = "level-id=93;profile-id=1;tier-flag=0;tx-mode=SRST")
    {
        var text = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "chromium-recvonly-video-audio.sdp"));
        var mline = text.IndexOf("m=video 9 UDP/TLS/RTP/SAVPF ", StringComparison.Ordinal);
        var eol = text.IndexOf("\r\n", mline, StringComparison.Ordinal);
        text = text[..eol] + " 49 50 51" + text[eol..];
        var extra = "a=rtpmap:49 H265/90000\r\na=rtcp-fb:49 nack\r\na=rtcp-fb:49 nack pli\r\na=rtcp-fb:49 ccm fir\r\n"
            + $"a=fmtp:49 {main}\r\na=rtpmap:50 rtx/90000\r\na=fmtp:50 apt=49\r\n"
            + "a=rtpmap:51 H265/90000\r\na=rtcp-fb:51 nack pli\r\na=fmtp:51 level-id=93;profile-id=2;tier-flag=0;tx-mode=SRST\r\n";
        var firstRtpmap = text.IndexOf("a=rtpmap:", mline, StringComparison.Ordinal);
        return text[..firstRtpmap] + extra + text[firstRtpmap..];
    }

    private static SdpOffer Parse(string text)
    {
        Assert.True(SdpOfferParser.TryParse(Encoding.UTF8.GetBytes(text), out var offer, out var failure), failure.ToString());
        return offer;
    }

    [Fact]
    public void H265Source_TakesTheOfferedMainProfilePayloadType_WithItsFeedback()
    {
        Assert.True(SdpNegotiator.TryNegotiate(Parse(OfferWithH265()), H265WithPcmu, out var n, out _));
        Assert.Equal(49, n.Video!.Codec.PayloadType);
        Assert.True(n.Video.Nack && n.Video.Pli && n.Video.Fir);
        Assert.Equal("PCMU", n.Audio!.Codec.Name);
    }

    [Fact]
    public void H265Source_WithOnlyMain10Offered_TakesMain10_WhichDecodesMain()
    {
        var offer = OfferWithH265().Replace("a=fmtp:49 level-id=93;profile-id=1", "a=fmtp:49 level-id=93;profile-id=4", StringComparison.Ordinal);
        Assert.True(SdpNegotiator.TryNegotiate(Parse(offer), H265WithPcmu, out var n, out _));
        Assert.Equal(51, n.Video!.Codec.PayloadType);
    }

    [Theory]
    [InlineData("level-id=93;profile-id=1;tier-flag=0;tx-mode=MRST")]             // several RTP streams: not what we send
    [InlineData("level-id=93;profile-id=1;tier-flag=0;sprop-max-don-diff=2")]       // DONL expected: we send none
    public void H265PayloadTypesWeCannotFeed_AreNotTaken(string fmtp)
    {
        var offer = OfferWithH265(fmtp).Replace("profile-id=2", "profile-id=3", StringComparison.Ordinal);
        Assert.False(SdpNegotiator.TryNegotiate(Parse(offer), H265WithPcmu, out _, out var failure));
        Assert.Equal(NegotiationError.NoCommonCodec, failure.Error);
        Assert.Equal("H265", failure.Codec);
    }

    [Fact]
    public void Answer_CarriesTheChosenH265PayloadType_AndEchoesItsProfileTierLevel()
    {
        Assert.True(SdpNegotiator.TryNegotiate(Parse(OfferWithH265()), H265WithPcmu, out var n, out _));
        var answer = SdpAnswerBuilder.Build(n, new AnswerParameters("gw12", "abcdefghijklmnopqrstuvwx",
            new SdpFingerprint("sha-256", new byte[32]), [], 0x11111111, 0x22222222, "hikshare", 42));
        Assert.Contains("m=video 9 UDP/TLS/RTP/SAVPF 49\r\n", answer);
        Assert.Contains("a=rtpmap:49 H265/90000\r\n", answer);
        Assert.Contains("a=fmtp:49 level-id=93;profile-id=1;tier-flag=0;tx-mode=SRST\r\n", answer);
        Assert.Contains("a=rtcp-fb:49 nack pli\r\n", answer);
        Assert.DoesNotContain("H264", answer);
        Assert.DoesNotContain("packetization-mode", answer);
    }

    [Fact]
    public void WouldNegotiate_TellsWhetherAnOfferNeedsTheTranscoder()
    {
        var withH265 = Encoding.UTF8.GetBytes(OfferWithH265());
        var plainChromium = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Fixtures", "chromium-recvonly-video-audio.sdp"));
        Assert.True(WebRtcSession.WouldNegotiate(withH265, H265WithPcmu));
        Assert.False(WebRtcSession.WouldNegotiate(plainChromium, H265WithPcmu));
        Assert.True(WebRtcSession.WouldNegotiate(plainChromium, new SourceMedia(new SourceVideo("H264", null), null)));
        Assert.False(WebRtcSession.WouldNegotiate("not sdp"u8, H265WithPcmu));
    }
}
