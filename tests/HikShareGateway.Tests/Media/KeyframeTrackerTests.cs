using HikShareGateway.Media;
using static HikShareGateway.Tests.Media.MediaTestKit;

namespace HikShareGateway.Tests.Media;

/// <summary>The one keyframe tracker (live GOP cache and playback): where a joining subscriber may start.</summary>
[Trait("Category", "Unit")]
public sealed class KeyframeTrackerTests
{
    private readonly RtpBufferPool _pool = new();

    private bool Mark(KeyframeTracker t, params byte[] payload)
    {
        var b = Packet(_pool, 1, payload: payload);
        var starts = t.Mark(b);
        Assert.Equal(starts, b.IsKeyframeStart);
        b.Release();
        return starts;
    }

    [Fact]
    public void Mark_H264SpsPpsIdrFragments_OnlyTheSpsStartsAKeyframe()
    {
        var t = new KeyframeTracker(VideoCodec.H264);
        Assert.True(Mark(t, Sps, 0x42));
        Assert.False(Mark(t, Pps, 0xCE));
        Assert.False(Mark(t, FuAStart(5)));
        Assert.False(Mark(t, FuAMiddle(5)));
        Assert.False(Mark(t, Slice, 0x9A));
        // The next GOP: parameter sets again.
        Assert.True(Mark(t, Sps, 0x42));
    }

    [Fact]
    public void Mark_H264IdrWithoutParameterSets_StartsAtTheIdrAfterASlice()
    {
        var t = new KeyframeTracker(VideoCodec.H264);
        Assert.True(Mark(t, Idr, 0x88));
        Assert.False(Mark(t, FuAStart(5)));
        Assert.False(Mark(t, Slice, 0x9A));
        Assert.True(Mark(t, FuAStart(5)));
    }

    [Fact]
    public void Mark_H265VpsThenIdr_StartsAtTheVps()
    {
        var t = new KeyframeTracker(VideoCodec.H265);
        Assert.True(Mark(t, 32 << 1, 0x01));    // VPS
        Assert.False(Mark(t, 33 << 1, 0x01));   // SPS
        Assert.False(Mark(t, 19 << 1, 0x01));   // IDR_W_RADL
        Assert.False(Mark(t, 1 << 1, 0x01));    // TRAIL_R ends the prelude
        Assert.True(Mark(t, 19 << 1, 0x01));
    }

    [Fact]
    public void Reset_NewSourceSessionInsidePrelude_NextParameterSetsStartAgain()
    {
        var t = new KeyframeTracker(VideoCodec.H264);
        Assert.True(Mark(t, Sps, 0x42));
        t.Reset();
        Assert.True(Mark(t, Sps, 0x42));
    }

    [Fact]
    public void Mark_OtherCodecOrNonRtp_NeverStartsAKeyframe()
    {
        Assert.False(Mark(new KeyframeTracker(VideoCodec.Other), Sps, 0x42));
        var t = new KeyframeTracker(VideoCodec.H264);
        var b = _pool.Rent();
        b.Prepare(3).Fill(0x67);
        b.Commit(3, 0, false, 1);
        Assert.False(t.Mark(b));
        b.Release();
    }
}
