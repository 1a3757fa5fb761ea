using System.Net;
using System.Text;
using HikShareGateway.WebRtc.Diagnostics;
using HikShareGateway.WebRtc.Dtls;
using HikShareGateway.WebRtc.Ice;
using HikShareGateway.WebRtc.Sdp;
using Microsoft.Extensions.Logging.Abstractions;

namespace HikShareGateway.WebRtc.Tests.Sdp;

/// <summary>Two-way audio in the offer/answer (contract §5.1): which offers ask to talk, which codec is received, the answer's direction.</summary>
[Trait("Category", "Unit")]
public sealed class TalkNegotiationTests
{
    private static string Fixture(string name) => File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", name));

    private static SdpOffer Parse(string text)
    {
        Assert.True(SdpOfferParser.TryParse(Encoding.UTF8.GetBytes(text), out var offer, out var failure), failure.ToString());
        return offer;
    }

    /// <summary>Chromium's offer with video recvonly and its microphone on audio sendrecv (and a data channel).</summary>
    private static string Sendrecv => Fixture("chromium-sendrecv-audio-datachannel.sdp");

    /// <summary>The same microphone offered with Opus only (setCodecPreferences), as a browser that will not send G.711.</summary>
    private static string OpusOnly => Sendrecv.Replace("m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126", "m=audio 9 UDP/TLS/RTP/SAVPF 111", StringComparison.Ordinal)
        .Replace("a=rtpmap:0 PCMU/8000\r\n", "", StringComparison.Ordinal).Replace("a=rtpmap:8 PCMA/8000\r\n", "", StringComparison.Ordinal);

    /// <summary>Talk only: the audio sendonly and no video section.</summary>
    private static string TalkOnly
    {
        get
        {
            var lines = Sendrecv.Split("\r\n").ToList();
            var video = lines.FindIndex(l => l.StartsWith("m=video", StringComparison.Ordinal));
            var audio = lines.FindIndex(l => l.StartsWith("m=audio", StringComparison.Ordinal));
            lines.RemoveRange(video, audio - video);
            return string.Join("\r\n", lines.Select(l => l == "a=sendrecv" ? "a=sendonly" : l == "a=group:BUNDLE 0 1 2" ? "a=group:BUNDLE 1 2" : l));
        }
    }

    private static readonly SourceMedia H264WithPcmu = new(new SourceVideo("H264", null), new SourceAudio("PCMU"));
    private static readonly TalkReceive PcmuOrOpus = new(["PCMU"], Opus: true);

    private static AnswerParameters Ours() => new(
        "gw12", "abcdefghijklmnopqrstuvwx",
        new SdpFingerprint("sha-256", Enumerable.Range(0, 32).Select(i => (byte)i).ToArray()),
        [new SdpCandidate("1", 1, "udp", SdpCandidate.HostPriority(65535), "192.0.2.10", 8189, "host")],
        0x11111111, 0x22222222, "hikshare", 42);

    private static string AudioSection(string answer) => answer[answer.IndexOf("m=audio", StringComparison.Ordinal)..];

    [Fact]
    public void AsksToTalk_SendrecvMicrophone_Yes_SendonlyWithoutVideo_IsTalkOnly_RecvonlyOffer_No()
    {
        Assert.True(SdpNegotiator.AsksToTalk(Parse(Sendrecv), out var talkOnly));
        Assert.False(talkOnly);
        Assert.True(SdpNegotiator.AsksToTalk(Parse(TalkOnly), out talkOnly));
        Assert.True(talkOnly);
        Assert.False(SdpNegotiator.AsksToTalk(Parse(Fixture("chromium-recvonly-video-audio.sdp")), out talkOnly));
        Assert.False(talkOnly);
    }

    [Fact]
    public void Talk_OfferWithPcmuAndOpus_ReceivesPcmuAsIs_AndTheAnswerIsSendrecv()
    {
        Assert.True(SdpNegotiator.TryNegotiate(Parse(Sendrecv), H264WithPcmu, out var n, out _, PcmuOrOpus));
        Assert.Equal("PCMU", n.Audio!.Receive!.Name);
        Assert.True(n.Audio.Send);
        var audio = AudioSection(SdpAnswerBuilder.Build(n, Ours()));
        Assert.StartsWith("m=audio 9 UDP/TLS/RTP/SAVPF 0\r\n", audio);
        Assert.Contains("a=sendrecv\r\n", audio);
        Assert.Contains("a=rtpmap:0 PCMU/8000\r\n", audio);
    }

    [Fact]
    public void Talk_DeviceTakesPcmaAndSourceSendsPcmu_AnswerListsTheTalkCodecFirst()
    {
        Assert.True(SdpNegotiator.TryNegotiate(Parse(Sendrecv), H264WithPcmu, out var n, out _, new TalkReceive(["PCMA"], Opus: false)));
        Assert.Equal("PCMA", n.Audio!.Receive!.Name);
        Assert.Equal("PCMU", n.Audio.Codec.Name);
        var audio = AudioSection(SdpAnswerBuilder.Build(n, Ours()));
        // The browser sends the first format of the answer: PCMA; it receives PCMU from the camera.
        Assert.StartsWith("m=audio 9 UDP/TLS/RTP/SAVPF 8 0\r\n", audio);
        Assert.Contains("a=rtpmap:8 PCMA/8000\r\n", audio);
        Assert.Contains("a=rtpmap:0 PCMU/8000\r\n", audio);
        Assert.Contains("a=sendrecv\r\n", audio);
    }

