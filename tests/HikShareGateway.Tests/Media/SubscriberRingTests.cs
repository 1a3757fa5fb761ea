using HikShareGateway.Media;
using Microsoft.Extensions.Time.Testing;
using static HikShareGateway.Tests.Media.MediaTestKit;

namespace HikShareGateway.Tests.Media;

/// <summary>The per-subscriber ring every output queues its shared packets in: order, growth, drops and who holds the references.</summary>
[Trait("Category", "Unit")]
public sealed class SubscriberRingTests
{
    private readonly RtpBufferPool _pool = new();

    private RtpBuffer Rtp(ushort sequence, int payload = 10) => Packet(_pool, sequence, payload: new byte[payload]);

    /// <summary>Takes everything, checking each packet's sequence, and releases what it took.</summary>
    private static ushort[] TakeAll<T>(SubscriberRing<T> ring) where T : struct
    {
        var sequences = new List<ushort>();
        while (ring.TryTake(out var slot))
        {
            sequences.Add(SequenceOf(slot.Buffer!));
            slot.Buffer!.Release();
        }
        return [.. sequences];
    }

    [Fact]
    public void TryAppend_TakesOneReference_TryTakeHandsItToTheCaller()
    {
        var ring = new SubscriberRing<NoTag>(4, 4);
        var b = Rtp(1);
        Assert.True(ring.TryAppend(b, now: 5));
        Assert.Equal(2, b.References);
        b.Release(); // the producer's reference
        Assert.Equal(1, b.References);

        Assert.True(ring.TryTake(out var slot));
        Assert.Same(b, slot.Buffer);
        Assert.Equal(5, slot.EnqueuedAt);
        Assert.Equal(1, b.References); // taking moved the ring's reference, it did not drop it
        Assert.Equal(0, ring.Count);
        slot.Buffer!.Release();
        Assert.Equal(0, b.References);
    }

    [Fact]
    public void TryTake_AfterWrappingAroundTheEnd_KeepsArrivalOrder()
    {
        var ring = new SubscriberRing<NoTag>(4, 4);
        for (ushort s = 1; s <= 3; s++)
        {
            Append(ring, Rtp(s), s);
        }
        Assert.Equal(new ushort[] { 1, 2 }, TakeTwo(ring));
        for (ushort s = 4; s <= 6; s++)
        {
            Assert.True(Append(ring, Rtp(s), s)); // slots 3, 0, 1: across the end
        }
        Assert.Equal(4, ring.Capacity);
        Assert.Equal(new ushort[] { 3, 4, 5, 6 }, TakeAll(ring));
    }

    [Fact]
    public void EnsureRoom_GrowingWhileWrapped_KeepsArrivalOrderAndDoublesCapacity()
    {
        var ring = new SubscriberRing<NoTag>(4, 16);
        for (ushort s = 1; s <= 4; s++)
        {
            Append(ring, Rtp(s), s);
        }
        Assert.Equal(new ushort[] { 1, 2 }, TakeTwo(ring));
        Append(ring, Rtp(5), 5);
        Append(ring, Rtp(6), 6); // full and wrapped: head at slot 2
        Assert.Equal(4, ring.Capacity);

        Assert.True(Append(ring, Rtp(7), 7));
        Assert.Equal(8, ring.Capacity);
        Assert.Equal(new ushort[] { 3, 4, 5, 6, 7 }, TakeAll(ring));
    }

    [Fact]
    public void TryAppend_FullAtTheMaximum_RefusesWithoutTakingAReference()
    {
        var ring = new SubscriberRing<NoTag>(2, 4);
        for (ushort s = 1; s <= 4; s++)
        {
            Assert.True(Append(ring, Rtp(s), s));
        }
        var extra = Rtp(5);
        Assert.False(ring.EnsureRoom());
        Assert.False(ring.TryAppend(extra, 5));
        Assert.Equal(1, extra.References);
        Assert.Equal(4, ring.Capacity);
        Assert.Equal(4, ring.Count);
        extra.Release();
        Assert.Equal(4, ring.Clear());
    }

    [Fact]
    public void QueuedBytes_CountsPacketLengthsWithTheOverhead_AndFollowsTakes()
    {
        var ring = new SubscriberRing<NoTag>(4, 4, overheadPerPacket: 4);
        var a = Rtp(1, payload: 100);
        var b = Rtp(2, payload: 50);
        ring.TryAppend(a, 1);
        ring.TryAppend(b, 2);
        Assert.Equal(a.Length + 4 + b.Length + 4, ring.QueuedBytes);
        ring.TryTake(out var slot);
        slot.Buffer!.Release();
        Assert.Equal(b.Length + 4, ring.QueuedBytes);
        ring.Clear();
        Assert.Equal(0, ring.QueuedBytes);
        a.Release();
        b.Release();
    }

