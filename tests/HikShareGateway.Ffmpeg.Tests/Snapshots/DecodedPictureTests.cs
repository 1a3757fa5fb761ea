using HikShareGateway.Ffmpeg.Tests.Infrastructure;
using HikShareGateway.Ffmpeg.Video;

namespace HikShareGateway.Ffmpeg.Tests.Snapshots;

/// <summary>One decode, several widths: the picture kept by the snapshot service.</summary>
[Trait("Category", "Integration")]
public sealed class DecodedPictureTests
{
    [Theory]
    [InlineData(VideoCodec.H264)]
    [InlineData(VideoCodec.H265)]
    public async Task Keyframe_DecodedOnce_JpegsOfTwoWidthsWithBarsInPlace_SameArrayForTheSameWidth(VideoCodec codec)
    {
        var units = Clips.AccessUnits(codec, await Clips.SmpteBarsAsync(codec, 640, 360, frames: 3, gop: 25));
        using var picture = DecodedPicture.Decode(codec, [], units[0].Span);
        Assert.Equal((640, 360), (picture.SourceWidth, picture.SourceHeight));
        Assert.True(picture.TryEncodeJpeg(320, out var small, out var smallHeight));
        Assert.True(picture.TryEncodeJpeg(0, out var full, out var fullHeight));
        Assert.True(picture.TryEncodeJpeg(320, out var again, out _));
        Assert.Same(small, again);
        Assert.Equal(180, smallHeight);
        Assert.Equal(360, fullHeight);
        await SnapshotJpegs.AssertSmpteBarsAsync(small, 320, 180);
        await SnapshotJpegs.AssertSmpteBarsAsync(full, 640, 360);
    }

    [Fact]
    public async Task Disposed_TryEncodeFalse()
    {
        var units = Clips.AccessUnits(VideoCodec.H264, await Clips.SmpteBarsAsync(VideoCodec.H264, 320, 240, 1, 25));
        var picture = DecodedPicture.Decode(VideoCodec.H264, [], units[0].Span);
        picture.Dispose();
        Assert.False(picture.TryEncodeJpeg(160, out _, out _));
    }

    [Fact]
    public void NotAPicture_InvalidInput()
    {
        var e = Assert.Throws<MediaProcessingException>(() => DecodedPicture.Decode(VideoCodec.H264, [], new byte[] { 0, 0, 0, 1, 0x41, 0x9a, 0x02 }));
        Assert.Equal(MediaError.InvalidInput, e.Error);
    }
}
