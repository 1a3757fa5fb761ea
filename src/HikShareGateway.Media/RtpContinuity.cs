using System.Buffers.Binary;

namespace HikShareGateway.Media;

/// <summary>
/// Keeps one stream's RTP continuous for its viewers across upstream reconnects: every packet of a track carries the
/// SSRC of the first session, and after a reconnect the sequence numbers continue from the last one sent and the
/// timestamps from the last one plus the wall-clock gap (RFC 3550 §5.1). Without it a player sees a new source with
/// unrelated numbering mid-stream (ffmpeg logs errors and may stall). RTCP sender reports, SDES and BYE get the same
/// SSRC and timestamp mapping. Rewrites the buffer in place: it runs on the upstream read loop, before the packet is
/// shared, so the buffer still has a single owner.
/// </summary>
internal sealed class RtpContinuity(IReadOnlyList<int> clockRates, TimeProvider time)
{
    private readonly Track[] _tracks = [.. clockRates.Select(r => new Track(r > 0 ? r : 90000))];

    private sealed class Track(int clockRate)
    {
        public readonly int ClockRate = clockRate;
        public bool Started, Resync;
        public uint Ssrc, TimestampOffset, LastTimestamp;
        public ushort SequenceOffset, LastSequence;
        public long LastAt;
    }

    /// <summary>A new upstream session begins: the next packet of each track re-anchors its offsets.</summary>
    public void Reconnected()
    {
        foreach (var t in _tracks)
        {
            t.Resync = t.Started;
        }
    }

    public void Rewrite(RtpBuffer buffer)
    {
        if (buffer.Track >= _tracks.Length)
        {
            return;
        }
        var t = _tracks[buffer.Track];
        var p = buffer.PacketSpan;
        if (buffer.IsRtcp)
        {
            if (t.Started)
            {
                RewriteRtcp(t, p);
            }
            return;
        }
        if (!RtpPacket.TryParse(p, out var rtp))
        {
            return;
        }
        var now = buffer.ReceivedAt;
        if (!t.Started)
        {
            t.Started = true;
            t.Ssrc = rtp.Ssrc;
        }
        else if (t.Resync)
        {
            t.Resync = false;
            var gap = time.GetElapsedTime(t.LastAt, now);
            var ticks = (uint)Math.Max(1, gap.TotalSeconds * t.ClockRate);
            t.SequenceOffset = (ushort)(t.LastSequence + 1 - rtp.SequenceNumber);
            t.TimestampOffset = t.LastTimestamp + ticks - rtp.Timestamp;
        }
        var sequence = (ushort)(rtp.SequenceNumber + t.SequenceOffset);
        var timestamp = rtp.Timestamp + t.TimestampOffset;
        BinaryPrimitives.WriteUInt16BigEndian(p[2..], sequence);
        BinaryPrimitives.WriteUInt32BigEndian(p[4..], timestamp);
        BinaryPrimitives.WriteUInt32BigEndian(p[8..], t.Ssrc);
        t.LastSequence = sequence;
        t.LastTimestamp = timestamp;
        t.LastAt = now;
    }

    /// <summary>A compound RTCP packet (RFC 3550 §6.1): SR (200) SSRC and RTP timestamp, SDES (202) first chunk and BYE (203) SSRC.</summary>
    private static void RewriteRtcp(Track t, Span<byte> p)
    {
        var at = 0;
        while (at + 8 <= p.Length)
        {
            var type = p[at + 1];
            var length = (BinaryPrimitives.ReadUInt16BigEndian(p[(at + 2)..]) + 1) * 4;
            if (length > p.Length - at)
            {
                return;
            }
            switch (type)
            {
                case 200 when length >= 28:
                    BinaryPrimitives.WriteUInt32BigEndian(p[(at + 4)..], t.Ssrc);
                    BinaryPrimitives.WriteUInt32BigEndian(p[(at + 16)..], BinaryPrimitives.ReadUInt32BigEndian(p[(at + 16)..]) + t.TimestampOffset);
                    break;
                case 202 or 203 when (p[at] & 0x1F) > 0:
                    BinaryPrimitives.WriteUInt32BigEndian(p[(at + 4)..], t.Ssrc);
                    break;
            }
            at += length;
        }
    }
}