    [Fact]
    public void Talk_OpusOnlyOffer_ReceivesOpus_WhenTranscodable_AndTheAnswerIsRecvonlyWhenTheSourceAudioCannotGoBack()
    {
        Assert.True(SdpNegotiator.TryNegotiate(Parse(OpusOnly), H264WithPcmu, out var n, out _, PcmuOrOpus));
        Assert.Equal("opus", n.Audio!.Receive!.Name);
        Assert.False(n.Audio.Send); // the camera's PCMU is not in the offer: nothing goes back on this section
        Assert.NotNull(n.Video);
        var audio = AudioSection(SdpAnswerBuilder.Build(n, Ours()));
        Assert.StartsWith("m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n", audio);
        Assert.Contains("a=rtpmap:111 opus/48000/2\r\n", audio);
        Assert.Contains("a=fmtp:111 minptime=10;useinbandfec=1\r\n", audio);
        Assert.Contains("a=recvonly\r\n", audio);
    }

    [Fact]
    public void Talk_OpusOnlyOffer_WithoutTheTranscoder_FailsNamingOpus()
    {
        Assert.False(SdpNegotiator.TryNegotiate(Parse(OpusOnly), H264WithPcmu, out _, out var failure, new TalkReceive(["PCMU"], Opus: false)));
        Assert.Equal(NegotiationError.NoTalkCodec, failure.Error);
        Assert.Equal("opus", failure.Codec);
    }

    [Fact]
    public void NoTalk_SendrecvMicrophone_IsAnsweredSendonly_AsBefore()
    {
        Assert.True(SdpNegotiator.TryNegotiate(Parse(Sendrecv), H264WithPcmu, out var n, out _));
        Assert.Null(n.Audio!.Receive);
        Assert.Contains("a=sendonly\r\n", AudioSection(SdpAnswerBuilder.Build(n, Ours())));
        // A sendonly microphone without a talk floor is not taken at all.
        Assert.False(SdpNegotiator.TryNegotiate(Parse(TalkOnly), H264WithPcmu, out _, out _));
    }

    [Fact]
    public void TalkOnly_WithoutAnySourceMedia_NegotiatesTheMicrophoneAlone_Recvonly()
    {
        Assert.True(SdpNegotiator.TryNegotiate(Parse(TalkOnly), new SourceMedia(null, null), out var n, out _, PcmuOrOpus));
        Assert.Null(n.Video);
        Assert.Equal("PCMU", n.Audio!.Receive!.Name);
        var answer = SdpAnswerBuilder.Build(n, Ours());
        Assert.DoesNotContain("m=video", answer);
        Assert.Contains("a=recvonly\r\n", AudioSection(answer));
    }
}

/// <summary>Sessions for talking offers: created without video when they only talk; the 422 names the viewer's codec.</summary>
[Trait("Category", "Unit")]
public sealed class TalkSessionTests : IAsyncLifetime
{
    private readonly DropCounters _drops = new();
    private UdpMux _mux = null!;
    private WebRtcSessionContext _context = null!;

    public Task InitializeAsync()
    {
        _mux = new UdpMux(new IPEndPoint(IPAddress.Loopback, 0), TimeProvider.System, NullLogger.Instance, _drops);
        _context = new WebRtcSessionContext(_mux, DtlsCertificate.Create(TimeProvider.System), new WebRtcOptions { IceLite = true },
            HostCandidates.For(["127.0.0.1"], _mux.LocalEndPoint.Port), TimeProvider.System, NullLoggerFactory.Instance);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _mux.DisposeAsync();

    private static SdpOffer Parse(string text)
    {
        Assert.True(SdpOfferParser.TryParse(Encoding.UTF8.GetBytes(text), out var offer, out var failure), failure.ToString());
        return offer;
    }

    private static string Sendrecv => File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "chromium-sendrecv-audio-datachannel.sdp"));

    [Fact]
    public async Task TalkingOffer_WithoutVideoToSend_CreatesAnAudioSession_ThatReceivesTalk()
    {
        Assert.True(WebRtcSession.TryCreate(Parse(Sendrecv), new SourceMedia(null, null), new TalkReceive(["PCMU"], false), _context,
            out var session, out var answer, out _));
        await using (session)
        {
            Assert.True(session.ReceivesTalk);
            Assert.Equal("PCMU", session.TalkCodecName);
            Assert.Null(session.AudioSsrc); // nothing to send back
            Assert.Contains("m=video 0 ", answer); // the video section rejected
        }
    }

    [Fact]
    public void OpusOnlyTalk_WithoutTheTranscoder_Is422NamingOpusAndWhatTheDeviceTakes()
    {
        var opusOnly = Sendrecv.Replace("m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126", "m=audio 9 UDP/TLS/RTP/SAVPF 111", StringComparison.Ordinal);
        Assert.False(WebRtcSession.TryCreate(Parse(opusOnly), new SourceMedia(new SourceVideo("H264", null), null), new TalkReceive(["PCMU"], false), _context,
            out _, out _, out var refusal));
        Assert.Equal(422, refusal.Status);
        Assert.Contains("opus", refusal.Reason);
        Assert.Contains("PCMU", refusal.Reason);
        Assert.Contains("FFmpeg", refusal.Reason);
    }

    [Fact]
    public void AudioOnlyOffer_ThatDoesNotTalk_IsStillRefused_VideoIsWhatViewingIsFor()
    {
        Assert.False(WebRtcSession.TryCreate(Parse(Sendrecv.Replace("a=sendrecv", "a=recvonly", StringComparison.Ordinal)), new SourceMedia(null, new SourceAudio("PCMU")), null, _context,
            out _, out _, out var refusal));
        Assert.Equal(422, refusal.Status);
    }
}
