using HikShareGateway.Ffmpeg.Video;

namespace HikShareGateway.Ffmpeg.Tests.Infrastructure;

/// <summary>Elementary-stream clips made with the ffmpeg CLI from lavfi's smptebars (known colour layout).</summary>
public static class Clips
{
    /// <summary>SMPTE colour bars (top two thirds, left to right) at 75 %: grey, yellow, cyan, green, magenta, red, blue.</summary>
    public static readonly (byte R, byte G, byte B)[] SmpteBars =
        [(191, 191, 191), (191, 191, 0), (0, 191, 191), (0, 191, 0), (191, 0, 191), (191, 0, 0), (0, 0, 191)];

    /// <summary>An Annex B stream of <paramref name="frames"/> smptebars pictures, GOP <paramref name="gop"/>, no B-frames
    /// unless <paramref name="bframes"/>.</summary>
    public static async Task<byte[]> SmpteBarsAsync(VideoCodec codec, int width, int height, int frames, int gop, bool bframes = false,
        string pixelFormat = "yuv420p")
    {
        string dir = Tool.TempDir();
        string path = Path.Combine(dir, codec == VideoCodec.H264 ? "bars.h264" : "bars.hevc");
        string[] enc = codec == VideoCodec.H264
            ? ["-c:v", "libx264", "-preset", "ultrafast", "-g", gop.ToString(), "-bf", bframes ? "2" : "0", "-f", "h264"]
            : ["-c:v", "libx265", "-preset", "ultrafast", "-x265-params", $"keyint={gop}:min-keyint={gop}:bframes={(bframes ? 2 : 0)}:log-level=error", "-f", "hevc"];
        await Tool.FfmpegAsync(["-f", "lavfi", "-i", $"smptebars=size={width}x{height}:rate=25", "-frames:v", frames.ToString(),
            "-pix_fmt", pixelFormat, .. enc, path]);
        var bytes = await File.ReadAllBytesAsync(path);
        Directory.Delete(dir, recursive: true);
        return bytes;
    }

    /// <summary>Access units of an elementary stream as ReadOnlyMemory, for the snapshot API.</summary>
    public static List<ReadOnlyMemory<byte>> AccessUnits(VideoCodec codec, byte[] stream) =>
        AnnexB.SplitAccessUnits(codec, stream).Select(a => (ReadOnlyMemory<byte>)a).ToList();

    /// <summary>Decodes a JPEG (or any picture) to RGB24 with the ffmpeg CLI.</summary>
    public static async Task<byte[]> DecodeToRgbAsync(byte[] picture, string ext = "jpg")
    {
        string dir = Tool.TempDir();
        string path = Path.Combine(dir, "in." + ext);
        await File.WriteAllBytesAsync(path, picture);
        var rgb = await Tool.FfmpegAsync("-i", path, "-f", "rawvideo", "-pix_fmt", "rgb24", "-");
        Directory.Delete(dir, recursive: true);
        return rgb;
    }
}
