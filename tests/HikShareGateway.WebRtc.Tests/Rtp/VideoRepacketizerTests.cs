using HikShareGateway.WebRtc.Rtp;
using static HikShareGateway.WebRtc.Tests.Infrastructure.TestBytes;

namespace HikShareGateway.WebRtc.Tests.Rtp;

[Trait("Category", "Unit")]
public sealed class VideoRepacketizerTests
{
    private const int Max = 1188; // RtpMtu 1200 less the 12-byte header

    private sealed class Collect(int max) : IRepacketizerTarget
    {
        private readonly byte[] _buffer = new byte[max];
        public List<(byte[] Payload, bool Marker)> Out { get; } = [];

        public Span<byte> BeginPayload() => _buffer;

        public void EndPayload(int length, bool marker)
        {
            Assert.InRange(length, 1, max);
            Out.Add((_buffer[..length], marker));
        }
    }

    private static byte[] Nal(int length, byte header0, byte header1 = 0x01)
    {
        var nal = new byte[length];
        nal[0] = header0;
        var from = 1;
        if (header1 != 0) { nal[1] = header1; from = 2; }
        for (var i = from; i < length; i++) nal[i] = (byte)(i * 7 + 3);
        return nal;
    }

    private static byte[] H264Nal(int length, byte header = 0x65) => Nal(length, header, 0);

    /// <summary>What a camera sends for one NAL unit: single when it fits its limit, else FU-A / FU fragments of that limit.</summary>
    private static List<byte[]> CameraPackets(byte[] nal, bool h265, int cameraMax)
    {
        var list = new List<byte[]>();
        var buffer = new byte[cameraMax];
        if (h265)
        {
            var p = H265Packetizer.ForNal(nal, cameraMax);
            while (p.TryNext(buffer, out var n, out _)) list.Add(buffer[..n]);
        }
        else
        {
            var p = H264Packetizer.ForNal(nal, cameraMax);
            while (p.TryNext(buffer, out var n, out _)) list.Add(buffer[..n]);
        }
        return list;
    }

    private static List<(byte[] Payload, bool Marker)> Repacketize(bool h265, IEnumerable<byte[]> camera, bool markerOnLast = true, ushort firstSequence = 100)
    {
        var target = new Collect(Max);
        var r = new VideoRepacketizer(h265, Max);
        var packets = camera.ToList();
        for (var i = 0; i < packets.Count; i++)
        {
            r.Push(packets[i], (ushort)(firstSequence + i), markerOnLast && i == packets.Count - 1, target);
        }
        return target.Out;
    }

    /// <summary>The NAL units a receiver rebuilds (RFC 6184 §5.8 / RFC 7798 §4.4.3), asserting S and E are where they belong.</summary>
    private static List<byte[]> Depacketize(bool h265, List<(byte[] Payload, bool Marker)> payloads)
    {
        var nals = new List<byte[]>();
        List<byte>? current = null;
        var fuType = h265 ? FragmentationUnit.H265Fu : FragmentationUnit.H264FuA;
        var fuHeader = FragmentationUnit.HeaderLength(h265);
        foreach (var (p, _) in payloads)
        {
            if (FragmentationUnit.TypeOf(h265, p[0]) != fuType)
            {
                Assert.Null(current);
                nals.Add(p);
                continue;
            }
            FragmentationUnit.ReadNalHeader(p, h265, out var n0, out var n1, out var start, out var end);
            Assert.False(start && end, "S and E never on one fragment");
            if (start)
            {
                Assert.Null(current);
                current = h265 ? [n0, n1] : [n0];
            }
            Assert.NotNull(current);
            current.AddRange(p[fuHeader..]);
            if (end)
            {
                nals.Add([.. current]);
                current = null;
            }
        }
        Assert.Null(current);
        return nals;
    }

