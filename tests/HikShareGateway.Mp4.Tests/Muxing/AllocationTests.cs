using System.Buffers;
using HikShareGateway.Mp4.Muxing;
using HikShareGateway.Mp4.Rtp;
using HikShareGateway.Mp4.Tests.Infrastructure;

namespace HikShareGateway.Mp4.Tests.Muxing;

/// <summary>The packet path allocates nothing per packet or frame once its buffers have grown.</summary>
[Trait("Category", "Unit")]
public sealed class AllocationTests
{
    private static readonly List<List<byte[]>> DemoUnits = AnnexB.AccessUnits(AnnexB.Split(File.ReadAllBytes(Tools.DemoAsset)), h265: false);

    [Fact]
    public void DepacketizingAndMuxingTheDemoStream_AfterWarmUp_AllocatesNothing()
    {
        List<TestPacket> packets = new TestPacketizer(h265: false).Packetize(
            DemoUnits.Select((nals, i) => new TestAccessUnit((uint)(i * 3600), nals)).ToList());
        var muxer = new Fmp4Muxer(new Fmp4MuxerOptions { Audio = AudioCodec.Pcmu });
        var output = new ArrayBufferWriter<byte>(1 << 20);
        var sink = new MuxSink(muxer, output);
        using var depacketizer = new H264Depacketizer();
        byte[] pcmu = StreamBuilder.MuLawTone(1000, 0);

        // Warm-up: the first keyframe builds the init segment (allocates once) and the buffers grow.
        int warmUp = packets.FindIndex(p => p.AccessUnit == 30);
        for (int p = 0; p < warmUp; p++)
        {
            output.ResetWrittenCount();
            depacketizer.Push(packets[p].Bytes, ref sink);
            muxer.WriteAudio(output, pcmu, (uint)(p * 160));
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int p = warmUp; p < packets.Count; p++)
        {
            output.ResetWrittenCount();
            depacketizer.Push(packets[p].Bytes, ref sink);
            muxer.WriteAudio(output, pcmu, (uint)(p * 160));
        }

        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(DemoUnits.Count - 30, sink.Frames[0]);
        Assert.Equal(0, allocated);
    }

    private readonly struct MuxSink(Fmp4Muxer muxer, IBufferWriter<byte> output) : IAccessUnitSink
    {
        public int[] Frames { get; } = new int[1];

        public void OnAccessUnit(in AccessUnit accessUnit)
        {
            if (accessUnit.RtpTimestamp >= 30 * 3600)
            {
                Frames[0]++;
            }

            muxer.WriteVideo(output, accessUnit);
        }
    }
}
