using System.Numerics;

namespace HikShareGateway.Media;

/// <summary>
/// One subscriber's queue of shared packets, in arrival order: a ring of slots that starts small and doubles up to a
/// maximum (a thousand idle viewers must not cost a thousand full-size rings; the byte and delay limits of the
/// <see cref="SubscriberQueuePolicy"/> usually bite long before the maximum). Every output of the media core (RTSP,
/// WebRTC, fMP4) keeps its packets here.
/// <para>
/// Ownership: the ring holds one reference to every packet it queues (<see cref="TryAppend"/> takes it), and is its
/// only holder on the subscriber's side. <see cref="TryTake"/> hands that reference to the caller, who releases it
/// once sent; <see cref="DropPackets"/> and <see cref="Clear"/> release it. Allocates only when it grows, never more
/// than <c>maxCapacity</c> slots. Not synchronised: the owner calls it under the lock it already takes for the
/// policy.
/// </para>
/// </summary>
/// <typeparam name="TTag">What the output keeps beside each packet (a channel, a flag); a slot without a packet
/// (e.g. an RTSP response) carries only its tag and is kept by <see cref="DropPackets"/>.</typeparam>
public sealed class SubscriberRing<TTag> where TTag : struct
{
    private readonly int _maxCapacity;
    private readonly int _overheadPerPacket;
    private Slot[] _slots;
    private int _head, _count;
    private long _queuedBytes;

    /// <summary>One queued entry.</summary>
    public struct Slot
    {
        /// <summary>The packet (one reference owned by the ring while queued), or null for a tag-only entry.</summary>
        public RtpBuffer? Buffer;
        /// <summary>When it was queued (<see cref="TimeProvider.GetTimestamp"/>), for the policy's age bound.</summary>
        public long EnqueuedAt;
        public TTag Tag;
    }

    /// <param name="initialCapacity">Slots at first; a power of two.</param>
    /// <param name="maxCapacity">The most it grows to; a power of two, at least <paramref name="initialCapacity"/>.</param>
    /// <param name="overheadPerPacket">Bytes counted per packet beyond <see cref="RtpBuffer.Length"/> in
    /// <see cref="QueuedBytes"/> (the RTSP output counts its 4-byte interleaved header).</param>
    public SubscriberRing(int initialCapacity, int maxCapacity, int overheadPerPacket = 0)
    {
        if (!BitOperations.IsPow2(initialCapacity) || !BitOperations.IsPow2(maxCapacity) || maxCapacity < initialCapacity)
        {
            throw new ArgumentOutOfRangeException(nameof(maxCapacity), "capacities must be powers of two, initial <= max");
        }
        _slots = new Slot[initialCapacity];
        _maxCapacity = maxCapacity;
        _overheadPerPacket = overheadPerPacket;
    }

    /// <summary>Entries queued (packets and tag-only ones).</summary>
    public int Count => _count;

    /// <summary>Slots allocated now.</summary>
    public int Capacity => _slots.Length;

    /// <summary>Bytes of the queued packets (with the per-packet overhead).</summary>
    public long QueuedBytes => _queuedBytes;

    /// <summary>Whether one more entry fits, growing the ring when full; false only at the maximum.</summary>
    public bool EnsureRoom()
    {
        if (_count < _slots.Length)
        {
            return true;
        }
        if (_slots.Length >= _maxCapacity)
        {
            return false;
        }
        var bigger = new Slot[_slots.Length * 2];
        var mask = _slots.Length - 1;
        for (var i = 0; i < _count; i++)
        {
            bigger[i] = _slots[(_head + i) & mask];
        }
        _slots = bigger;
        _head = 0;
        return true;
    }

    /// <summary>Queues <paramref name="buffer"/>, taking a reference; false (nothing taken) when the ring is full at its maximum.</summary>
    public bool TryAppend(RtpBuffer buffer, long now, TTag tag = default)
    {
        if (!EnsureRoom())
        {
            return false;
        }
        buffer.AddRef();
        ref var slot = ref _slots[(_head + _count) & (_slots.Length - 1)];
        slot.Buffer = buffer;
        slot.EnqueuedAt = now;
        slot.Tag = tag;
        _count++;
        _queuedBytes += buffer.Length + _overheadPerPacket;
        return true;
    }

    /// <summary>Queues an entry without a packet (it only carries <paramref name="tag"/>); false when full at the maximum.</summary>
    public bool TryAppendTag(TTag tag, long now = 0)
    {
        if (!EnsureRoom())
        {
            return false;
        }
        ref var slot = ref _slots[(_head + _count) & (_slots.Length - 1)];
        slot.Buffer = null;
        slot.EnqueuedAt = now;
        slot.Tag = tag;
        _count++;
        return true;
    }

    /// <summary>Takes the oldest entry; its packet's reference passes to the caller, who releases it.</summary>
    public bool TryTake(out Slot slot)
    {
        if (_count == 0)
        {
            slot = default;
            return false;
        }
        ref var head = ref _slots[_head];
        slot = head;
        head = default;
        _head = (_head + 1) & (_slots.Length - 1);
        _count--;
        if (slot.Buffer is { } b)
        {
            _queuedBytes -= b.Length + _overheadPerPacket;
        }
        return true;
    }

    /// <summary>When the oldest queued packet was queued (tag-only entries skipped); false when no packet is queued.</summary>
    public bool TryGetOldestPacketTime(out long enqueuedAt)
    {
        var mask = _slots.Length - 1;
        for (var i = 0; i < _count; i++)
        {
            ref var slot = ref _slots[(_head + i) & mask];
            if (slot.Buffer is not null)
            {
                enqueuedAt = slot.EnqueuedAt;
                return true;
            }
        }
        enqueuedAt = 0;
        return false;
    }

    /// <summary>How long the oldest queued packet has waited at <paramref name="now"/>; zero when none is queued.</summary>
    public TimeSpan OldestPacketAge(TimeProvider time, long now)
        => TryGetOldestPacketTime(out var at) ? time.GetElapsedTime(at, now) : TimeSpan.Zero;

    /// <summary>An overflow: releases every queued packet and keeps the tag-only entries, in order. Returns the packets dropped.</summary>
    public int DropPackets()
    {
        var mask = _slots.Length - 1;
        int kept = 0, dropped = 0;
        for (var i = 0; i < _count; i++)
        {
            ref var slot = ref _slots[(_head + i) & mask];
            if (slot.Buffer is { } b)
            {
                b.Release();
                dropped++;
                slot = default;
            }
            else
            {
                var to = (_head + kept++) & mask;
                if (to != ((_head + i) & mask))
                {
                    _slots[to] = slot;
                    slot = default;
                }
            }
        }
        _count = kept;
        _queuedBytes = 0;
        return dropped;
    }

    /// <summary>Empties the ring, releasing every queued packet. Returns the packets released.</summary>
    public int Clear()
    {
        var mask = _slots.Length - 1;
        var released = 0;
        for (var i = 0; i < _count; i++)
        {
            ref var slot = ref _slots[(_head + i) & mask];
            if (slot.Buffer is { } b)
            {
                b.Release();
                released++;
            }
            slot = default;
        }
        _head = 0;
        _count = 0;
        _queuedBytes = 0;
        return released;
    }
}

/// <summary>The tag of a <see cref="SubscriberRing{TTag}"/> whose output keeps nothing beside its packets.</summary>
public readonly struct NoTag;
