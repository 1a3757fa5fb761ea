using System.Buffers.Binary;
using HikShareGateway.WebRtc.Rtp;
using static HikShareGateway.WebRtc.Tests.Infrastructure.TestBytes;

namespace HikShareGateway.WebRtc.Tests.Rtp;

[Trait("Category", "Unit")]
public sealed class RtpTests
{
    private static List<byte[]> All(H264Packetizer p, int max)
    {
        var list = new List<byte[]>();
        var buffer = new byte[max];
        var lastSeen = false;
        while (p.TryNext(buffer, out var n, out var last))
        {
            Assert.False(lastSeen, "nothing after the payload marked last");
            Assert.InRange(n, 1, max);
            list.Add(buffer[..n]);
            lastSeen = last;
        }
        Assert.True(list.Count == 0 || lastSeen, "the final payload is marked last");
        return list;
    }

    private static byte[] Nal(int length, byte header = 0x65)
    {
        var nal = new byte[length];
        nal[0] = header;
        for (var i = 1; i < length; i++) nal[i] = (byte)(i * 7);
        return nal;
    }

    /// <summary>Undoes FU-A: the NAL unit the receiver rebuilds from the payloads.</summary>
    private static byte[] Reassemble(List<byte[]> payloads)
    {
        if (payloads.Count == 1 && (payloads[0][0] & 0x1F) != 28) return payloads[0];
        var fuHeader = payloads[0][1];
        Assert.True((fuHeader & 0x80) != 0, "S on the first fragment");
        Assert.True((payloads[^1][1] & 0x40) != 0, "E on the last fragment");
        var nal = new List<byte> { (byte)((payloads[0][0] & 0xE0) | (fuHeader & 0x1F)) };
        for (var i = 0; i < payloads.Count; i++)
        {
            Assert.Equal(28, payloads[i][0] & 0x1F);
            if (i > 0) Assert.Equal(0, payloads[i][1] & 0x80);
            if (i < payloads.Count - 1) Assert.Equal(0, payloads[i][1] & 0x40);
            nal.AddRange(payloads[i][2..]);
        }
        return [.. nal];
    }

    [Fact]
    public void NalThatFits_IsOneSingleNalUnitPacket()
    {
        var nal = Nal(1000);
        var payloads = All(H264Packetizer.ForNal(nal, 1188), 1188);
        Assert.Single(payloads);
        Assert.Equal(nal, payloads[0]);
    }

    [Fact]
    public void LargeNal_IsCutIntoFuAFragmentsThatReassembleAtEveryMtu()
    {
        var nal = Nal(5000, 0x45); // NRI 2, IDR
        var payloads = All(H264Packetizer.ForNal(nal, 1188), 1188);
        Assert.Equal(5, payloads.Count);
        Assert.All(payloads, p => Assert.Equal(0x40 | 28, p[0]));
        Assert.Equal(nal, Reassemble(payloads));
        for (var max = 3; max <= 320; max++)
        {
            Assert.Equal(nal[..1000], Reassemble(All(H264Packetizer.ForNal(nal[..1000], max), max)));
        }
    }

    [Fact]
    public void CameraFuAFragment_IsReFragmentedKeepingStartAndEndOnTheOuterPieces()
    {
        var body = Nal(1400)[1..];
        byte[] Fragment(bool s, bool e) => [0x7C, (byte)((s ? 0x80 : 0) | (e ? 0x40 : 0) | 5), .. body];
        var first = All(H264Packetizer.ForRtpPayload(Fragment(true, false), 500), 500);
        Assert.Equal(3, first.Count);
        Assert.Equal(0x85, first[0][1]);
        Assert.Equal(0x05, first[1][1]);
        Assert.Equal(0x05, first[2][1]);
        var middle = All(H264Packetizer.ForRtpPayload(Fragment(false, false), 500), 500);
        Assert.All(middle, p => Assert.Equal(0x05, p[1]));
        var end = All(H264Packetizer.ForRtpPayload(Fragment(false, true), 500), 500);
        Assert.Equal(0x45, end[^1][1]);
        Assert.Equal(0x05, end[0][1]);
        Assert.Equal(body, first.Concat(middle).Take(3).SelectMany(p => p[2..]).ToArray());
    }

