using System.Buffers.Binary;
using HikShareGateway.Media;
using HikShareGateway.WebRtc.Viewing;
using Microsoft.Extensions.Time.Testing;

namespace HikShareGateway.Tests.WebRtc;

[Trait("Category", "Unit")]
public sealed class WebRtcOutputTests
{
    private const int Video = 0, Audio = 1;
    private static readonly SubscriberQueueLimits Limits = new(4096, TimeSpan.FromSeconds(2), 2, TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(10));

    private sealed class RecordingSender : IWebRtcMediaSender
    {
        public List<(int Track, uint Timestamp, bool Marker, byte First)> Sent { get; } = [];

        public void SendVideoRtpPayload(ReadOnlySpan<byte> payload, uint timestamp, bool marker) => Sent.Add((Video, timestamp, marker, payload[0]));

        public void SendAudio(ReadOnlySpan<byte> payload, uint timestamp, bool marker) => Sent.Add((Audio, timestamp, marker, payload[0]));
    }

    private readonly RtpBufferPool _pool = new();
    private readonly FakeTimeProvider _time = new();

    private RtpBuffer Packet(int track, uint timestamp, bool keyframe = false, bool marker = false, bool rtcp = false, int payloadLength = 100)
    {
        var length = 12 + payloadLength;
        var b = _pool.Rent();
        var span = b.Prepare(length);
        span.Clear();
        span[0] = 0x80;
        span[1] = (byte)((marker ? 0x80 : 0) | 96);
        BinaryPrimitives.WriteUInt32BigEndian(span[4..], timestamp);
        span[12] = keyframe ? (byte)0x65 : (byte)0x41;
        b.Commit(length, track, rtcp, _time.GetTimestamp());
        b.IsKeyframeStart = keyframe;
        return b;
    }

    private void Offer(WebRtcOutput output, RtpBuffer b)
    {
        output.Enqueue(b, _time.GetTimestamp());
        b.Release(); // the source's reference
    }

    [Fact]
    public void Flush_SendsFromTheFirstKeyframeOnInOrder_SkippingWhatCameBefore()
    {
        var sender = new RecordingSender();
        var output = new WebRtcOutput(sender, Video, Audio, 8000, Limits, _time, _ => { });
        output.WaitForKeyframe(hasVideo: true);
        Offer(output, Packet(Video, 1000));
        Offer(output, Packet(Audio, 50));
        Offer(output, Packet(Video, 4600, keyframe: true));
        Offer(output, Packet(Video, 4600, marker: true));
        Offer(output, Packet(Audio, 90));
        output.Flush();

        Assert.Equal([(Video, 4600u, false, (byte)0x65), (Video, 4600u, true, (byte)0x41), (Audio, 90u, false, (byte)0x41)], sender.Sent);
        Assert.Equal(3, output.PacketsSent);
        Assert.Equal(2, output.PacketsDropped);
    }

    [Fact]
    public void Enqueue_RtcpAndTracksTheViewerDidNotNegotiate_AreNeverSent()
    {
        var sender = new RecordingSender();
        var output = new WebRtcOutput(sender, Video, audioTrack: -1, 8000, Limits, _time, _ => { });
        output.WaitForKeyframe(hasVideo: true);
        Offer(output, Packet(Video, 10, keyframe: true));
        Offer(output, Packet(Video, 10, rtcp: true));
        Offer(output, Packet(Audio, 10));
        Offer(output, Packet(2, 10));
        output.Flush();

        Assert.Single(sender.Sent);
    }

