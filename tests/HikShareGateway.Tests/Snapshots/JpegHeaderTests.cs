using HikShareGateway.Ffmpeg.Snapshots;
using HikShareGateway.Tests.Infrastructure;

namespace HikShareGateway.Tests.Snapshots;

/// <summary>The JPEG frame-header reader on real ffmpeg-made JPEGs: the size at once, every prefix "need more", broken input refused.</summary>
[Trait("Category", "Unit")]
public sealed class JpegHeaderTests
{
    public static TheoryData<string, int, int> Files() => new()
    {
        { "smptebars-160x90-ffmpeg.jpg", 160, 90 },
        { "testsrc2-322x182-yuvj422p-ffmpeg.jpg", 322, 182 },
    };

    [Theory]
    [MemberData(nameof(Files))]
    public void RealJpeg_GivesItsSize(string file, int width, int height)
    {
        var jpeg = TestData.Bytes("jpeg", file);
        Assert.Equal(JpegHeaderStatus.Ok, JpegHeader.TryRead(jpeg, out var w, out var h));
        Assert.Equal((width, height), (w, h));
    }

    [Theory]
    [MemberData(nameof(Files))]
    public void EveryPrefixBeforeTheFrameHeaderEnds_NeedsMore_NeverAWrongSize(string file, int width, int height)
    {
        var jpeg = TestData.Bytes("jpeg", file);
        var complete = -1;
        for (var n = 0; n <= jpeg.Length; n++)
        {
            var status = JpegHeader.TryRead(jpeg.AsSpan(0, n), out var w, out var h);
            if (status == JpegHeaderStatus.Ok)
            {
                Assert.Equal((width, height), (w, h));
                complete = complete < 0 ? n : complete;
                continue;
            }
            Assert.True(complete < 0, $"prefix {n} gave {status} after prefix {complete} was complete");
            Assert.Equal(JpegHeaderStatus.NeedMore, status);
            Assert.Equal((0, 0), (w, h));
        }
        Assert.InRange(complete, 20, 400); // the SOF0 comes after APP0, DQT and DHT
    }

    [Fact]
    public void FillBytesAndRestartMarkersBeforeTheFrame_AreSkipped()
    {
        byte[] jpeg = [0xFF, 0xD8, 0xFF, 0xFF, 0xFF, 0xE0, 0x00, 0x04, 0x4A, 0x46, 0xFF, 0xD0, 0xFF, 0xC2, 0x00, 0x11, 0x08, 0x04, 0x38, 0x07, 0x80, 0x03];
        Assert.Equal(JpegHeaderStatus.Ok, JpegHeader.TryRead(jpeg, out var w, out var h));
        Assert.Equal((1920, 1080), (w, h)); // SOF2 (progressive) counts as a frame header too
    }

    public static TheoryData<string, byte[]> Broken() => new()
    {
        { "HTML error page", "<html>401</html>"u8.ToArray() },
        { "GIF", "GIF89a...."u8.ToArray() },
        { "SOI then no marker", [0xFF, 0xD8, 0x12, 0x34] },
        { "scan before any frame header", [0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x08, 1, 2, 3, 4, 5, 6] },
        { "EOI before any frame header", [0xFF, 0xD8, 0xFF, 0xD9] },
        { "segment length below 2", [0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x01] },
        { "height deferred to DNL", [0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x11, 0x08, 0x00, 0x00, 0x07, 0x80, 0x03] },
        { "frame header too short", [0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x05, 0x08, 0x04, 0x38] },
        { "single non-FF byte", [0x47] },
    };

    [Theory]
    [MemberData(nameof(Broken))]
    public void NotAJpeg_IsInvalid(string what, byte[] data)
    {
        Assert.True(JpegHeader.TryRead(data, out var w, out var h) == JpegHeaderStatus.Invalid, what);
        Assert.Equal((0, 0), (w, h));
    }

    [Fact]
    public void RealJpegWithEveryByteAfterSoiFlipped_NeverThrows_AndNeverClaimsASizeBeyondUInt16()
    {
        var jpeg = TestData.Bytes("jpeg", "smptebars-160x90-ffmpeg.jpg");
        for (var i = 2; i < 300; i++)
        {
            var copy = (byte[])jpeg.Clone();
            copy[i] ^= 0xA5;
            var status = JpegHeader.TryRead(copy, out var w, out var h);
            Assert.True(status != JpegHeaderStatus.Ok || (w is > 0 and <= 65535 && h is > 0 and <= 65535), $"byte {i}");
        }
    }
}
