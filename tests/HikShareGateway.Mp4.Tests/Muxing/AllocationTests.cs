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
        // Up to three passes, each with a muxer and depacketizer of its own: the runtime's one-time work on this
        // thread (a method compiled on-stack-replaced here while its tier-1 version is still being compiled in the
        // background, which happens under load, and the types that compile loads) may fall into the first pass's
        // window; an allocation per packet or frame falls into every pass.
        var allocations = new List<long>();
        for (var pass = 0; pass < 3; pass++)
        {
            var (allocated, frames) = MeasurePass(packets);
            Assert.Equal(DemoUnits.Count - 30, frames);
            allocations.Add(allocated);
            if (allocated == 0)
            {
                break;
            }
        }
        Assert.True(allocations[^1] == 0, $"bytes allocated after warm-up, per pass: {string.Join(", ", allocations)}");
    }

    private static (long Allocated, int Frames) MeasurePass(List<TestPacket> packets)
    {
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

        return (GC.GetAllocatedBytesForCurrentThread() - before, sink.Frames[0]);
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
