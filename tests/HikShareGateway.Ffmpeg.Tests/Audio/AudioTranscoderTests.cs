using HikShareGateway.Ffmpeg.Audio;
using HikShareGateway.Ffmpeg.Tests.Infrastructure;

namespace HikShareGateway.Ffmpeg.Tests.Audio;

public sealed class AudioTranscoderTests
{
    private static List<byte[]> Run(AudioTranscoder t, IEnumerable<byte[]> packets, List<long>? pts = null)
    {
        var output = new List<byte[]>();
        void On(ReadOnlySpan<byte> p, long ts)
        {
            output.Add(p.ToArray());
            pts?.Add(ts);
        }
        foreach (var p in packets)
        {
            t.Push(p, On);
        }
        t.Flush(On);
        return output;
    }

    [Theory]
    [Trait("Category", "Integration")]
    [InlineData(AudioCodec.Pcmu, 1)]
    [InlineData(AudioCodec.Pcma, 1)]
    [InlineData(AudioCodec.Pcmu, 2)]
    public async Task Push_Opus1kHzTone_G711At8kHzMonoIn20msPacketsStill1kHz(AudioCodec g711, int opusChannels)
    {
        var opus = await Tones.OpusPacketsAsync(1000, 1.0, opusChannels);
        using var t = new AudioTranscoder(new AudioFormat(AudioCodec.Opus, 48000, opusChannels), new AudioFormat(g711, 8000, 1));
        var pts = new List<long>();

        var packets = Run(t, opus, pts);

        Assert.Equal(160, t.OutputFrameSamples);
        Assert.All(packets, p => Assert.Equal(160, p.Length));
        Assert.Equal(Enumerable.Range(0, packets.Count).Select(i => i * 160L), pts);
        Assert.InRange(packets.Count, 48, 53);   // 1 s = 50 packets, plus the decoder's pre-skip/flush padding
        var samples = await Tones.DecodeAsync(packets.SelectMany(p => p).ToArray(), "-f", g711 == AudioCodec.Pcmu ? "mulaw" : "alaw", "-ar", "8000", "-ac", "1");
        Assert.InRange(Tones.Frequency(samples, 8000), 990, 1010);
        // lavfi's sine peaks at 1/8 of full scale (RMS ≈ 2900); a stereo source is downmixed at -3 dB (≈ 2050).
        Assert.InRange(Tones.Rms(samples), 1500, 3500);
        Assert.Equal(0, t.DecodeErrors);
    }

    [Fact]
    [Trait("Category", "Integration")]
    public async Task Push_Pcmu1kHzTone_AacThatFfmpegDecodesTo1kHz()
    {
        var pcmu = await Tones.G711Async(mulaw: true, 1000, 1.0);
        using var t = new AudioTranscoder(new AudioFormat(AudioCodec.Pcmu, 8000, 1), new AudioFormat(AudioCodec.Aac, 16000, 1), bitrateKbps: 32);

        var packets = Run(t, pcmu.Chunk(160));

        Assert.Equal(1024, t.OutputFrameSamples);
        // AudioSpecificConfig: AAC-LC, 16 kHz, mono (then FFmpeg's explicit "no SBR" sync extension).
        Assert.Equal(new byte[] { 0x14, 0x08 }, t.OutputConfig[..2]);
        var samples = await Tones.DecodeAsync(Tones.Adts(packets, 16000, 1), "-f", "aac");
        Assert.InRange(samples.Length, 15000, 19000);
        Assert.InRange(Tones.Frequency(samples, 16000), 990, 1010);
    }

