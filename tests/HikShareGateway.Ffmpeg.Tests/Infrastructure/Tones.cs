using System.Buffers.Binary;

namespace HikShareGateway.Ffmpeg.Tests.Infrastructure;

/// <summary>Test tones made with ffmpeg's lavfi sine source, and measuring a tone's frequency.</summary>
public static class Tones
{
    /// <summary>Opus packets of a 1 s sine, from an Ogg file ffmpeg wrote (OpusHead/OpusTags left out).</summary>
    public static async Task<List<byte[]>> OpusPacketsAsync(int frequency, double seconds, int channels = 1)
    {
        string dir = Tool.TempDir();
        string path = Path.Combine(dir, "tone.ogg");
        await Tool.FfmpegAsync("-f", "lavfi", "-i", $"sine=frequency={frequency}:sample_rate=48000:duration={seconds}", "-ac", channels.ToString(),
            "-c:a", "libopus", "-b:a", "48k", "-frame_duration", "20", path);
        var packets = OggPackets(await File.ReadAllBytesAsync(path));
        Directory.Delete(dir, true);
        Assert.StartsWith("OpusHead", System.Text.Encoding.ASCII.GetString(packets[0], 0, 8));
        return packets.Skip(2).ToList();
    }

    /// <summary>G.711 bytes of a sine at 8 kHz mono (µ-law or A-law).</summary>
    public static Task<byte[]> G711Async(bool mulaw, int frequency, double seconds) =>
        Tool.FfmpegAsync("-f", "lavfi", "-i", $"sine=frequency={frequency}:sample_rate=8000:duration={seconds}", "-ac", "1",
            "-f", mulaw ? "mulaw" : "alaw", "-");

    /// <summary>Decodes raw audio in <paramref name="format"/> (ffmpeg -f name) to 16-bit mono samples with the ffmpeg CLI.</summary>
    public static async Task<short[]> DecodeAsync(byte[] data, params string[] inputFormat)
    {
        string dir = Tool.TempDir();
        string path = Path.Combine(dir, "in.raw");
        await File.WriteAllBytesAsync(path, data);
        var pcm = await Tool.FfmpegAsync([.. inputFormat, "-i", path, "-ac", "1", "-f", "s16le", "-"]);
        Directory.Delete(dir, true);
        var samples = new short[pcm.Length / 2];
        for (int i = 0; i < samples.Length; i++)
        {
            samples[i] = BinaryPrimitives.ReadInt16LittleEndian(pcm.AsSpan(2 * i));
        }
        return samples;
    }

    /// <summary>Frequency from upward zero crossings over the middle of the signal (edges skipped: codec delay, fades).</summary>
    public static double Frequency(short[] samples, int sampleRate)
    {
        int from = samples.Length / 5, to = samples.Length * 4 / 5;
        int first = -1, last = -1, crossings = 0;
        for (int i = from + 1; i < to; i++)
        {
            if (samples[i - 1] < 0 && samples[i] >= 0)
            {
                if (first < 0) first = i; else crossings++;
                last = i;
            }
        }
        Assert.True(crossings > 10, $"no tone: {crossings} crossings");
        return crossings * (double)sampleRate / (last - first);
    }

    /// <summary>RMS level, to tell a tone from silence.</summary>
    public static double Rms(short[] samples) => Math.Sqrt(samples.Average(s => (double)s * s));

    /// <summary>Packets of an Ogg stream (RFC 3533: pages of lacing values; 255 continues a packet).</summary>
    public static List<byte[]> OggPackets(byte[] ogg)
    {
        var packets = new List<byte[]>();
        var current = new List<byte>();
        int pos = 0;
        while (pos + 27 <= ogg.Length)
        {
            Assert.True(ogg[pos] == 'O' && ogg[pos + 1] == 'g' && ogg[pos + 2] == 'g' && ogg[pos + 3] == 'S', $"OggS at {pos}");
            int segments = ogg[pos + 26];
            int data = pos + 27 + segments;
            for (int s = 0; s < segments; s++)
            {
                int lace = ogg[pos + 27 + s];
                current.AddRange(ogg.AsSpan(data, lace).ToArray());
                data += lace;
                if (lace < 255)
                {
                    packets.Add(current.ToArray());
                    current.Clear();
                }
            }
            pos = data;
        }
        return packets;
    }

    /// <summary>An ADTS header (ISO/IEC 13818-7) in front of each raw AAC-LC access unit, so the ffmpeg CLI can read them.</summary>
    public static byte[] Adts(IEnumerable<byte[]> units, int sampleRate, int channels)
    {
        int[] rates = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];
        int sf = Array.IndexOf(rates, sampleRate);
        var output = new List<byte>();
        foreach (var u in units)
        {
            int len = u.Length + 7;
            output.AddRange([0xff, 0xf1, (byte)((1 << 6) | (sf << 2) | (channels >> 2)), (byte)(((channels & 3) << 6) | (len >> 11)),
                (byte)((len >> 3) & 0xff), (byte)(((len & 7) << 5) | 0x1f), 0xfc]);
            output.AddRange(u);
        }
        return output.ToArray();
    }
}
