using System.Buffers;
using HikShareGateway.Ffmpeg.Snapshots;
using HikShareGateway.Ffmpeg.Video;

namespace HikShareGateway.Ffmpeg.Tests.Snapshots;

[Trait("Category", "Unit")]
public sealed class RtpNalAssemblerTests
{
    private static readonly byte[] Sps = [0x67, 0x42, 0x00, 0x1f, 0xaa];
    private static readonly byte[] Pps = [0x68, 0xce, 0x3c, 0x80];
    private static readonly byte[] Idr = [0x65, 0x88, 0x84, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55];

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
    public void H264_SingleNalUnit_WrittenBehindAStartCode()
    {
        var w = new ArrayBufferWriter<byte>();
        Assert.True(new RtpNalAssembler(VideoCodec.H264).Append(Sps, w));
        Assert.Equal(AnnexBOf(Sps), w.WrittenSpan.ToArray());
    }

    [Fact]
    public void H264_StapA_EveryUnitWritten()
    {
        byte[] stap = [0x78, 0, (byte)Sps.Length, .. Sps, 0, (byte)Pps.Length, .. Pps];
        var w = new ArrayBufferWriter<byte>();
        Assert.True(new RtpNalAssembler(VideoCodec.H264).Append(stap, w));
        Assert.Equal(AnnexBOf(Sps, Pps), w.WrittenSpan.ToArray());
    }

    [Theory]
    [InlineData(new byte[] { 0x78 })]                 // no unit
    [InlineData(new byte[] { 0x78, 0, 9, 0x67, 1 })]  // size past the end
    [InlineData(new byte[] { 0x78, 0, 0 })]           // empty unit
    [InlineData(new byte[] { 0x78, 0 })]              // half a size
    public void H264_MalformedStapA_FalseAndNothingWritten(byte[] stap)
    {
        var w = new ArrayBufferWriter<byte>();
        Assert.False(new RtpNalAssembler(VideoCodec.H264).Append(stap, w));
        Assert.Equal(0, w.WrittenCount);
    }

    [Fact]
    public void H264_FuA_ThreeFragments_RebuildTheNalWithItsHeader()
    {
        // FU indicator keeps F/NRI of the NAL (0x60 | 28), the FU header its type (5).
        byte[] start = [0x7c, 0x85, .. Idr[1..4]];
        byte[] middle = [0x7c, 0x05, .. Idr[4..7]];
        byte[] end = [0x7c, 0x45, .. Idr[7..]];
        var a = new RtpNalAssembler(VideoCodec.H264);
        var w = new ArrayBufferWriter<byte>();
        Assert.True(a.Append(start, w));
        Assert.True(a.Append(middle, w));
        Assert.True(a.Append(end, w));
        Assert.Equal(AnnexBOf(Idr), w.WrittenSpan.ToArray());
    }

    [Fact]
    public void H264_FuAWithoutItsStart_FalseAndNothingWritten()
    {
        var a = new RtpNalAssembler(VideoCodec.H264);
        var w = new ArrayBufferWriter<byte>();
        Assert.False(a.Append([0x7c, 0x05, 1, 2], w));
        Assert.False(a.Append([0x7c, 0x45, 3], w));
        Assert.Equal(0, w.WrittenCount);
    }

    [Fact]
    public void H264_FragmentAfterReset_Refused()
    {
        var a = new RtpNalAssembler(VideoCodec.H264);
        var w = new ArrayBufferWriter<byte>();
        Assert.True(a.Append([0x7c, 0x85, 1], w));
        a.Reset();
        Assert.False(a.Append([0x7c, 0x45, 2], w));
    }

    [Fact]
    public void H265_FuAndAggregation_RebuildTwoByteHeaders()
    {
        byte[] vps = [0x40, 0x01, 0x0c, 0x01];
        byte[] sps = [0x42, 0x01, 0x01, 0x01];
        byte[] idr = [0x26, 0x01, 0xaf, 0x10, 0x20, 0x30]; // IDR_W_RADL (19)
        byte[] ap = [0x60, 0x01, 0, (byte)vps.Length, .. vps, 0, (byte)sps.Length, .. sps];
        byte[] fuStart = [0x62, 0x01, 0x80 | 19, .. idr[2..4]];
        byte[] fuEnd = [0x62, 0x01, 0x40 | 19, .. idr[4..]];
        var a = new RtpNalAssembler(VideoCodec.H265);
        var w = new ArrayBufferWriter<byte>();
        Assert.True(a.Append(ap, w));
        Assert.True(a.Append(fuStart, w));
        Assert.True(a.Append(fuEnd, w));
        Assert.Equal(AnnexBOf(vps, sps, idr), w.WrittenSpan.ToArray());
    }

    [Theory]
    [InlineData(VideoCodec.H264, new byte[] { })]
    [InlineData(VideoCodec.H264, new byte[] { 0x7c })]        // FU-A without its header
    [InlineData(VideoCodec.H264, new byte[] { 0x79, 1, 2 })]  // STAP-B: not sent by cameras
    [InlineData(VideoCodec.H265, new byte[] { 0x40 })]        // half a NAL header
    [InlineData(VideoCodec.H265, new byte[] { 0x62, 0x01 })]  // FU without its header
    public void Malformed_FalseAndNothingWritten(VideoCodec codec, byte[] payload)
    {
        var w = new ArrayBufferWriter<byte>();
        Assert.False(new RtpNalAssembler(codec).Append(payload, w));
        Assert.Equal(0, w.WrittenCount);
    }
}