    [Fact]
    [Trait("Category", "Integration")]
    public async Task Push_PcmaToOpusAndBack_ToneSurvivesBothTranscoders()
    {
        var pcma = await Tones.G711Async(mulaw: false, 1000, 1.0);
        using var toOpus = new AudioTranscoder(new AudioFormat(AudioCodec.Pcma, 8000, 1), new AudioFormat(AudioCodec.Opus, 48000, 1));
        using var back = new AudioTranscoder(new AudioFormat(AudioCodec.Opus, 48000, 1, toOpus.OutputConfig), new AudioFormat(AudioCodec.Pcmu, 8000, 1));

        var opus = Run(toOpus, pcma.Chunk(160));
        var pcmu = Run(back, opus);

        Assert.Equal(960, toOpus.OutputFrameSamples);
        Assert.StartsWith("OpusHead", System.Text.Encoding.ASCII.GetString(toOpus.OutputConfig, 0, 8));
        var samples = await Tones.DecodeAsync(pcmu.SelectMany(p => p).ToArray(), "-f", "mulaw", "-ar", "8000", "-ac", "1");
        Assert.InRange(Tones.Frequency(samples, 8000), 990, 1010);
    }

    [Fact]
    [Trait("Category", "Integration")]
    public async Task Push_AacWithItsAudioSpecificConfigToOpus_ToneSurvives()
    {
        var pcmu = await Tones.G711Async(mulaw: true, 1000, 1.0);
        using var toAac = new AudioTranscoder(new AudioFormat(AudioCodec.Pcmu, 8000, 1), new AudioFormat(AudioCodec.Aac, 16000, 1));
        var aac = Run(toAac, pcmu.Chunk(160));
        using var toOpus = new AudioTranscoder(new AudioFormat(AudioCodec.Aac, 16000, 1, toAac.OutputConfig), new AudioFormat(AudioCodec.Opus, 48000, 1));
        using var toPcmu = new AudioTranscoder(new AudioFormat(AudioCodec.Opus, 48000, 1), new AudioFormat(AudioCodec.Pcmu, 8000, 1));

        var back = Run(toPcmu, Run(toOpus, aac));

        Assert.Equal(0, toOpus.DecodeErrors);
        var samples = await Tones.DecodeAsync(back.SelectMany(p => p).ToArray(), "-f", "mulaw", "-ar", "8000", "-ac", "1");
        Assert.InRange(Tones.Frequency(samples, 8000), 990, 1010);
    }

    [Fact]
    [Trait("Category", "Integration")]
    public async Task Push_AfterWarmUp_AllocatesNoManagedMemoryPerPacket()
    {
        var opus = await Tones.OpusPacketsAsync(1000, 1.0);
        using var t = new AudioTranscoder(new AudioFormat(AudioCodec.Opus, 48000, 1), new AudioFormat(AudioCodec.Pcmu, 8000, 1));
        long bytesOut = 0;
        EncodedAudioHandler on = (p, _) => bytesOut += p.Length;
        for (int i = 0; i < 10; i++)
        {
            t.Push(opus[i], on);
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 10; i < 40; i++)
        {
            t.Push(opus[i], on);
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, allocated);
        Assert.True(bytesOut >= 30 * 160, $"{bytesOut} bytes of PCMU");
    }

    [Fact]
    [Trait("Category", "Integration")]
    public void Push_GarbageOpusPacket_CountedAndSkippedNotThrown()
    {
        using var t = new AudioTranscoder(new AudioFormat(AudioCodec.Opus, 48000, 1), new AudioFormat(AudioCodec.Pcmu, 8000, 1));

        t.Push([0xff, 0xff, 0xff], (_, _) => { });
        t.Push([], (_, _) => { });

        Assert.Equal(1, t.DecodeErrors);
    }

    [Fact]
    [Trait("Category", "Unit")]
    public void Constructor_SeveralBadSettings_ListsEveryError()
    {
        var ex = Assert.Throws<ArgumentException>(() =>
            new AudioTranscoder(new AudioFormat(AudioCodec.Aac, 8000, 6), new AudioFormat(AudioCodec.Opus, 44100, 1), bitrateKbps: 1));

        Assert.Contains("input channels must be 1 or 2 (got 6)", ex.Message);
        Assert.Contains("output sample rate 44100 is not valid for Opus", ex.Message);
        Assert.Contains("AAC input needs its AudioSpecificConfig", ex.Message);
        Assert.Contains("bitrate must be 6..512", ex.Message);
    }
}
