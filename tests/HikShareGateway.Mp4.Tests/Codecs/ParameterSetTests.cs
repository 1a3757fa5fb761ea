using HikShareGateway.Mp4.Codecs;
using HikShareGateway.Mp4.Tests.Infrastructure;

namespace HikShareGateway.Mp4.Tests.Codecs;

[Trait("Category", "Unit")]
public sealed class ParameterSetTests
{
    private static readonly List<byte[]> DemoNals = AnnexB.Split(File.ReadAllBytes(Tools.DemoAsset));

    [Fact]
    public void H264Sps_DemoAsset_GivesCroppedSizeProfileLevelAndTiming()
    {
        byte[] sps = AnnexB.Find(DemoNals, h265: false, type: 7);

        Assert.True(H264Sps.TryParse(sps, out H264Sps? info));

        // 640x360 is coded as 40x23 macroblocks (368 lines) with 8 lines cropped at the bottom.
        Assert.Equal(640, info!.Width);
        Assert.Equal(360, info.Height);
        Assert.Equal(66, info.ProfileIdc);
        Assert.Equal(0xC0, info.Constraints);
        Assert.Equal(30, info.LevelIdc);
        Assert.Equal(1u, info.NumUnitsInTick);
        Assert.Equal(50u, info.TimeScale);
        Assert.Equal("avc1.42C01E", info.CodecString);
    }

    [Fact]
    public void AvcC_DemoAsset_IsTheIso14496_15Layout()
    {
        byte[] sps = AnnexB.Find(DemoNals, h265: false, type: 7);
        byte[] pps = AnnexB.Find(DemoNals, h265: false, type: 8);
        Assert.True(H264Sps.TryParse(sps, out H264Sps? info));

        byte[] avcC = DecoderConfigurationRecords.BuildAvcC(sps, pps, info!);

        byte[] expected = [1, 0x42, 0xC0, 0x1E, 0xFF, 0xE1, 0, (byte)sps.Length, .. sps, 1, 0, (byte)pps.Length, .. pps];
        Assert.Equal(expected, avcC);
    }

    [Fact]
    public void H264Sps_EveryPrefixAndRandomBytes_NeverThrow()
    {
        byte[] sps = AnnexB.Find(DemoNals, h265: false, type: 7);
        for (int length = 0; length < sps.Length; length++)
        {
            _ = H264Sps.TryParse(sps.AsSpan(0, length), out _);
        }

        var random = new Random(7);
        int parsed = 0;
        for (int i = 0; i < 20_000; i++)
        {
            byte[] bytes = new byte[random.Next(1, 64)];
            random.NextBytes(bytes);
            bytes[0] = 0x67;
            parsed += H264Sps.TryParse(bytes, out H264Sps? info) ? 1 : 0;
            Assert.True(info is null || (info.Width > 0 && info.Height > 0));
        }

        Assert.True(parsed < 20_000);
    }

    /// <summary>libx265's SPS for 642x362 (coded 648x368, with a conformance window of 6 and 6 luma samples).</summary>
    private static readonly byte[] X265Sps = Convert.FromHexString("42010101600000030090000003000003003fa005220171c449965654a4c2f0168080000003008000000c84");

    [Fact]
    public void H265Sps_Libx265_GivesTheConformanceWindowSizeAndMainProfileLevel()
    {
        Assert.True(H265Sps.TryParse(X265Sps, out H265Sps? info));

        Assert.Equal(642, info!.Width);
        Assert.Equal(362, info.Height);
        Assert.Equal(1, info.ProfileIdc);
        Assert.Equal(0x60000000u, info.ProfileCompatibilityFlags);
        Assert.Equal(63, info.LevelIdc);
        Assert.Equal(1, info.MaxSubLayers);
        Assert.Equal("hvc1.1.6.L63.90", info.CodecString);
    }

    [Fact]
    public void H265Sps_EveryPrefix_NeverThrowsAndNoShortPrefixParses()
    {
        for (int length = 0; length < X265Sps.Length; length++)
        {
            bool parsed = H265Sps.TryParse(X265Sps.AsSpan(0, length), out H265Sps? info);
            Assert.True(!parsed || info!.Width == 642 || length > 20, $"prefix {length} parsed to {info}");
        }
    }

    [Fact]
    public void H265Sps_RandomAndMutatedBytes_NeverThrow()
    {
        var random = new Random(8);
        for (int i = 0; i < 20_000; i++)
        {
            byte[] bytes = new byte[random.Next(1, 80)];
            random.NextBytes(bytes);
            bytes[0] = 33 << 1;
            if (H265Sps.TryParse(bytes, out H265Sps? info))
            {
                Assert.True(info!.Width > 0 && info.Height > 0);
                _ = info.CodecString;
            }
        }
    }

    [Fact]
    public void H265Sps_CodecString_FollowsIso14496_15AnnexE()
    {
        var info = new H265Sps
        {
            ProfileSpace = 0,
            TierFlag = false,
            ProfileIdc = 1,
            ProfileCompatibilityFlags = 0x60000000,
            ConstraintIndicatorFlags = 0x900000000000,
            LevelIdc = 93,
            MaxSubLayers = 1,
            TemporalIdNesting = true,
            ChromaFormatIdc = 1,
            BitDepthLuma = 8,
            BitDepthChroma = 8,
            Width = 1280,
            Height = 720,
        };

        // The example of Annex E: Main profile, level 3.1, progressive + frame-only source.
        Assert.Equal("hvc1.1.6.L93.90", info.CodecString);
    }
}
