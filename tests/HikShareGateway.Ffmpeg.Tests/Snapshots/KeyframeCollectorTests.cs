using System.Buffers;
using System.Buffers.Binary;
using HikShareGateway.Ffmpeg.Snapshots;
using HikShareGateway.Ffmpeg.Video;

namespace HikShareGateway.Ffmpeg.Tests.Snapshots;

[Trait("Category", "Unit")]
public sealed class KeyframeCollectorTests
{
    private static readonly byte[] Sps = [0x67, 0x42, 0x00, 0x1f];
    private static readonly byte[] Pps = [0x68, 0xce, 0x3c, 0x80];
    private static readonly byte[] Idr = [0x65, 0x88, 0x84, 0x00, 0x11, 0x22];
    private static readonly byte[] Slice = [0x41, 0x9a, 0x02];

    private static byte[] Rtp(ushort seq, uint ts, bool marker, byte[] payload)
    {
        var p = new byte[12 + payload.Length];
        p[0] = 0x80;
        p[1] = (byte)((marker ? 0x80 : 0) | 96);
        BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(2), seq);
        BinaryPrimitives.WriteUInt32BigEndian(p.AsSpan(4), ts);
        BinaryPrimitives.WriteUInt32BigEndian(p.AsSpan(8), 0x1234);
        payload.CopyTo(p, 12);
        return p;
    }

    private static byte[] Stap(params byte[][] nals) => [0x78, .. nals.SelectMany(n => (byte[])[0, (byte)n.Length, .. n])];

    private static byte[] FuStart(byte[] nal, int take) => [(byte)((nal[0] & 0xE0) | 28), (byte)(0x80 | (nal[0] & 0x1F)), .. nal[1..take]];

    private static byte[] FuEnd(byte[] nal, int from) => [(byte)((nal[0] & 0xE0) | 28), (byte)(0x40 | (nal[0] & 0x1F)), .. nal[from..]];

    private static byte[] AnnexBOf(params byte[][] nals)
    {
        var w = new ArrayBufferWriter<byte>();
        foreach (var n in nals)
        {
            AnnexB.WriteNal(w, n);
        }
        return w.WrittenSpan.ToArray();
    }

    [Fact]
    public async Task PacketsBeforeTheKeyframeStart_Ignored_KeyframeCompletesAtItsMarker()
    {
        var c = new KeyframeCollector(0, VideoCodec.H264);
        c.Offer(Rtp(9, 800, true, Slice), keyframeStart: false);
        c.Offer(Rtp(10, 900, false, Stap(Sps, Pps)), keyframeStart: true);
        c.Offer(Rtp(11, 900, false, FuStart(Idr, 3)), keyframeStart: false);
        Assert.False(c.Completed.IsCompleted);
        c.Offer(Rtp(12, 900, true, FuEnd(Idr, 3)), keyframeStart: false);
        Assert.True(c.Completed.IsCompletedSuccessfully);
        Assert.Equal(AnnexBOf(Sps, Pps, Idr), await c.Completed);
    }

    [Fact]
    public async Task KeyframeWithoutMarker_CompletesAtTheNextTimestamp_WithoutThatPacket()
    {
        var c = new KeyframeCollector(0, VideoCodec.H264);
        c.Offer(Rtp(1, 900, false, Sps), keyframeStart: true);
        c.Offer(Rtp(2, 900, false, Idr), keyframeStart: false);
        c.Offer(Rtp(3, 4500, false, Slice), keyframeStart: false);
        Assert.Equal(AnnexBOf(Sps, Idr), await c.Completed);
    }

    [Fact]
    public async Task LostPacketInsideTheKeyframe_StartsOverAtTheNextKeyframe()
    {
        var c = new KeyframeCollector(0, VideoCodec.H264);
        c.Offer(Rtp(1, 900, false, Stap(Sps, Pps)), keyframeStart: true);
        c.Offer(Rtp(2, 900, false, FuStart(Idr, 3)), keyframeStart: false);
        // seq 3 lost
        c.Offer(Rtp(4, 900, true, FuEnd(Idr, 3)), keyframeStart: false);
        c.Offer(Rtp(5, 4500, true, Slice), keyframeStart: false);
        Assert.False(c.Completed.IsCompleted);
        Assert.True(c.Restarts >= 1);
        c.Offer(Rtp(6, 8100, false, Stap(Sps, Pps)), keyframeStart: true);
        c.Offer(Rtp(7, 8100, true, Idr), keyframeStart: false);
        Assert.Equal(AnnexBOf(Sps, Pps, Idr), await c.Completed);
    }

    [Fact]
    public async Task ParameterSetsFollowedByAnotherSlice_WaitsForARealKeyframe()
    {
        var c = new KeyframeCollector(0, VideoCodec.H264);
        c.Offer(Rtp(1, 900, false, Sps), keyframeStart: true);
        c.Offer(Rtp(2, 900, true, Slice), keyframeStart: false);
        Assert.False(c.Completed.IsCompleted);
        c.Offer(Rtp(3, 1800, true, Idr), keyframeStart: true);
        Assert.Equal(AnnexBOf(Idr), await c.Completed);
    }

    [Fact]
    public async Task AfterCompletion_FurtherPacketsChangeNothing()
    {
        var c = new KeyframeCollector(0, VideoCodec.H264);
        c.Offer(Rtp(1, 900, true, Idr), keyframeStart: true);
        var first = await c.Completed;
        c.Offer(Rtp(2, 900, true, Sps), keyframeStart: true);
        Assert.Same(first, await c.Completed);
    }

    [Fact]
    public void NotRtp_Ignored()
    {
        var c = new KeyframeCollector(0, VideoCodec.H264);
        c.Offer([0x00, 0x01], keyframeStart: true);
        Assert.False(c.Completed.IsCompleted);
    }
}