    [Fact]
    public void OldestPacketAge_SkipsTagOnlyEntries_AndIsZeroWhenNoPacketIsQueued()
    {
        var time = new FakeTimeProvider();
        var ring = new SubscriberRing<int>(4, 4);
        Assert.Equal(TimeSpan.Zero, ring.OldestPacketAge(time, time.GetTimestamp()));
        ring.TryAppendTag(7, now: time.GetTimestamp());
        time.Advance(TimeSpan.FromSeconds(1));
        Append(ring, Rtp(1), time.GetTimestamp());
        time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(TimeSpan.FromSeconds(2), ring.OldestPacketAge(time, time.GetTimestamp()));
        ring.Clear();
    }

    [Fact]
    public void DropPackets_ReleasesEveryPacket_KeepsTagOnlyEntriesInOrder()
    {
        var ring = new SubscriberRing<int>(8, 8);
        var packets = new List<RtpBuffer>();
        // Move the head to slot 5 first, so that the six entries and the compaction cross the end of the array.
        for (var i = 0; i < 5; i++)
        {
            ring.TryAppendTag(-1);
            ring.TryTake(out _);
        }
        for (var i = 0; i < 6; i++)
        {
            if (i is 1 or 4)
            {
                ring.TryAppendTag(i);
            }
            else
            {
                var p = Rtp((ushort)i);
                packets.Add(p);
                ring.TryAppend(p, i, tag: 100 + i);
            }
        }

        Assert.Equal(4, ring.DropPackets());
        Assert.All(packets, p => Assert.Equal(1, p.References)); // only the test's own reference is left
        Assert.Equal(0, ring.QueuedBytes);
        Assert.Equal(2, ring.Count);
        Assert.True(ring.TryTake(out var first));
        Assert.True(ring.TryTake(out var second));
        Assert.Null(first.Buffer);
        Assert.Equal((1, 4), (first.Tag, second.Tag));
        Assert.False(ring.TryTake(out _));
        packets.ForEach(p => p.Release());
    }

    [Fact]
    public void Clear_ReleasesEveryQueuedReference_AndTheRingStaysUsable()
    {
        var ring = new SubscriberRing<NoTag>(2, 8);
        var packets = new List<RtpBuffer>();
        for (ushort s = 1; s <= 5; s++)
        {
            var p = Rtp(s);
            packets.Add(p);
            ring.TryAppend(p, s);
        }
        ring.TryAppendTag(default);

        Assert.Equal(5, ring.Clear());
        Assert.All(packets, p => Assert.Equal(1, p.References));
        Assert.Equal(0, ring.Count);

        Append(ring, Rtp(9), 9);
        Assert.Equal(new ushort[] { 9 }, TakeAll(ring));
        packets.ForEach(p => p.Release());
    }

    [Fact]
    public void Constructor_CapacityNotAPowerOfTwo_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new SubscriberRing<NoTag>(3, 8));
        Assert.Throws<ArgumentOutOfRangeException>(() => new SubscriberRing<NoTag>(8, 4));
    }

    [Fact]
    public void AppendTakeCycle_AtSteadyState_AllocatesNothing()
    {
        var ring = new SubscriberRing<NoTag>(64, 64);
        var b = Rtp(1);
        for (var i = 0; i < 100; i++)
        {
            ring.TryAppend(b, i);
            ring.TryTake(out var warm);
            warm.Buffer!.Release();
        }
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 10_000; i++)
        {
            ring.TryAppend(b, i);
            ring.OldestPacketAge(TimeProvider.System, i);
            ring.TryTake(out var slot);
            slot.Buffer!.Release();
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        b.Release();
    }

    /// <summary>Queues <paramref name="b"/> and drops the producer's reference, as a stream does after its fan-out: the ring's is then the only one.</summary>
    private static bool Append<T>(SubscriberRing<T> ring, RtpBuffer b, long now) where T : struct
    {
        var queued = ring.TryAppend(b, now);
        b.Release();
        return queued;
    }

    private static ushort[] TakeTwo(SubscriberRing<NoTag> ring)
    {
        var taken = new List<ushort>();
        for (var i = 0; i < 2 && ring.TryTake(out var slot); i++)
        {
            taken.Add(SequenceOf(slot.Buffer!));
            slot.Buffer!.Release();
        }
        return [.. taken];
    }
}