    [Fact]
    public void StapA_IsSplitIntoItsNalUnits()
    {
        var sps = Hex("6742c01fda0280bfe5c0440000030004000003009c3c60c920");
        var pps = Hex("68ce3c80");
        byte[] stap = [0x78, 0, (byte)sps.Length, .. sps, 0, (byte)pps.Length, .. pps];
        var payloads = All(H264Packetizer.ForRtpPayload(stap, 1188), 1188);
        Assert.Equal(2, payloads.Count);
        Assert.Equal(sps, payloads[0]);
        Assert.Equal(pps, payloads[1]);
        var cut = All(H264Packetizer.ForRtpPayload(stap[..10], 1188), 1188); // size says 25, 7 bytes there
        Assert.Empty(cut);
    }

    [Fact]
    public void MutatedOrRandomPayloads_NeverThrowNorExceedTheMtu()
    {
        var seeds = new[] { Nal(3000), Hex("7c85aabbccdd"), Hex("7800046742c01f000268ce") };
        var random = new Random(6184);
        var buffer = new byte[300];
        for (var c = 0; c < 5000; c++)
        {
            var bytes = MutatedOrRandom(c, random, seeds, 2000);
            var p = H264Packetizer.ForRtpPayload(bytes, 300);
            var guard = 0;
            while (p.TryNext(buffer, out var n, out _))
            {
                Assert.InRange(n, 1, 300);
                Assert.True(++guard < 100, $"case {c}: no progress");
            }
        }
    }

    [Fact]
    public void AnnexB_SplitsOnThreeAndFourByteStartCodes()
    {
        var stream = Hex("00000001 6742 000001 68ce 0000000165 8888 00 000001 41 9a");
        var nals = new List<byte[]>();
        var s = (ReadOnlySpan<byte>)stream;
        while (AnnexB.TryReadNal(ref s, out var nal)) nals.Add(nal.ToArray());
        Assert.Equal(4, nals.Count);
        Assert.Equal(Hex("6742"), nals[0]);
        Assert.Equal(Hex("68ce"), nals[1]);
        Assert.Equal(Hex("658888"), nals[2]);
        Assert.Equal(Hex("419a"), nals[3]);
    }

