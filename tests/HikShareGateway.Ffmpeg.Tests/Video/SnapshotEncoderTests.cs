using System.Buffers;
using System.Buffers.Binary;
using HikShareGateway.Ffmpeg.Tests.Infrastructure;
using HikShareGateway.Ffmpeg.Video;

namespace HikShareGateway.Ffmpeg.Tests.Video;

[Trait("Category", "Integration")]
public sealed class SnapshotEncoderTests
{
    private readonly SnapshotEncoder _encoder = new();

    [Theory]
    [InlineData(VideoCodec.H264, false)]
    [InlineData(VideoCodec.H264, true)]
    [InlineData(VideoCodec.H265, false)]
    public async Task Encode_SmpteBarsGop_JpegOfRequestedWidthWithBarsInPlace(VideoCodec codec, bool bframes)
    {
        var stream = await Clips.SmpteBarsAsync(codec, 1280, 720, frames: 12, gop: 25, bframes);
        var units = Clips.AccessUnits(codec, stream);
        Assert.Equal(12, units.Count);

        var output = new ArrayBufferWriter<byte>();
        var info = _encoder.Encode(codec, [], units, 640, output);

        Assert.Equal((640, 360, 1280, 720, 12), (info.Width, info.Height, info.SourceWidth, info.SourceHeight, info.FramesDecoded));
        var jpeg = output.WrittenSpan.ToArray();
        Assert.Equal(info.Length, jpeg.Length);
        await AssertJpegAsync(jpeg, 640, 360);
        await AssertSmpteBarsAsync(jpeg, 640, 360);
    }

    [Theory]
    [InlineData(VideoCodec.H264, 2)]
    [InlineData(VideoCodec.H265, 3)]
    public async Task Encode_ParameterSetsOutOfBandAndLengthPrefixed_SameAsInBand(VideoCodec codec, int parameterSetCount)
    {
        var stream = await Clips.SmpteBarsAsync(codec, 640, 480, frames: 5, gop: 25);
        var units = AnnexB.SplitAccessUnits(codec, stream);
        // Take VPS/SPS/PPS out of the keyframe (as from SDP sprop-parameter-sets / sprop-vps,sps,pps) and rewrite
        // every unit with 4-byte lengths (as in MP4 samples).
        var parameterSets = new List<ReadOnlyMemory<byte>>();
        var lengthPrefixed = new List<ReadOnlyMemory<byte>>();
        foreach (var unit in units)
        {
            var w = new ArrayBufferWriter<byte>();
            ReadOnlySpan<byte> s = unit;
            while (AnnexB.TryReadNal(ref s, out var nal))
            {
                int type = AnnexB.NalType(codec, nal);
                if (codec == VideoCodec.H264 ? type is 7 or 8 : type is 32 or 33 or 34)
                {
                    parameterSets.Add(nal.ToArray());
                    continue;
                }
                BinaryPrimitives.WriteInt32BigEndian(w.GetSpan(4), nal.Length);
                w.Advance(4);
                w.Write(nal);
            }
            lengthPrefixed.Add(w.WrittenSpan.ToArray());
        }
        Assert.Equal(parameterSetCount, parameterSets.Count);

        var jpeg = _encoder.Encode(codec, parameterSets, lengthPrefixed, 320, NalFraming.LengthPrefixed);

        await AssertJpegAsync(jpeg, 320, 240);
        await AssertSmpteBarsAsync(jpeg, 320, 240);
    }

    [Fact]
    public async Task Encode_H265Main10_ConvertedTo8BitJpegWithBarsInPlace()
    {
        var units = Clips.AccessUnits(VideoCodec.H265, await Clips.SmpteBarsAsync(VideoCodec.H265, 640, 360, 3, 25, pixelFormat: "yuv420p10le"));

        var jpeg = _encoder.Encode(VideoCodec.H265, [], units, 320);

        await AssertJpegAsync(jpeg, 320, 180);
        await AssertSmpteBarsAsync(jpeg, 320, 180);
    }

    [Fact]
    public async Task Encode_DemoAsset_Jpeg320x180()
    {
        var stream = await File.ReadAllBytesAsync(Path.Combine(AppContext.BaseDirectory, "TestData", "demo-640x360-25fps.h264"));
        var all = Clips.AccessUnits(VideoCodec.H264, stream);
        var gop = all.Take(all.FindIndex(1, u => IsKeyframe(u.Span)) is var next && next > 0 ? next : all.Count).ToList();
        Assert.True(IsKeyframe(gop[0].Span));

        var output = new ArrayBufferWriter<byte>();
        var info = _encoder.Encode(VideoCodec.H264, [], gop, 320, output);

        Assert.Equal((320, 180, 640, 360, gop.Count), (info.Width, info.Height, info.SourceWidth, info.SourceHeight, info.FramesDecoded));
        await AssertJpegAsync(output.WrittenSpan.ToArray(), 320, 180);
    }

