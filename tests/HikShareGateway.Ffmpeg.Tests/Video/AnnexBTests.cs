using System.Buffers;
using HikShareGateway.Ffmpeg.Video;

namespace HikShareGateway.Ffmpeg.Tests.Video;

[Trait("Category", "Unit")]
public sealed class AnnexBTests
{
    // SPS, PPS, IDR slice (first_mb 0), then a P slice (first_mb 0), then a second slice of the same picture (first_mb != 0).
    private static readonly byte[] Sps = [0x67, 0x42, 0x00, 0x1f];
    private static readonly byte[] Pps = [0x68, 0xce, 0x38, 0x80];
    private static readonly byte[] Idr = [0x65, 0x88, 0x84, 0x21];  // a NAL never ends in 0x00 (rbsp_trailing_bits)
    private static readonly byte[] P1 = [0x41, 0x9a, 0x02];
    private static readonly byte[] P1b = [0x41, 0x4a, 0x03];

    private static byte[] Stream(params byte[][] nals)
    {
        var w = new ArrayBufferWriter<byte>();
        bool three = false;
        foreach (var n in nals)
        {
            if (three) { w.Write<byte>([0, 0, 1]); w.Write(n); } else { AnnexB.WriteNal(w, n); }
            three = !three;
        }
        return w.WrittenSpan.ToArray();
    }

    [Fact]
    public void TryReadNal_ThreeAndFourByteStartCodes_GivesEachNalWithoutStartCode()
    {
        ReadOnlySpan<byte> s = Stream(Sps, Pps, Idr);
        var got = new List<byte[]>();
        while (AnnexB.TryReadNal(ref s, out var nal))
        {
            got.Add(nal.ToArray());
        }

        Assert.Equal([Sps, Pps, Idr], got);
    }

    [Fact]
    public void SplitAccessUnits_ParameterSetsAndSlices_GroupsByPicture()
    {
        var units = AnnexB.SplitAccessUnits(VideoCodec.H264, Stream(Sps, Pps, Idr, P1, P1b, P1));

        Assert.Equal(3, units.Count);
        Assert.Equal(Stream4(Sps, Pps, Idr), units[0]);
        Assert.Equal(Stream4(P1, P1b), units[1]);
        Assert.Equal(Stream4(P1), units[2]);
    }

    [Fact]
    public void SplitAccessUnits_EveryPrefix_UnitsConcatenateToTheNalsSeenSoFar()
    {
        var stream = Stream(Sps, Pps, Idr, P1, P1b, P1);
        for (int cut = 0; cut <= stream.Length; cut++)
        {
            var prefix = stream.AsSpan(0, cut);
            var expected = new ArrayBufferWriter<byte>();
            ReadOnlySpan<byte> s = prefix;
            while (AnnexB.TryReadNal(ref s, out var nal))
            {
                if (!nal.IsEmpty) AnnexB.WriteNal(expected, nal);
            }

            var units = AnnexB.SplitAccessUnits(VideoCodec.H264, prefix);

            Assert.Equal(expected.WrittenSpan.ToArray(), units.SelectMany(u => u).ToArray());
            Assert.InRange(units.Count, 0, 3);
        }
    }

    [Fact]
    public void IsKeyframeSlice_H265IdrAndCra_AreKeyframesTrailIsNot()
    {
        Assert.True(AnnexB.IsKeyframeSlice(VideoCodec.H265, [19 << 1, 1, 0x80]));   // IDR_W_RADL
        Assert.True(AnnexB.IsKeyframeSlice(VideoCodec.H265, [21 << 1, 1, 0x80]));   // CRA
        Assert.False(AnnexB.IsKeyframeSlice(VideoCodec.H265, [1 << 1, 1, 0x80]));   // TRAIL_R
        Assert.True(AnnexB.IsFirstSliceOfPicture(VideoCodec.H265, [1 << 1, 1, 0x80]));
        Assert.False(AnnexB.IsVcl(VideoCodec.H265, [33 << 1, 1]));                  // SPS
    }

    [Fact]
    public void TryConvertLengthPrefixed_EveryPrefix_TrueOnlyAtNalBoundaries()
    {
        byte[] avcc = [0, 0, 0, 4, .. Sps, 0, 0, 0, 3, .. P1];
        for (int cut = 0; cut <= avcc.Length; cut++)
        {
            var w = new ArrayBufferWriter<byte>();
            bool ok = AnnexB.TryConvertLengthPrefixed(avcc.AsSpan(0, cut), w);

            bool boundary = cut is 0 or 8 || cut == avcc.Length;
            Assert.True(ok == boundary, $"prefix {cut}: {ok}");
            if (cut == avcc.Length)
            {
                Assert.Equal(Stream4(Sps, P1), w.WrittenSpan.ToArray());
            }
        }
    }

    [Fact]
    public void ConvertToLengthPrefixed_ThenBack_GivesTheSameNals()
    {
        var annexB = Stream(Sps, Pps, Idr);
        var avcc = new ArrayBufferWriter<byte>();

        byte[] expected = [0, 0, 0, 4, .. Sps, 0, 0, 0, 4, .. Pps, 0, 0, 0, 4, .. Idr];

        Assert.Equal(3, AnnexB.ConvertToLengthPrefixed(annexB, avcc));
        Assert.Equal(expected, avcc.WrittenSpan.ToArray());
        var back = new ArrayBufferWriter<byte>();
        Assert.True(AnnexB.TryConvertLengthPrefixed(avcc.WrittenSpan, back));
        Assert.Equal(Stream4(Sps, Pps, Idr), back.WrittenSpan.ToArray());
    }

    [Fact]
    public void TryConvertLengthPrefixed_LengthPastTheEnd_IsRefused()
    {
        var w = new ArrayBufferWriter<byte>();
        Assert.False(AnnexB.TryConvertLengthPrefixed([0x7f, 0xff, 0xff, 0xff, 1, 2], w));
    }

    private static byte[] Stream4(params byte[][] nals)
    {
        var w = new ArrayBufferWriter<byte>();
        foreach (var n in nals)
        {
            AnnexB.WriteNal(w, n);
        }
        return w.WrittenSpan.ToArray();
    }
}
