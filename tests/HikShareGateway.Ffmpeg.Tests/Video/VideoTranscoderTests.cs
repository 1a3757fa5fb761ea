using System.Buffers;
using HikShareGateway.Ffmpeg.Tests.Infrastructure;
using HikShareGateway.Ffmpeg.Video;

namespace HikShareGateway.Ffmpeg.Tests.Video;

public sealed class VideoTranscoderTests
{
    private sealed class Collected
    {
        public readonly ArrayBufferWriter<byte> Stream = new();
        public readonly List<(long Pts, bool Key, byte[] Unit)> Units = [];

        public void On(ReadOnlySpan<byte> unit, long pts, bool key)
        {
            Stream.Write(unit);
            Units.Add((pts, key, unit.ToArray()));
        }
    }

    [Fact]
    [Trait("Category", "Integration")]
    public async Task Push_H265BarsOverWidthCap_H264StreamFfprobeReadsAtCappedSizeEveryFrameNoBFrames()
    {
        var units = Clips.AccessUnits(VideoCodec.H265, await Clips.SmpteBarsAsync(VideoCodec.H265, 1280, 720, frames: 30, gop: 25));
        using var transcoder = new VideoTranscoder(VideoCodec.H265, new VideoTranscoderOptions { MaxWidth = 640, BitrateKbps = 800, KeyframeInterval = 10 });
        var got = new Collected();

        for (int i = 0; i < units.Count; i++)
        {
            transcoder.Push(units[i].Span, i * 3600L, got.On);
        }
        transcoder.Flush(got.On);

        Assert.Equal((640, 360), (transcoder.OutputWidth, transcoder.OutputHeight));
        Assert.Equal(30, got.Units.Count);
        Assert.Equal(Enumerable.Range(0, 30).Select(i => i * 3600L), got.Units.Select(u => u.Pts));
        Assert.Equal([0, 10, 20], got.Units.Select((u, i) => (u, i)).Where(x => x.u.Key).Select(x => x.i));
        Assert.Equal(7, AnnexB.NalType(VideoCodec.H264, transcoder.SequenceParameterSet));
        Assert.Equal(8, AnnexB.NalType(VideoCodec.H264, transcoder.PictureParameterSet));
        Assert.All(got.Units.Where(u => u.Key), u => Assert.Contains(7, NalTypes(u.Unit)));

        var s = await ProbeAsync(got.Stream.WrittenSpan.ToArray());
        Assert.Equal("h264", s["codec_name"]);
        Assert.Equal("Constrained Baseline", s["profile"]);
        Assert.Equal(("640", "360"), (s["width"], s["height"]));
        Assert.Equal("30", s["nb_read_frames"]);
        Assert.Equal("0", s["has_b_frames"]);
    }

    [Fact]
    [Trait("Category", "Integration")]
    public async Task Push_NarrowerThanCapMainProfile_KeepsSizeAndKeyframeOnRequest()
    {
        var units = Clips.AccessUnits(VideoCodec.H264, await Clips.SmpteBarsAsync(VideoCodec.H264, 320, 240, frames: 12, gop: 50));
        using var transcoder = new VideoTranscoder(VideoCodec.H264, new VideoTranscoderOptions { MaxWidth = 1920, Profile = "main", KeyframeInterval = 100 });
        var got = new Collected();

        for (int i = 0; i < units.Count; i++)
        {
            if (i == 7)
            {
                transcoder.RequestKeyframe();
            }
            transcoder.Push(units[i].Span, i * 3600L, got.On);
        }
        transcoder.Flush(got.On);

        Assert.Equal([0, 7], got.Units.Select((u, i) => (u, i)).Where(x => x.u.Key).Select(x => x.i));
        var s = await ProbeAsync(got.Stream.WrittenSpan.ToArray());
        Assert.Equal(("Main", "320", "240", "12", "0"), (s["profile"], s["width"], s["height"], s["nb_read_frames"], s["has_b_frames"]));
    }

    [Fact]
    [Trait("Category", "Integration")]
    public async Task Push_H265Main10_Gives8BitH264()
    {
        var units = Clips.AccessUnits(VideoCodec.H265, await Clips.SmpteBarsAsync(VideoCodec.H265, 320, 240, 5, 25, pixelFormat: "yuv420p10le"));
        using var transcoder = new VideoTranscoder(VideoCodec.H265, new VideoTranscoderOptions());
        var got = new Collected();

        for (int i = 0; i < units.Count; i++)
        {
            transcoder.Push(units[i].Span, i * 3600L, got.On);
        }
        transcoder.Flush(got.On);

        var s = await ProbeAsync(got.Stream.WrittenSpan.ToArray());
        Assert.Equal(("Constrained Baseline", "yuv420p", "5"), (s["profile"], s["pix_fmt"], s["nb_read_frames"]));
    }

    [Fact]
    [Trait("Category", "Integration")]
    public async Task Push_AfterTheEncoderOpened_AllocatesNoManagedMemoryPerAccessUnit()
    {
        var units = Clips.AccessUnits(VideoCodec.H265, await Clips.SmpteBarsAsync(VideoCodec.H265, 320, 240, frames: 20, gop: 25));
        using var transcoder = new VideoTranscoder(VideoCodec.H265, new VideoTranscoderOptions { MaxWidth = 160 });
        int received = 0;
        EncodedVideoHandler on = (_, _, _) => received++;
        for (int i = 0; i < 5; i++)
        {
            transcoder.Push(units[i].Span, i * 3600L, on);
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 5; i < 20; i++)
        {
            transcoder.Push(units[i].Span, i * 3600L, on);
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, allocated);
        Assert.Equal(20, received);
    }

    [Fact]
    [Trait("Category", "Unit")]
    public void Validate_SeveralBadValues_ReportsEveryOne()
    {
        var errors = new VideoTranscoderOptions { MaxWidth = 0, BitrateKbps = 1, Profile = "high", FrameRate = 0 }.Validate();

        Assert.Equal(4, errors.Count);
        Assert.Contains(errors, e => e.StartsWith("MaxWidth"));
        Assert.Contains(errors, e => e.StartsWith("Profile must be baseline or main (got high)"));
    }

    private static List<int> NalTypes(ReadOnlySpan<byte> unit)
    {
        var types = new List<int>();
        while (AnnexB.TryReadNal(ref unit, out var nal))
        {
            types.Add(AnnexB.NalType(VideoCodec.H264, nal));
        }
        return types;
    }

    private static async Task<Dictionary<string, string>> ProbeAsync(byte[] h264)
    {
        string dir = Tool.TempDir();
        string path = Path.Combine(dir, "out.h264");
        await File.WriteAllBytesAsync(path, h264);
        var s = await Tool.ProbeStreamAsync(path, "-count_frames");
        Directory.Delete(dir, true);
        return s;
    }
}
