using System.Runtime.InteropServices;
using System.Text.Json;
using HikShareGateway.Mp4.Muxing;
using HikShareGateway.Mp4.Rtp;
using HikShareGateway.Mp4.Tests.Infrastructure;

namespace HikShareGateway.Mp4.Tests.Muxing;

/// <summary>
/// Real peers read what the muxer writes from RTP: ffprobe (streams and every frame) and ffmpeg (a full decode
/// with errors reported, and the audio's tone measured).
/// </summary>
[Trait("Category", "Integration")]
public sealed class Fmp4FfprobeTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("hikshare-fmp4-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Theory]
    [InlineData(1)]
    [InlineData(5)]
    public async Task DemoH264WithPcmuTone_FfprobeSeesH264AndFlac_AllFramesInOrder_AndTheToneDecodes(int audioPacketsPerFragment)
    {
        var builder = new StreamBuilder
        {
            H265 = false,
            AnnexBStream = File.ReadAllBytes(Tools.DemoAsset),
            ToneHz = 1000,
            AudioPacketsPerFragment = audioPacketsPerFragment,
        };
        byte[] mp4 = builder.Build();
        string file = Write(mp4, "demo.mp4");
        Assert.Equal(builder.VideoFragments + ((builder.AudioPackets + audioPacketsPerFragment - 1) / audioPacketsPerFragment), BoxReader.Read(mp4).Children.Count(b => b.Type == "moof"));
        Assert.Equal(250, builder.AccessUnits);
        Assert.Equal(250, builder.VideoFragments);
        Assert.Equal("video/mp4; codecs=\"avc1.42C01E,flac\"", builder.MimeType);

        JsonElement probe = await ProbeAsync(file);

        JsonElement[] streams = probe.GetProperty("streams").EnumerateArray().ToArray();
        Assert.Equal("h264", streams[0].GetProperty("codec_name").GetString());
        Assert.Equal(640, streams[0].GetProperty("width").GetInt32());
        Assert.Equal(360, streams[0].GetProperty("height").GetInt32());
        Assert.Equal("flac", streams[1].GetProperty("codec_name").GetString());
        Assert.Equal("8000", streams[1].GetProperty("sample_rate").GetString());
        Assert.Equal(1, streams[1].GetProperty("channels").GetInt32());

        List<long> videoPts = FramePts(probe, "video");
        Assert.Equal(250, videoPts.Count);
        AssertStrictlyIncreasing(videoPts);
        Assert.Equal(0, videoPts[0]);
        Assert.Equal(249 * 3600, videoPts[^1]); // 90 kHz, carried over the RTP wrap
        Assert.Equal(10, KeyFrames(probe));
        List<long> audioPts = FramePts(probe, "audio");
        Assert.Equal(builder.AudioPackets, audioPts.Count);
        AssertStrictlyIncreasing(audioPts);

        await AssertDecodesWithoutErrorsAsync(file);
        short[] pcm = await DecodeAudioAsync(file);
        Assert.Equal(builder.AudioPackets * 160, pcm.Length);
        double tone = Goertzel(pcm, 1000, 8000);
        Assert.True(tone > 100 * Goertzel(pcm, 1300, 8000), "1 kHz does not dominate 1.3 kHz");
        Assert.True(tone > 100 * Goertzel(pcm, 700, 8000), "1 kHz does not dominate 700 Hz");
    }

    [Fact]
    public async Task FfmpegMadeH265_FfprobeSeesHevc1280x720_WithEveryFrame()
    {
        byte[] hevc = await Tools.EncodeAsync(h265: true, "1280x720", frames: 50);
        var builder = new StreamBuilder { H265 = true, AnnexBStream = hevc, ToneHz = 440 };
        string file = Write(builder.Build(), "hevc.mp4");
        Assert.Equal(50, builder.VideoFragments);
        Assert.StartsWith("video/mp4; codecs=\"hvc1.1.6.L", builder.MimeType);

        JsonElement probe = await ProbeAsync(file);

        JsonElement video = probe.GetProperty("streams")[0];
        Assert.Equal("hevc", video.GetProperty("codec_name").GetString());
        Assert.Equal("hvc1", video.GetProperty("codec_tag_string").GetString());
        Assert.Equal(1280, video.GetProperty("width").GetInt32());
        Assert.Equal(720, video.GetProperty("height").GetInt32());
        List<long> pts = FramePts(probe, "video");
        Assert.Equal(50, pts.Count);
        AssertStrictlyIncreasing(pts);
        Assert.Equal(2, KeyFrames(probe));
        await AssertDecodesWithoutErrorsAsync(file);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task LossyRtp_DamagedFramesAreDroppedToTheNextKeyframe_AndTheRestDecodesCleanly(bool h265)
    {
        var builder = new StreamBuilder
        {
            H265 = h265,
            // libx265's CRA keyframes (open GOP) and small pictures, some in one packet: a loss can take a whole
            // picture, which must still stop the frames that reference it.
            AnnexBStream = h265 ? await Tools.EncodeAsync(h265: true, "640x360", frames: 100) : File.ReadAllBytes(Tools.DemoAsset),
            IsLost = p => p % 97 == 50,
        };
        string file = Write(builder.Build(), "lossy.mp4");
        Assert.InRange(builder.DroppedVideo, 1, builder.AccessUnits - 1);

        JsonElement probe = await ProbeAsync(file);

        List<long> pts = FramePts(probe, "video");
        Assert.Equal(builder.VideoFragments, pts.Count);
        AssertStrictlyIncreasing(pts);
        await AssertDecodesWithoutErrorsAsync(file);
    }

    [Fact]
    public async Task SlowReader_WhatTheSessionKeptAfterDroppingToKeyframes_DecodesWithoutErrors()
    {
        List<List<byte[]>> units = AnnexB.AccessUnits(AnnexB.Split(File.ReadAllBytes(Tools.DemoAsset)), h265: false);
        using var session = new Fmp4Session(new Fmp4SessionOptions { MaxQueuedBytes = 64 << 10, Muxer = new() { Audio = AudioCodec.Pcmu } });
        var kept = new List<byte>();
        int videoSegments = 0;
        for (int i = 0; i < units.Count; i++)
        {
            session.OnVideo(new AccessUnit(Fmp4SessionTests.LengthPrefixed(units[i]), (uint)(i * 3600), Fmp4SessionTests.IsKeyframe(units[i]), isDamaged: false));
            session.OnAudio(StreamBuilder.MuLawTone(1000, i * 320), (uint)(i * 320));
            session.OnAudio(StreamBuilder.MuLawTone(1000, (i * 320) + 160), (uint)((i * 320) + 160));
            if (i % 50 == 49)
            {
                // A reader that wakes every 2 s and takes everything.
                while (session.TryRead(out Fmp4Segment segment))
                {
                    kept.AddRange(segment.Memory.Span);
                    videoSegments += segment.Kind == Fmp4SegmentKind.Audio ? 0 : 1;
                    segment.Dispose();
                }
            }
        }

        Assert.True(session.Overflows >= 4);
        string file = Write(kept.ToArray(), "slow.mp4");

        JsonElement probe = await ProbeAsync(file);

        List<long> pts = FramePts(probe, "video");
        Assert.Equal(videoSegments, pts.Count);
        AssertStrictlyIncreasing(pts);
        await AssertDecodesWithoutErrorsAsync(file);
    }

    private string Write(byte[] bytes, string name)
    {
        string path = Path.Combine(_directory, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private static async Task<JsonElement> ProbeAsync(string file)
    {
        ToolResult result = await Tools.RunAsync("ffprobe", ["-v", "error", "-show_streams", "-show_frames", "-of", "json", file]);
        Assert.True(result.ExitCode == 0 && result.Stderr.Length == 0, result.Stderr);
        return JsonDocument.Parse(result.Stdout).RootElement.Clone();
    }

    private static List<long> FramePts(JsonElement probe, string mediaType) =>
        probe.GetProperty("frames").EnumerateArray()
            .Where(f => f.GetProperty("media_type").GetString() == mediaType)
            .Select(f => f.GetProperty("pts").GetInt64())
            .ToList();

    private static int KeyFrames(JsonElement probe) =>
        probe.GetProperty("frames").EnumerateArray()
            .Count(f => f.GetProperty("media_type").GetString() == "video" && f.GetProperty("key_frame").GetInt32() == 1);

    private static void AssertStrictlyIncreasing(List<long> values)
    {
        for (int i = 1; i < values.Count; i++)
        {
            Assert.True(values[i] > values[i - 1], $"pts {values[i]} at {i} after {values[i - 1]}");
        }
    }

    private static async Task AssertDecodesWithoutErrorsAsync(string file)
    {
        ToolResult result = await Tools.RunAsync("ffmpeg", ["-hide_banner", "-v", "error", "-i", file, "-f", "null", "-"]);
        Assert.True(result.ExitCode == 0 && result.Stderr.Length == 0, result.Stderr);
    }

    private static async Task<short[]> DecodeAudioAsync(string file)
    {
        ToolResult result = await Tools.RunAsync("ffmpeg", ["-hide_banner", "-v", "error", "-i", file, "-map", "0:a", "-f", "s16le", "-"]);
        Assert.True(result.ExitCode == 0, result.Stderr);
        return MemoryMarshal.Cast<byte, short>(result.Stdout).ToArray();
    }

    /// <summary>The power of one frequency in the signal (the Goertzel algorithm: one DFT bin).</summary>
    private static double Goertzel(short[] pcm, double hz, int rate)
    {
        double coefficient = 2 * Math.Cos(2 * Math.PI * hz / rate);
        double s1 = 0, s2 = 0;
        foreach (short sample in pcm)
        {
            double s0 = sample + (coefficient * s1) - s2;
            s2 = s1;
            s1 = s0;
        }

        return (s1 * s1) + (s2 * s2) - (coefficient * s1 * s2);
    }
}
