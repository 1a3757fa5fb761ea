using System.Buffers.Binary;
using HikShareGateway.Media;
using HikShareGateway.Rtsp.Protocol;
using Microsoft.Extensions.Time.Testing;

namespace HikShareGateway.Tests.Rtsp.Relay;

[Trait("Category", "Unit")]
public sealed class RtpContinuityTests
{
    private static RtpBuffer Rtp(ushort seq, uint ts, uint ssrc, long at)
    {
        var b = new RtpBufferPool().Rent();
        var p = b.Prepare(12 + 4);
        p.Clear();
        p[0] = 0x80;
        p[1] = 96;
        BinaryPrimitives.WriteUInt16BigEndian(p[2..], seq);
        BinaryPrimitives.WriteUInt32BigEndian(p[4..], ts);
        BinaryPrimitives.WriteUInt32BigEndian(p[8..], ssrc);
        b.Commit(16, 0, false, at);
        return b;
    }

    private static RtpBuffer SenderReport(uint ssrc, uint ts, long at)
    {
        var b = new RtpBufferPool().Rent();
        var p = b.Prepare(28);
        p.Clear();
        p[0] = 0x80;
        p[1] = 200;
        BinaryPrimitives.WriteUInt16BigEndian(p[2..], 6); // 7 words
        BinaryPrimitives.WriteUInt32BigEndian(p[4..], ssrc);
        BinaryPrimitives.WriteUInt32BigEndian(p[16..], ts);
        b.Commit(28, 0, true, at);
        return b;
    }

    [Fact]
    public void Reconnect_NewSessionNumbering_ContinuesTheFirstSessionsSsrcSequenceAndClock()
    {
        var time = new FakeTimeProvider();
        var c = new RtpContinuity([90000], time);
        var first = Rtp(100, 5000, 0xAAAA, time.GetTimestamp());
        c.Rewrite(first);
        Assert.True(RtpPacket.TryParse(first.PacketSpan, out var a));
        Assert.Equal((100, 5000u, 0xAAAAu), (a.SequenceNumber, a.Timestamp, a.Ssrc)); // the first session passes unchanged

        time.Advance(TimeSpan.FromSeconds(2));
        c.Reconnected();
        var next = Rtp(7, 123, 0xBBBB, time.GetTimestamp());
        c.Rewrite(next);
        Assert.True(RtpPacket.TryParse(next.PacketSpan, out var b));
        Assert.Equal((ushort)101, b.SequenceNumber);
        Assert.Equal(5000u + 2 * 90000, b.Timestamp);
        Assert.Equal(0xAAAAu, b.Ssrc);

        var following = Rtp(8, 123 + 3600, 0xBBBB, time.GetTimestamp());
        c.Rewrite(following);
        Assert.True(RtpPacket.TryParse(following.PacketSpan, out var f));
        Assert.Equal((ushort)102, f.SequenceNumber);
        Assert.Equal(5000u + 2 * 90000 + 3600, f.Timestamp);

        // The new session's sender report speaks of the same source and clock.
        var sr = SenderReport(0xBBBB, 123, time.GetTimestamp());
        c.Rewrite(sr);
        Assert.Equal(0xAAAAu, BinaryPrimitives.ReadUInt32BigEndian(sr.PacketSpan[4..]));
        Assert.Equal(5000u + 2 * 90000, BinaryPrimitives.ReadUInt32BigEndian(sr.PacketSpan[16..]));
    }

    [Theory]
    [InlineData("96 H264/90000", "96", 90000)]
    [InlineData("0 PCMU/8000", "0", 8000)]
    [InlineData("97 MPEG4-GENERIC/16000/2", "97", 16000)]
    [InlineData(null, "8", 8000)]
    [InlineData(null, "96", 0)]
    public void ClockRate_FromRtpmap(string? rtpmap, string format, int expected)
    {
        var sdp = SessionDescription.Parse($"v=0\r\nm=audio 0 RTP/AVP {format}\r\n" + (rtpmap is null ? "" : $"a=rtpmap:{rtpmap}\r\n"));
        Assert.Equal(expected, sdp.Media[0].ClockRate);
    }
}
