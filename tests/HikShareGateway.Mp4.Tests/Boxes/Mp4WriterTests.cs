using System.Buffers;
using HikShareGateway.Mp4.Boxes;
using HikShareGateway.Mp4.Codecs;
using HikShareGateway.Mp4.Tests.Infrastructure;

namespace HikShareGateway.Mp4.Tests.Boxes;

[Trait("Category", "Unit")]
public sealed class Mp4WriterTests
{
    private static readonly List<byte[]> DemoNals = AnnexB.Split(File.ReadAllBytes(Tools.DemoAsset));

    internal static Mp4Track DemoVideoTrack(int trackId = 1)
    {
        byte[] sps = AnnexB.Find(DemoNals, h265: false, type: 7);
        byte[] pps = AnnexB.Find(DemoNals, h265: false, type: 8);
        Assert.True(H264Sps.TryParse(sps, out H264Sps? info));
        return Mp4Track.H264(trackId, info!, DecoderConfigurationRecords.BuildAvcC(sps, pps, info!));
    }

    [Fact]
    public void InitSegment_HasFtypMoovTrakPerTrackAndMvex_WithNestedSizesExact()
    {
        Mp4Track video = DemoVideoTrack();
        Mp4Track audio = Mp4Track.Flac(2, 8000, 1, new byte[38]);
        var output = new ArrayBufferWriter<byte>();

        int written = InitSegmentWriter.Write(output, [video, audio]);

        Assert.Equal(output.WrittenCount, written);
        Box file = BoxReader.Read(output.WrittenSpan.ToArray());
        Assert.Equal(["ftyp", "moov"], file.Children.Select(b => b.Type));
        Assert.Equal("iso5", System.Text.Encoding.ASCII.GetString(file.Child("ftyp").Payload[..4]));
        Box moov = file.Child("moov");
        Assert.Equal(["mvhd", "trak", "trak", "mvex"], moov.Children.Select(b => b.Type));
        Assert.Equal(3u, moov.Child("mvhd").U32(96)); // next_track_ID

        Box[] traks = moov.Children.Where(b => b.Type == "trak").ToArray();
        Box avc1 = traks[0].Find("mdia/minf/stbl/stsd/avc1");
        Assert.Equal(video.Configuration, avc1.Child("avcC").Payload.ToArray());
        Assert.Equal(640u, avc1.U32(24) >> 16);
        Assert.Equal(360u, avc1.U32(24) & 0xFFFF);
        Assert.Equal(90_000u, traks[0].Find("mdia/mdhd").U32(12));
        Assert.Equal("vide", System.Text.Encoding.ASCII.GetString(traks[0].Find("mdia/hdlr").Payload.Slice(8, 4)));

        Box fLaC = traks[1].Find("mdia/minf/stbl/stsd/fLaC");
        Assert.Equal(audio.Configuration, fLaC.Child("dfLa").Payload.ToArray());
        Assert.Equal(8000u, traks[1].Find("mdia/mdhd").U32(12));
        Assert.Equal(8000u << 16, fLaC.U32(24));
        Assert.Equal(["trex", "trex"], moov.Child("mvex").Children.Select(b => b.Type));
        Assert.Equal(2u, moov.Child("mvex").Children[1].U32(4));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Fragment_DataOffsetPointsAtTheSampleInMdat_AndCarriesTimeAndFlags(bool sync)
    {
        byte[] sample = [0, 0, 0, 3, 0x65, 1, 2];
        var output = new ArrayBufferWriter<byte>();

        int written = FragmentWriter.Write(output, 7, 1, 0x1_0000_0001, 3600, sample, sync);

        Box file = BoxReader.Read(output.WrittenSpan.ToArray());
        Assert.Equal(written, output.WrittenCount);
        Assert.Equal(["moof", "mdat"], file.Children.Select(b => b.Type));
        Box moof = file.Child("moof");
        Assert.Equal(7u, moof.Child("mfhd").U32(4));
        Box traf = moof.Child("traf");
        Assert.Equal(0x00020000u, traf.Child("tfhd").U32(0));
        Assert.Equal(1u, traf.Child("tfhd").U32(4));
        Assert.Equal(0x01000000u, traf.Child("tfdt").U32(0));
        Assert.Equal(0x1_0000_0001ul, traf.Child("tfdt").U64(4));
        Box trun = traf.Child("trun");
        Assert.Equal(1u, trun.U32(4));
        int dataOffset = (int)trun.U32(8);
        Assert.Equal(sample, output.WrittenSpan.Slice(moof.Offset + dataOffset, sample.Length).ToArray());
        Assert.Equal(sample, file.Child("mdat").Payload.ToArray());
        Assert.Equal(3600u, trun.U32(12));
        Assert.Equal((uint)sample.Length, trun.U32(16));
        Assert.Equal(sync ? 0x02000000u : 0x01010000u, trun.U32(20));
    }

    [Fact]
    public void FragmentHeader_ForSeveralSamples_ListsEachAndSizesMdatForAll()
    {
        Span<byte> header = stackalloc byte[FragmentWriter.HeaderSize(3)];
        ReadOnlySpan<FragmentSample> samples = [new(160, 10, true), new(160, 20, true), new(160, 30, true)];

        int written = FragmentWriter.WriteHeader(header, 1, 2, 0, samples);

        byte[] file = [.. header[..written], .. new byte[60]];
        Box root = BoxReader.Read(file);
        Assert.Equal(68, root.Child("mdat").Size);
        Assert.Equal(3u, root.Find("moof/traf/trun").U32(4));
        Assert.Equal(30u, root.Find("moof/traf/trun").U32(12 + 24 + 4));
    }

    [Fact]
    public void WritingFragments_IntoAReusedBuffer_AllocatesNothing()
    {
        byte[] sample = new byte[20_000];
        var output = new ArrayBufferWriter<byte>(64 * 1024);
        FragmentWriter.Write(output, 0, 1, 0, 3600, sample, true);

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (uint i = 1; i <= 1000; i++)
        {
            output.ResetWrittenCount();
            FragmentWriter.Write(output, i, 1, i * 3600ul, 3600, sample, (i % 25) == 0);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void RtpTimeline_AcrossTheWrapAndReordering_IsContinuousAndNeverGoesBack()
    {
        var timeline = new RtpTimeline();

        Assert.Equal(0ul, timeline.Extend(uint.MaxValue - 3599));
        Assert.Equal(3600ul, timeline.Extend(0));
        Assert.Equal(3600ul, timeline.Extend(uint.MaxValue - 100));
        Assert.Equal(7200ul, timeline.Extend(3600));
    }
}
