using System.Runtime.InteropServices;
using HikShareGateway.Mp4.Audio;
using HikShareGateway.Mp4.Tests.Infrastructure;

namespace HikShareGateway.Mp4.Tests.Audio;

/// <summary>ffmpeg as the reference decoder of our FLAC frames and G.711 tables.</summary>
[Trait("Category", "Integration")]
public sealed class FlacFfmpegTests
{
    [Fact]
    public async Task FlacFrames_DecodedByFfmpegWithCrcChecks_GiveBackThePcmExactly()
    {
        var random = new Random(11);
        var encoder = new FlacEncoder(8000, 160);
        var native = new MemoryStream();
        native.Write("fLaC"u8);
        native.Write(encoder.StreamInfoBlock());
        var expected = new List<short>();
        var frame = new byte[FlacEncoder.MaxFrameBytes(FlacEncoder.MaxBlockSize)];
        for (int f = 0; f < 200; f++)
        {
            // Packets of different lengths, as cameras send them (gst-rtsp-server's PCMU payloader: 1024 samples).
            int n = (f % 5) switch { 0 => 1024, 1 => 80, 2 => 320, _ => 160 };
            // Tones, silence, noise, extremes and decoded G.711 (wasted bits), so every subframe type,
            // predictor order and the wasted-bits path are decoded.
            short[] pcm = (f % 7) switch
            {
                0 => new short[n],
                1 => Enumerable.Range(0, n).Select(_ => (short)random.Next(short.MinValue, short.MaxValue)).ToArray(),
                2 => Enumerable.Range(0, n).Select(i => i % 2 == 0 ? short.MaxValue : short.MinValue).ToArray(),
                3 => Enumerable.Range(0, n).Select(_ => G711.DecodeMuLaw((byte)random.Next(256))).ToArray(),
                4 => StreamBuilder.MuLawTone(300 + f, f * 160).Select(G711.DecodeMuLaw).ToArray(),
                5 => Enumerable.Range(0, n).Select(_ => G711.DecodeALaw((byte)random.Next(256))).ToArray(),
                _ => FlacEncoderTests.Tone(n, 300 + (f * 17), 8000, 100 + (f * 150), f * 160),
            };
            expected.AddRange(pcm);
            native.Write(frame, 0, encoder.EncodeFrame(pcm, frame));
        }

        ToolResult result = await Tools.RunAsync(
            "ffmpeg",
            ["-hide_banner", "-v", "error", "-err_detect", "crccheck+explode", "-f", "flac", "-i", "-", "-f", "s16le", "-"],
            stdin: native.ToArray());

        Assert.True(result.ExitCode == 0 && result.Stderr.Length == 0, result.Stderr);
        Assert.Equal(expected.ToArray(), MemoryMarshal.Cast<byte, short>(result.Stdout).ToArray());

        // The same check catches one flipped bit: the CRCs are really verified.
        byte[] corrupted = native.ToArray();
        corrupted[^40] ^= 0x10;
        ToolResult broken = await Tools.RunAsync(
            "ffmpeg",
            ["-hide_banner", "-v", "error", "-err_detect", "crccheck+explode", "-f", "flac", "-i", "-", "-f", "s16le", "-"],
            stdin: corrupted);
        Assert.Contains("crc", broken.Stderr, StringComparison.OrdinalIgnoreCase);
    }

    [Theory]
    [InlineData("mulaw", false)]
    [InlineData("alaw", true)]
    public async Task G711Tables_AgreeWithFfmpegOnAll256Codes(string format, bool aLaw)
    {
        byte[] codes = Enumerable.Range(0, 256).Select(i => (byte)i).ToArray();

        ToolResult result = await Tools.RunAsync(
            "ffmpeg", ["-hide_banner", "-v", "error", "-f", format, "-ar", "8000", "-ac", "1", "-i", "-", "-f", "s16le", "-"], stdin: codes);

        Assert.True(result.ExitCode == 0, result.Stderr);
        var ours = new short[256];
        G711.Decode(codes, ours, aLaw);
        Assert.Equal(MemoryMarshal.Cast<byte, short>(result.Stdout).ToArray(), ours);
    }
}