    [Fact]
    public void CameraFuAFragmentsOf1400Bytes_AreRecutPerNalUnit_FullPiecesAndOneShortLast()
    {
        var nal = H264Nal(30_000);
        var camera = CameraPackets(nal, h265: false, 1400);
        var output = Repacketize(false, camera);

        var expected = (int)Math.Ceiling((nal.Length - 1) / (double)(Max - 2));
        Assert.Equal(expected, output.Count);
        Assert.All(output.SkipLast(1), o => Assert.Equal(Max, o.Payload.Length));
        Assert.Equal([nal], Depacketize(false, output));
        Assert.Equal([.. Enumerable.Repeat(false, output.Count - 1), true], output.Select(o => o.Marker));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AGroupOfPictures_FromA1400ByteCamera_IsAbout1Point2PacketsPerCameraPacket_WherePerFragmentRecuttingWas2(bool h265)
    {
        // An IDR of 60 kB and 24 P-frames of 8–20 kB, each one NAL unit, as a 4 Mbit/s camera sends them.
        var random = new Random(12);
        var nals = new List<byte[]> { h265 ? Nal(60_000, 19 << 1) : H264Nal(60_000) };
        for (var i = 0; i < 24; i++) nals.Add(h265 ? Nal(random.Next(8_000, 20_000), 1 << 1) : H264Nal(random.Next(8_000, 20_000), 0x41));
        var camera = nals.SelectMany(n => CameraPackets(n, h265, 1400)).ToList();

        var perStream = Repacketize(h265, camera);
        var perFragment = 0;
        var buffer = new byte[Max];
        foreach (var c in camera)
        {
            if (h265) { var p = H265Packetizer.ForRtpPayload(c, Max); while (p.TryNext(buffer, out _, out _)) perFragment++; }
            else { var p = H264Packetizer.ForRtpPayload(c, Max); while (p.TryNext(buffer, out _, out _)) perFragment++; }
        }

        Assert.Equal(nals, Depacketize(h265, perStream));
        Assert.InRange(perStream.Count / (double)camera.Count, 1.0, 1.2);
        Assert.True(perFragment >= 2 * camera.Count - nals.Count, $"the old per-fragment cut: {perFragment} for {camera.Count}");
    }

    [Fact]
    public void SmallCameraFragments_AreJoinedIntoFullPieces()
    {
        var nal = H264Nal(6_000);
        var camera = CameraPackets(nal, h265: false, 500); // 13 fragments
        var output = Repacketize(false, camera);
        Assert.Equal(6, output.Count);
        Assert.Equal([nal], Depacketize(false, output));
    }

    [Fact]
    public void PayloadsThatFit_PassUnchanged_StapAIncluded()
    {
        var sps = H264Nal(20, 0x67);
        var pps = H264Nal(6, 0x68);
        byte[] stap = [0x78, 0, (byte)sps.Length, .. sps, 0, (byte)pps.Length, .. pps];
        var slice = H264Nal(900, 0x41);
        var output = Repacketize(false, [stap, slice]);
        Assert.Equal(2, output.Count);
        Assert.Equal(stap, output[0].Payload);
        Assert.Equal(slice, output[1].Payload);
        Assert.Equal([false, true], output.Select(o => o.Marker));
    }

    [Fact]
    public void SingleNalLargerThanAPayload_GoesAsFragments()
    {
        var nal = H264Nal(5_000);
        var output = Repacketize(false, [nal]);
        Assert.Equal(5, output.Count);
        Assert.Equal([nal], Depacketize(false, output));
        Assert.True(output[^1].Marker);
    }

    [Fact]
    public void StapATooLargeForAPayload_IsSplitIntoItsNalUnits_MarkerOnTheLast()
    {
        var a = H264Nal(700, 0x67);
        var b = H264Nal(1_500, 0x65);
        byte[] stap = [0x78, (byte)(a.Length >> 8), (byte)a.Length, .. a, (byte)(b.Length >> 8), (byte)b.Length, .. b];
        var output = Repacketize(false, [stap]);
        Assert.Equal([a, b], Depacketize(false, output));
        Assert.Equal(3, output.Count);
        Assert.Equal([false, false, true], output.Select(o => o.Marker));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void FragmentedNalThatFitsOnePayload_GoesAsASingleNalUnitPacket(bool h265)
    {
        var nal = h265 ? Nal(900, 19 << 1) : H264Nal(900);
        var camera = CameraPackets(nal, h265, 400); // 3 fragments of a camera with a small MTU
        Assert.Equal(3, camera.Count);
        var output = Repacketize(h265, camera);
        Assert.Single(output);
        Assert.Equal(nal, output[0].Payload);
    }

    [Fact]
    public void ALostFragment_AbandonsItsNalUnit_WithoutAnEndPiece_AndTheNextNalUnitStartsClean()
    {
        var first = H264Nal(10_000);
        var second = H264Nal(3_000, 0x41);
        var camera = CameraPackets(first, false, 1400);
        camera.RemoveAt(3); // lost upstream: the sequence numbers jump
        var target = new Collect(Max);
        var r = new VideoRepacketizer(false, Max);
        ushort seq = 0;
        for (var i = 0; i < camera.Count; i++)
        {
            if (i == 3) seq++;
            r.Push(camera[i], seq++, false, target);
        }
        var beforeSecond = target.Out.Count;
        foreach (var c in CameraPackets(second, false, 1400)) r.Push(c, seq++, false, target);

        Assert.Equal(1, r.Abandoned);
        Assert.All(target.Out.Take(beforeSecond), o => Assert.Equal(0, o.Payload[1] & 0x40));
        FragmentationUnit.ReadNalHeader(target.Out[beforeSecond].Payload, false, out _, out _, out var start, out _);
        Assert.True(start);
        var rebuilt = new List<(byte[], bool)>(target.Out.Skip(beforeSecond));
        Assert.Equal([second], Depacketize(false, rebuilt));
    }

    [Fact]
    public void AFragmentWithoutItsStart_IsDropped()
    {
        var camera = CameraPackets(H264Nal(5_000), false, 1400);
        Assert.Empty(Repacketize(false, camera.Skip(1)));
    }

    [Theory]
    [InlineData(new byte[] { 0x19, 0x00 })]          // STAP-B
    [InlineData(new byte[] { 0x1D, 0x85, 0x01 })]    // FU-B
    [InlineData(new byte[] { 0x00, 0x01 })]          // type 0
    public void PayloadTypesBrowsersDoNotTake_AreDropped(byte[] payload) => Assert.Empty(Repacketize(false, [payload]));

    [Fact]
    public void H265Paci_IsDropped() => Assert.Empty(Repacketize(true, [[50 << 1, 0x01, 0x00, 0x00]]));

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void EveryPrefixAndMutationOfCameraPackets_NeverThrows_NorWritesMoreThanAPayload(bool h265)
    {
        var nal = h265 ? Nal(4_000, 19 << 1) : H264Nal(4_000);
        var camera = CameraPackets(nal, h265, 1400);
        var target = new Collect(Max); // asserts every length
        var r = new VideoRepacketizer(h265, Max);
        ushort seq = 0;
        foreach (var packet in camera)
        {
            for (var length = 0; length <= packet.Length; length++) r.Push(packet.AsSpan(0, length), seq++, length == packet.Length, target);
        }
        var random = new Random(7);
        for (var i = 0; i < 3_000; i++) r.Push(Mutate(random, camera[random.Next(camera.Count)]), (ushort)random.Next(0, 4), random.Next(2) == 0, target);
        Assert.NotEmpty(target.Out);
    }
}
