using System.Buffers;
using System.Buffers.Binary;
using HikShareGateway.Ffmpeg.Snapshots;
using HikShareGateway.Ffmpeg.Transcoding;
using HikShareGateway.Ffmpeg.Video;

namespace HikShareGateway.Ffmpeg.Tests.Transcoding;

[Trait("Category", "Unit")]
public sealed class H264RtpPacketizerTests
{
    private sealed class Sink
    {
        public byte[] Scratch = new byte[2000];
        public List<byte[]> Packets { get; } = [];
    }

    private static List<byte[]> Packetize(H264RtpPacketizer p, byte[] accessUnit, uint ts)
    {
        var sink = new Sink();
        p.Packetize(accessUnit, ts, sink, static (s, n) => s.Scratch.AsSpan(0, n), static (s, n) => s.Packets.Add(s.Scratch[..n]));
        return sink.Packets;
    }

    private static byte[] AccessUnit(params byte[][] nals)
    {
        var w = new ArrayBufferWriter<byte>();
        foreach (var n in nals)
        {
            AnnexB.WriteNal(w, n);
        }
        return w.WrittenSpan.ToArray();
    }

    [Fact]
    public void SpsPpsAndALargeIdr_SmallOnesWhole_TheIdrInFuA_MarkerOnTheLastOnly_RoundTrips()
    {
        byte[] sps = [0x67, 0x42, 0xe0, 0x1f];
        byte[] pps = [0x68, 0xce, 0x3c, 0x80];
        var idr = new byte[3000];
        idr[0] = 0x65;
        new Random(7).NextBytes(idr.AsSpan(1));
        for (int i = 1; i < idr.Length; i++)
        {
            idr[i] |= 1; // no start-code-like zero runs inside the test NAL
        }
        var au = AccessUnit(sps, pps, idr);
        var packets = Packetize(new H264RtpPacketizer(0xabcd, maxPayload: 1200), au, 90_000);

        Assert.Equal(2 + 3, packets.Count); // 2999 bytes of body in 1198-byte fragments
        Assert.All(packets, p => Assert.True(p.Length <= 12 + 1200));
        Assert.All(packets, p => Assert.Equal(90_000u, BinaryPrimitives.ReadUInt32BigEndian(p.AsSpan(4))));
        Assert.All(packets, p => Assert.Equal(0xabcdu, BinaryPrimitives.ReadUInt32BigEndian(p.AsSpan(8))));
        Assert.Equal([false, false, false, false, true], packets.Select(p => (p[1] & 0x80) != 0));
        var seq = packets.Select(p => BinaryPrimitives.ReadUInt16BigEndian(p.AsSpan(2))).ToArray();
        for (int i = 1; i < seq.Length; i++)
        {
            Assert.Equal((ushort)(seq[i - 1] + 1), seq[i]);
        }

        var assembler = new RtpNalAssembler(VideoCodec.H264);
        var back = new ArrayBufferWriter<byte>();
        foreach (var p in packets)
        {
            Assert.True(assembler.Append(p.AsSpan(12), back));
        }
        Assert.Equal(au, back.WrittenSpan.ToArray());
    }

    [Fact]
    public void EmptyAccessUnit_NoPacket() => Assert.Empty(Packetize(new H264RtpPacketizer(1), [], 0));
}
