using HikShareGateway.Media;
using Microsoft.Extensions.Time.Testing;
using static HikShareGateway.Media.SubscriberQueuePolicy;
using static HikShareGateway.Tests.Media.MediaTestKit;

namespace HikShareGateway.Tests.Media;

/// <summary>The slow-consumer policy any output's bounded queue uses, on a fake clock.</summary>
[Trait("Category", "Unit")]
public sealed class SubscriberQueuePolicyTests
{
    private static readonly SubscriberQueueLimits Limits = new(MaxBytes: 1000, MaxDelay: TimeSpan.FromSeconds(2), MaxOverflows: 3,
        OverflowWindow: TimeSpan.FromSeconds(30), StalledSend: TimeSpan.FromSeconds(10));

    private readonly FakeTimeProvider _time = new();
    private readonly RtpBufferPool _pool = new();

    private RtpBuffer Delta() => Packet(_pool, 1, payload: [Slice, 0x00]);

    private RtpBuffer Keyframe()
    {
        var b = Packet(_pool, 1, payload: [Sps, 0x00]);
        new KeyframeTracker(VideoCodec.H264).Mark(b);
        return b;
    }

    private Decision Offer(SubscriberQueuePolicy p, RtpBuffer b, long queued = 0, TimeSpan oldest = default, bool room = true, long sendStartedAt = 0)
        => Offer(p, b, out _, queued, oldest, room, sendStartedAt);

    private Decision Offer(SubscriberQueuePolicy p, RtpBuffer b, out string? disconnect, long queued = 0, TimeSpan oldest = default, bool room = true, long sendStartedAt = 0)
    {
        var d = p.Offer(b, _time.GetTimestamp(), queued, oldest, room, sendStartedAt, out disconnect);
        b.Release();
        return d;
    }

    [Fact]
    public void Offer_WaitingForKeyframe_SkipsDeltasUntilTheKeyframeThenAccepts()
    {
        var p = new SubscriberQueuePolicy(Limits, _time);
        p.WaitForKeyframe(hasVideo: true);
        Assert.Equal(Decision.SkipToKeyframe, Offer(p, Delta()));
        Assert.Equal(Decision.Accept, Offer(p, Keyframe()));
        Assert.Equal(Decision.Accept, Offer(p, Delta()));
    }

    [Fact]
    public void Offer_AudioOnly_NeverWaitsForAKeyframe()
    {
        var p = new SubscriberQueuePolicy(Limits, _time);
        p.WaitForKeyframe(hasVideo: false);
        Assert.Equal(Decision.Accept, Offer(p, Delta()));
    }

    [Fact]
    public void Offer_OverMaxBytes_OverflowsThenSkipsToTheNextKeyframe()
    {
        var p = new SubscriberQueuePolicy(Limits, _time);
        Assert.Equal(Decision.Overflow, Offer(p, Delta(), out var disconnect, queued: 995));
        Assert.Null(disconnect);
        Assert.Equal(Decision.SkipToKeyframe, Offer(p, Delta()));
        Assert.Equal(Decision.Accept, Offer(p, Keyframe()));
    }

    [Fact]
    public void Offer_OverflowOnAKeyframe_ResumesRightThere()
    {
        var p = new SubscriberQueuePolicy(Limits, _time);
        Assert.Equal(Decision.Overflow, Offer(p, Keyframe(), out var disconnect, room: false));
        Assert.Null(disconnect);
        Assert.Equal(Decision.Accept, Offer(p, Delta()));
    }

    [Fact]
    public void Offer_OldestPacketOlderThanMaxDelay_Overflows()
    {
        var p = new SubscriberQueuePolicy(Limits, _time);
        Assert.Equal(Decision.Accept, Offer(p, Delta(), oldest: TimeSpan.FromSeconds(2)));
        Assert.Equal(Decision.Overflow, Offer(p, Delta(), oldest: TimeSpan.FromSeconds(2.1)));
    }

    [Fact]
    public void Offer_OverflowAfterMaxOverflowsWithinTheWindow_Disconnects()
    {
        var p = new SubscriberQueuePolicy(Limits, _time);
        // Keyframes, so that each overflow resumes at once and the next one can happen.
        for (var i = 0; i < Limits.MaxOverflows; i++)
        {
            Assert.Equal(Decision.Overflow, Offer(p, Keyframe(), out var tolerated, room: false));
            Assert.Null(tolerated);
            _time.Advance(TimeSpan.FromSeconds(5));
        }
        Assert.Equal(Decision.Overflow, Offer(p, Keyframe(), out var disconnect, room: false));
        Assert.Equal("fell behind 3 times within 30 s", disconnect);
    }

    [Fact]
    public void Offer_OverflowsSpreadWiderThanTheWindow_NeverDisconnect()
    {
        var p = new SubscriberQueuePolicy(Limits, _time);
        for (var i = 0; i < 6; i++)
        {
            Assert.Equal(Decision.Overflow, Offer(p, Keyframe(), out var disconnect, room: false));
            Assert.Null(disconnect);
            _time.Advance(TimeSpan.FromSeconds(16));
        }
    }

    [Fact]
    public void Offer_SendStalledLongerThanTheLimit_Disconnects()
    {
        var p = new SubscriberQueuePolicy(Limits, _time);
        var started = _time.GetTimestamp();
        _time.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal(Decision.Accept, Offer(p, Delta(), sendStartedAt: started));
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(Decision.Stalled, Offer(p, Delta(), out var disconnect, sendStartedAt: started));
        Assert.Equal("no send progress for 10 s", disconnect);
    }
}