    [Fact]
    public void AnnexB_TheDemoAssetStartsWithParameterSetsAndAnIdr()
    {
        var path = Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "..", "..", "assets", "demo-640x360-25fps.h264");
        var bytes = File.ReadAllBytes(path);
        var s = (ReadOnlySpan<byte>)bytes;
        var types = new List<int>();
        while (types.Count < 8 && AnnexB.TryReadNal(ref s, out var nal)) types.Add(nal[0] & 0x1F);
        Assert.Contains(7, types);
        Assert.Contains(8, types);
        Assert.Contains(5, types);
    }

    [Fact]
    public void StreamWriter_RewritesSsrcSequenceAndTimestampPerViewer()
    {
        var w = new RtpStreamWriter(0xCAFEBABE, 102, 90000, initialSequence: 65535, timestampBase: 1000);
        var h = new byte[12];
        Assert.Equal(65535, w.WriteHeader(h, false, 900_000, 100));
        Assert.Equal(Hex("8066ffff000003e8cafebabe"), h);
        Assert.Equal(0, w.WriteHeader(h, true, 903_600, 50));
        Assert.Equal(0x80 | 102, h[1]);
        Assert.Equal(1000u + 3600, BinaryPrimitives.ReadUInt32BigEndian(h.AsSpan(4)));
        Assert.Equal(2u, w.PacketCount);
        Assert.Equal(150u, w.OctetCount);
    }

    private sealed class Feedback : IRtcpFeedbackHandler
    {
        public readonly List<string> Events = [];
        public void OnNack(uint mediaSsrc, ushort sequence) => Events.Add($"nack {mediaSsrc:x} {sequence}");
        public void OnPli(uint mediaSsrc) => Events.Add($"pli {mediaSsrc:x}");
        public void OnFir(uint mediaSsrc, byte sequenceNumber) => Events.Add($"fir {mediaSsrc:x} {sequenceNumber}");
        public void OnReceiverReport(uint sourceSsrc, byte fractionLost, int cumulativeLost, uint jitter) => Events.Add($"rr {sourceSsrc:x} {fractionLost} {cumulativeLost} {jitter}");
    }

    // A Chromium-like compound: RR with one block, generic NACK (PID 100, BLP 0b101), PLI, FIR.
    private static readonly byte[] Compound = Hex("""
        81c90007 00000001 cafebabe 05fffffe 00001234 00000010 00000000 00000000
        81cd0003 00000001 cafebabe 00640005
        81ce0002 00000001 cafebabe
        84ce0004 00000001 00000000 cafebabe 07000000
        """);

    [Fact]
    public void BrowserCompoundRtcp_ReportsNackExpandedPliFirAndReceiverReport()
    {
        var f = new Feedback();
        Assert.True(RtcpFeedbackParser.TryParse(Compound, f, out var error), error.ToString());
        Assert.Equal(["rr cafebabe 5 -2 16", "nack cafebabe 100", "nack cafebabe 101", "nack cafebabe 103", "pli cafebabe", "fir cafebabe 7"], f.Events);
    }

    [Fact]
    public void EveryPrefixAndMutationOfACompound_NeverThrows()
    {
        for (var n = 0; n < Compound.Length; n++)
        {
            var ok = RtcpFeedbackParser.TryParse(Compound.AsSpan(0, n), new Feedback(), out var error);
            Assert.True(ok == (error == RtcpError.None), $"prefix {n}");
            if (n % 4 != 0 || n < 4) Assert.False(ok, $"prefix {n}");
        }
        var random = new Random(4585);
        for (var c = 0; c < 5000; c++) RtcpFeedbackParser.TryParse(MutatedOrRandom(c, random, [Compound], 100), new Feedback(), out _);
    }

    [Fact]
    public void SenderReport_IsACompoundWithSdesCnameThatParsesBack()
    {
        var buffer = new byte[128];
        var ntp = RtcpWriter.NtpTimestamp(DateTimeOffset.FromUnixTimeSeconds(0));
        Assert.Equal(2208988800UL << 32, ntp);
        var n = RtcpWriter.WriteSenderReport(buffer, 0xCAFEBABE, ntp, 1234, 10, 5000, "hikshare"u8);
        Assert.Equal(0, n % 4);
        Assert.Equal(28 + 4 + 16, n);
        Assert.True(RtcpFeedbackParser.TryParse(buffer.AsSpan(0, n), new Feedback(), out _));
        Assert.Equal(Hex("80c80006cafebabe"), buffer[..8]);
        Assert.Equal(Hex("81ca0004cafebabe0108"), buffer[28..38]);
    }

    [Fact]
    public void PacketHistory_ReturnsWhatWasSentUntilTheRingOverwritesIt()
    {
        var history = new PacketHistory(capacity: 8, slotSize: 64);
        for (ushort s = 65530; s != 4; s++) history.Store(s, [(byte)s, 1, 2]);
        Assert.True(history.TryGet(65535, out var p));
        Assert.Equal([255, 1, 2], p.ToArray());
        Assert.True(history.TryGet(3, out _));
        Assert.False(history.TryGet(65530, out _)); // overwritten by sequence 2
        Assert.False(history.TryGet(4, out _));
        history.Store(5, new byte[65]); // larger than a slot: not kept
        Assert.False(history.TryGet(5, out _));
    }
}