    [Fact]
    public async Task Encode_EmptyAccessUnitsInTheGop_SkippedNotTakenForEndOfStream()
    {
        var units = Clips.AccessUnits(VideoCodec.H264, await Clips.SmpteBarsAsync(VideoCodec.H264, 320, 240, frames: 6, gop: 25));
        units.Insert(2, ReadOnlyMemory<byte>.Empty);
        units.Insert(4, ReadOnlyMemory<byte>.Empty);

        var info = _encoder.Encode(VideoCodec.H264, [], units, 160, new ArrayBufferWriter<byte>());

        Assert.Equal(6, info.FramesDecoded);
    }

    [Fact]
    public void Encode_NoDecodablePicture_ThrowsInvalidInputWithCount()
    {
        byte[] garbage = [0, 0, 0, 1, 0x65, 0xff, 0xff, 0x00, 0x13, 0x37];

        var ex = Assert.Throws<MediaProcessingException>(() => _encoder.Encode(VideoCodec.H264, [], [garbage, garbage], 320));

        Assert.Equal(MediaError.InvalidInput, ex.Error);
        Assert.Contains("no decodable picture in 2 access units", ex.Message);
    }

    [Fact]
    public async Task Encode_SeededCorruptionOfARealGop_JpegOrInvalidInputNeverAnythingElse()
    {
        var clean = AnnexB.SplitAccessUnits(VideoCodec.H265, await Clips.SmpteBarsAsync(VideoCodec.H265, 320, 240, 6, 25));
        var random = new Random(1234);
        int jpegs = 0, refused = 0;
        for (int round = 0; round < 40; round++)
        {
            var units = clean.Select(u =>
            {
                var m = (byte[])u.Clone();
                int flips = random.Next(0, 8);
                for (int f = 0; f < flips; f++) m[random.Next(4, m.Length)] = (byte)random.Next(256);
                return (ReadOnlyMemory<byte>)m.AsMemory(0, random.Next(0, 4) == 0 ? random.Next(1, m.Length) : m.Length);
            }).ToList();
            try
            {
                var info = _encoder.Encode(VideoCodec.H265, [], units, 160, new ArrayBufferWriter<byte>());
                Assert.Equal(160, info.Width);
                jpegs++;
            }
            catch (MediaProcessingException e) when (e.Error == MediaError.InvalidInput)
            {
                refused++;
            }
        }

        Assert.Equal(40, jpegs + refused);
        Assert.True(jpegs > 0, "some corrupted GOPs still give a picture");
    }

    [Fact]
    public async Task Encode_ConcurrentCalls_EachGetsItsOwnCorrectJpeg()
    {
        var h264 = Clips.AccessUnits(VideoCodec.H264, await Clips.SmpteBarsAsync(VideoCodec.H264, 640, 360, 4, 25));
        var h265 = Clips.AccessUnits(VideoCodec.H265, await Clips.SmpteBarsAsync(VideoCodec.H265, 640, 360, 4, 25));

        var jpegs = await Task.WhenAll(Enumerable.Range(0, 6).Select(i => Task.Run(() =>
            _encoder.Encode(i % 2 == 0 ? VideoCodec.H264 : VideoCodec.H265, [], i % 2 == 0 ? h264 : h265, 160 + 32 * i))));

        for (int i = 0; i < jpegs.Length; i++)
        {
            int w = 160 + 32 * i;
            await AssertJpegAsync(jpegs[i], w, FrameHeight(w));
        }
    }

    private static int FrameHeight(int w) => ((360 * w + 320) / 640 + 1) & ~1;

    private static bool IsKeyframe(ReadOnlySpan<byte> unit)
    {
        while (AnnexB.TryReadNal(ref unit, out var nal))
        {
            if (AnnexB.IsKeyframeSlice(VideoCodec.H264, nal)) return true;
        }
        return false;
    }

    private static async Task AssertJpegAsync(byte[] jpeg, int width, int height)
    {
        Assert.True(jpeg.Length > 100 && jpeg[0] == 0xff && jpeg[1] == 0xd8, "JPEG SOI marker");
        string dir = Tool.TempDir();
        string path = Path.Combine(dir, "snap.jpg");
        await File.WriteAllBytesAsync(path, jpeg);
        var s = await Tool.ProbeStreamAsync(path);
        Directory.Delete(dir, true);
        Assert.Equal("mjpeg", s["codec_name"]);
        Assert.Equal(width.ToString(), s["width"]);
        Assert.Equal(height.ToString(), s["height"]);
    }

    /// <summary>Samples the middle of each of the seven bars at 30 % of the height.</summary>
    private static async Task AssertSmpteBarsAsync(byte[] jpeg, int width, int height)
    {
        var rgb = await Clips.DecodeToRgbAsync(jpeg);
        Assert.Equal(width * height * 3, rgb.Length);
        int y = height * 3 / 10;
        for (int bar = 0; bar < 7; bar++)
        {
            int x = (2 * bar + 1) * width / 14;
            int i = (y * width + x) * 3;
            var (r, g, b) = Clips.SmpteBars[bar];
            var got = (rgb[i], rgb[i + 1], rgb[i + 2]);
            Assert.True(Math.Abs(got.Item1 - r) <= 24 && Math.Abs(got.Item2 - g) <= 24 && Math.Abs(got.Item3 - b) <= 24,
                $"bar {bar} at ({x},{y}): expected ({r},{g},{b}) got {got}");
        }
    }
}
