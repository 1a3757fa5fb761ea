using System.Buffers;
using HikShareGateway.Mp4.Audio;
using HikShareGateway.Mp4.Muxing;
using HikShareGateway.Mp4.Rtp;

namespace HikShareGateway.Mp4.Tests.Infrastructure;

/// <summary>
/// The whole path in a test: an Annex B stream cut into access units, packetized to RTP, depacketized, and
/// muxed with a generated PCMU tone into one fragmented MP4 — what the gateway will do with a camera's stream.
/// </summary>
public sealed class StreamBuilder
{
    public required bool H265 { get; init; }

    public required byte[] AnnexBStream { get; init; }

    /// <summary>Hz of the PCMU tone, or null for no audio track.</summary>
    public double? ToneHz { get; init; }

    /// <summary>Near the 32-bit wrap, so that the timelines must carry over it.</summary>
    public uint FirstVideoTimestamp { get; init; } = uint.MaxValue - (3600 * 30);

    public uint FirstAudioTimestamp { get; init; } = uint.MaxValue - (160 * 40);

    /// <summary>RTP packets (by index in the packetized stream) that are lost on the way.</summary>
    public Func<int, bool> IsLost { get; init; } = _ => false;

    public int AccessUnits { get; private set; }

    public int VideoFragments { get; private set; }

    public int AudioPackets { get; private set; }

    public int AudioPacketsPerFragment { get; init; } = 1;

    public int DroppedVideo { get; private set; }

    public string? MimeType { get; private set; }

    public byte[] Build()
    {
        List<List<byte[]>> units = AnnexB.AccessUnits(AnnexB.Split(AnnexBStream), H265);
        AccessUnits = units.Count;
        var testUnits = units.Select((nals, i) => new TestAccessUnit(unchecked(FirstVideoTimestamp + (uint)(i * 3600)), nals)).ToList();
        List<TestPacket> packets = new TestPacketizer(H265, mtu: 1200).Packetize(testUnits);

        var muxer = new Fmp4Muxer(new Fmp4MuxerOptions
        {
            Video = H265 ? VideoCodec.H265 : VideoCodec.H264,
            Audio = ToneHz is null ? AudioCodec.None : AudioCodec.Pcmu,
            AudioPacketsPerFragment = AudioPacketsPerFragment,
        });
        var output = new ArrayBufferWriter<byte>();
        var sink = new MuxingSink(muxer, output);
        using NalDepacketizer depacketizer = H265 ? new H265Depacketizer() : new H264Depacketizer();

        int audioPackets = 0;
        for (int p = 0; p < packets.Count; p++)
        {
            // Audio of 20 ms packets up to this video packet's time (video frame i is at i × 40 ms).
            while (ToneHz is not null && audioPackets * 20 <= packets[p].AccessUnit * 40)
            {
                byte[] pcmu = MuLawTone(ToneHz.Value, audioPackets * 160);
                if (muxer.WriteAudio(output, pcmu, unchecked(FirstAudioTimestamp + (uint)(audioPackets * 160))) is MuxResult.Written or MuxResult.Buffered)
                {
                    AudioPackets++;
                }

                audioPackets++;
            }

            if (!IsLost(p))
            {
                depacketizer.Push(packets[p].Bytes, ref sink);
            }
        }

        muxer.FlushAudio(output);
        VideoFragments = sink.Written[0];
        DroppedVideo = sink.Written[1];
        MimeType = muxer.MimeType;
        return output.WrittenSpan.ToArray();
    }

    /// <summary>160 PCMU bytes of a half-scale tone: each sample encoded as the nearest µ-law code.</summary>
    public static byte[] MuLawTone(double hz, int firstSample)
    {
        var bytes = new byte[160];
        for (int i = 0; i < bytes.Length; i++)
        {
            double value = 16000 * Math.Sin(2 * Math.PI * hz * (firstSample + i) / 8000);
            int best = 0;
            for (int code = 1; code < 256; code++)
            {
                if (Math.Abs(G711.DecodeMuLaw((byte)code) - value) < Math.Abs(G711.DecodeMuLaw((byte)best) - value))
                {
                    best = code;
                }
            }

            bytes[i] = (byte)best;
        }

        return bytes;
    }

    private readonly struct MuxingSink(Fmp4Muxer muxer, IBufferWriter<byte> output) : IAccessUnitSink
    {
        public int[] Written { get; } = new int[2];

        public void OnAccessUnit(in AccessUnit accessUnit)
        {
            MuxResult result = muxer.WriteVideo(output, accessUnit);
            Written[result == MuxResult.Written ? 0 : 1]++;
        }
    }
}
