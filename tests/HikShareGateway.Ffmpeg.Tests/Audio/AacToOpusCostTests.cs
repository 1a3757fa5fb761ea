using System.Runtime.InteropServices;
using HikShareGateway.Ffmpeg.Audio;
using HikShareGateway.Ffmpeg.Tests.Infrastructure;
using Xunit.Abstractions;

namespace HikShareGateway.Ffmpeg.Tests.Audio;

/// <summary>
/// What one AAC → Opus transcoder (the WebRTC audio of an AAC camera) costs: CPU of the transcoding thread per second
/// of audio (CLOCK_THREAD_CPUTIME_ID, so other tests' load does not count), and no managed allocation per packet.
/// </summary>
public sealed partial class AacToOpusCostTests(ITestOutputHelper log)
{
    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [LibraryImport("libc", EntryPoint = "clock_gettime")]
    private static partial int ClockGetTime(int clock, out TimeSpec time);

    private static double ThreadCpuMs()
    {
        const int ClockThreadCpuTime = 3;
        Assert.Equal(0, ClockGetTime(ClockThreadCpuTime, out var t));
        return t.Seconds * 1000.0 + t.Nanoseconds / 1e6;
    }

    [Fact]
    [Trait("Category", "Integration")]
    public async Task AacToOpus_16kHzMono_CostsUnder5PercentOfACore_AllocatesNothingPerPacket()
    {
        const double Seconds = 20;
        var pcmu = await Tones.G711Async(mulaw: true, 440, Seconds);
        using var toAac = new AudioTranscoder(new AudioFormat(AudioCodec.Pcmu, 8000, 1), new AudioFormat(AudioCodec.Aac, 16000, 1));
        var aac = new List<byte[]>();
        foreach (var chunk in pcmu.Chunk(160))
        {
            toAac.Push(chunk, (p, _) => aac.Add(p.ToArray()));
        }
        Assert.True(aac.Count >= Seconds * 15, $"{aac.Count} AAC access units");

        using var toOpus = new AudioTranscoder(new AudioFormat(AudioCodec.Aac, 16000, 1, toAac.OutputConfig), new AudioFormat(AudioCodec.Opus, 48000, 1), bitrateKbps: 32);
        long opusBytes = 0;
        int opusPackets = 0;
        EncodedAudioHandler on = (p, _) => { opusBytes += p.Length; opusPackets++; };
        for (int i = 0; i < 10; i++)
        {
            toOpus.Push(aac[i], on);
        }
        ThreadCpuMs(); // the first call loads libc's entry point (allocates); not the transcoder's
        double cpuBefore = ThreadCpuMs();
        long allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 10; i < aac.Count; i++)
        {
            toOpus.Push(aac[i], on);
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
        double cpuMs = ThreadCpuMs() - cpuBefore;

        double audioSeconds = (aac.Count - 10) * 1024 / 16000.0;
        double percentOfCore = cpuMs / (audioSeconds * 1000) * 100;
        log.WriteLine($"AAC 16 kHz mono → Opus 48 kHz 32 kbit/s: {cpuMs:0} CPU-ms for {audioSeconds:0.0} s of audio = {percentOfCore:0.00} % of one core; " +
            $"{opusPackets} Opus packets, {opusBytes * 8 / audioSeconds / 1000:0.0} kbit/s");
        Assert.Equal(0, toOpus.DecodeErrors);
        Assert.Equal(0, allocated);
        Assert.True(opusPackets >= audioSeconds * 49, $"{opusPackets} Opus packets of 20 ms for {audioSeconds} s");
        Assert.True(percentOfCore < 5, $"{percentOfCore:0.00} % of a core");
    }
}