    [Fact]
    public void WaitForKeyframe_AfterSending_ReplayedGopContinuesTheTimelineForVideoAndAudio()
    {
        var sender = new RecordingSender();
        var output = new WebRtcOutput(sender, Video, Audio, 8000, Limits, _time, _ => { });
        output.WaitForKeyframe(hasVideo: true);
        Offer(output, Packet(Video, 90000, keyframe: true, marker: true));
        Offer(output, Packet(Audio, 8000));
        Offer(output, Packet(Video, 93600, marker: true));
        output.Flush();

        // A keyframe request: the stream re-subscribes the output and replays its GOP (timestamps from the past).
        output.WaitForKeyframe(hasVideo: true);
        Offer(output, Packet(Video, 90000, keyframe: true, marker: true));
        Offer(output, Packet(Audio, 8000));
        output.Flush();

        var replayedVideo = sender.Sent[3];
        var replayedAudio = sender.Sent[4];
        Assert.Equal(93600u + 3600u, replayedVideo.Timestamp);
        // Audio moved by the same time: (93600 + 3600 − 90000) / 90000 s at 8 kHz = 640 ticks.
        Assert.Equal(8000u + 640u, replayedAudio.Timestamp);
    }

    [Fact]
    public void Enqueue_QueueOverItsByteBound_DropsTheQueueAndResumesAtTheNextKeyframe()
    {
        var sender = new RecordingSender();
        var output = new WebRtcOutput(sender, Video, Audio, 8000, Limits with { MaxOverflows = 5 }, _time, _ => { });
        output.WaitForKeyframe(hasVideo: true);
        Offer(output, Packet(Video, 0, keyframe: true, payloadLength: 1000));
        for (var i = 1; i <= 4; i++)
        {
            Offer(output, Packet(Video, (uint)(i * 3600), payloadLength: 1000)); // the 4th goes over 4096 bytes
        }
        Offer(output, Packet(Video, 20000, payloadLength: 1000)); // skipped: waiting for a keyframe
        Offer(output, Packet(Video, 30000, keyframe: true, payloadLength: 1000));
        output.Flush();

        Assert.Equal([30000u], sender.Sent.Select(s => s.Timestamp));
        Assert.True(output.PacketsDropped >= 5, $"dropped {output.PacketsDropped}");
    }

    [Fact]
    public void Enqueue_OverflowingMoreThanMaxOverflowsWithinTheWindow_DisconnectsOnceAndSendsNothingMore()
    {
        var sender = new RecordingSender();
        var reasons = new List<string>();
        var output = new WebRtcOutput(sender, Video, Audio, 8000, Limits, _time, reasons.Add);
        output.WaitForKeyframe(hasVideo: true);
        for (var round = 0; round < 4; round++)
        {
            Offer(output, Packet(Video, 0, keyframe: true, payloadLength: 3000));
            Offer(output, Packet(Video, 1, payloadLength: 3000));
            _time.Advance(TimeSpan.FromSeconds(1));
        }
        output.Flush();

        Assert.Single(reasons);
        Assert.Contains("fell behind", reasons[0]);
        Assert.Empty(sender.Sent);
    }

    [Fact]
    public void Enqueue_OldestPacketOlderThanMaxDelay_Overflows()
    {
        var sender = new RecordingSender();
        var output = new WebRtcOutput(sender, Video, Audio, 8000, Limits with { MaxOverflows = 5 }, _time, _ => { });
        output.WaitForKeyframe(hasVideo: true);
        Offer(output, Packet(Video, 0, keyframe: true));
        _time.Advance(TimeSpan.FromSeconds(3));
        Offer(output, Packet(Video, 3600));
        output.Flush();

        Assert.Empty(sender.Sent);
        Assert.Equal(2, output.PacketsDropped);
    }

    [Fact]
    public void Complete_ReleasesQueuedPacketsAndIgnoresLaterOnes()
    {
        var sender = new RecordingSender();
        var output = new WebRtcOutput(sender, Video, Audio, 8000, Limits, _time, _ => { });
        output.WaitForKeyframe(hasVideo: true);
        Offer(output, Packet(Video, 0, keyframe: true));
        output.Complete();
        Offer(output, Packet(Video, 0, keyframe: true));
        output.Flush();

        Assert.Empty(sender.Sent);
        Assert.Equal(1, output.PacketsDropped);
    }
}
