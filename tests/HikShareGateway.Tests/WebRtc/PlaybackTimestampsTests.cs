using HikShareGateway.Media;
using HikShareGateway.Rtsp.Upstream;
using HikShareGateway.WebRtc.Viewing;

namespace HikShareGateway.Tests.WebRtc;

/// <summary>
/// The browser's timestamps of a WebRTC playback at a speed: they advance at the wall clock's rate whatever the rate the
/// recorder's run at, never go back across a change of speed, and audio keeps its distance to video at normal speed.
/// </summary>
[Trait("Category", "Unit")]
public sealed class PlaybackTimestampsTests
{
    private const int Video = 90000, Audio = 8000;

    [Theory]
    [InlineData(2.0)]
    [InlineData(4.0)]
    [InlineData(0.5)]
    public void ContentTimeStamps_AreDividedByTheRate_SoTheyAdvanceAtTheClocksRate(double rate)
    {
        var t = new PlaybackTimestamps();
        t.Restart(rate);
        var first = t.MapVideo(1_000_000, Audio, Video);
        // One second of wall clock carries rate seconds of recording, stamped at 90 kHz content time.
        var oneSecondLater = t.MapVideo(1_000_000 + (uint)(90000 * rate), Audio, Video);
        Assert.Equal(1_000_000u, first);
        Assert.Equal(90000u, oneSecondLater - first);
    }

    [Fact]
    public void NormalSpeed_KeepsTheOutputsTimestamps()
    {
        var t = new PlaybackTimestamps();
        for (uint ts = 5000; ts < 5000 + 90000; ts += 3600)
        {
            Assert.Equal(ts, t.MapVideo(ts, Audio, Video));
        }
    }

    [Fact]
    public void ChangeOfSpeed_ContinuesAfterTheLastFrameSent_WithTheOutputsGap()
    {
        var t = new PlaybackTimestamps();
        t.Restart(2);
        t.MapVideo(0, Audio, Video);
        var last = t.MapVideo(180000, Audio, Video); // 2 s of content at 2x = 1 s for the browser
        Assert.Equal(90000u, last);

        // The output moved the new segment one frame (3600) after its last packet; the new rate is 0.5.
        t.Restart(0.5);
        var next = t.MapVideo(180000 + 3600, Audio, Video);
        Assert.Equal(last + 3600, next);
        var later = t.MapVideo(180000 + 3600 + 45000, Audio, Video); // 0.5 s of content at 0.5x = 1 s
        Assert.Equal(next + 90000, later);
    }

    [Fact]
    public void TimestampsWrapping_AreMappedAcrossTheWrap()
    {
        var t = new PlaybackTimestamps();
        t.Restart(2);
        var a = t.MapVideo(uint.MaxValue - 3599, Audio, Video);
        var b = t.MapVideo(3600, Audio, Video); // 7200 later, across 2^32
        Assert.Equal(3600u, unchecked(b - a));
    }

    [Fact]
    public void LongPlayAtASpeed_ReanchorsWithoutAJump()
    {
        var t = new PlaybackTimestamps();
        t.Restart(0.5);
        uint prev = t.MapVideo(0, Audio, Video);
        uint ts = 0;
        // 2^28 ticks is about 50 min: go past it in 10-second steps.
        for (var i = 0; i < 400; i++)
        {
            ts = unchecked(ts + 900000);
            var mapped = t.MapVideo(ts, Audio, Video);
            Assert.Equal(1_800_000u, unchecked(mapped - prev));
            prev = mapped;
        }
    }

    [Fact]
    public void Audio_IsSentAtNormalSpeedOnly_AndMovesWithVideo()
    {
        var t = new PlaybackTimestamps();
        Assert.False(t.TryMapAudio(100, out _)); // no video anchored yet

        t.MapVideo(0, Audio, Video);
        Assert.True(t.TryMapAudio(800, out var same));
        Assert.Equal(800u, same);
        t.MapVideo(90000, Audio, Video);

        // 2 s of content at 2x: the browser's video timeline is 1 s behind the output's; audio is not sent meanwhile.
        t.Restart(2);
        t.MapVideo(90000 + 3600, Audio, Video);
        t.MapVideo(90000 + 3600 + 180000, Audio, Video);
        Assert.False(t.TryMapAudio(8000, out _));

        // Back to 1: audio is shifted by what video was (-1 s → -8000 ticks at 8 kHz).
        t.Restart(1);
        var v = t.MapVideo(90000 + 3600 + 180000 + 3600, Audio, Video);
        Assert.Equal(90000u + 3600 + 90000 + 3600, v);
        Assert.True(t.TryMapAudio(30000, out var shifted));
        Assert.Equal(30000u - 8000, shifted);
    }

    [Theory]
    [InlineData(1.0, "2.000", 1.0, 1.0)]    // normal speed: whatever is answered
    [InlineData(2.0, "2.000", 2.0, 1.0)]    // RFC 2326 §12.34: content time, the position moves with the timestamps
    [InlineData(2.0, "1.000", 1.0, 2.0)]    // gst-rtsp-server: Scale 1 + Speed 2, delivery time
    [InlineData(0.5, null, 0.5, 1.0)]       // no Scale answered: the speed asked for
    [InlineData(4.0, "bogus", 4.0, 1.0)]
    [InlineData(4.0, "-4", 4.0, 1.0)]
    public void Pace_FollowsTheRecordersAnswer(double requested, string? answered, double timestampRate, double recordingPerTimestamp)
    {
        var pace = RtspUpstreamClient.PaceOf(requested, answered);
        Assert.Equal(requested, pace.Requested);
        Assert.Equal(timestampRate, pace.TimestampRate);
        Assert.Equal(recordingPerTimestamp, pace.RecordingPerTimestamp);
        Assert.Equal(PlaybackPace.Normal, RtspUpstreamClient.PaceOf(1, answered));
    }
}
