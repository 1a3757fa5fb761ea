using HikShareGateway.WebRtc.Rtp;

namespace HikShareGateway.WebRtc.Tests.Rtp;

/// <summary>RFC 7798 packetization: what a receiver rebuilds from our payloads is exactly the NAL units we were given.</summary>
[Trait("Category", "Unit")]
public sealed class H265PacketizerTests
{
    // NAL unit headers (F=0, LayerId=0, TID=1): IDR_W_RADL (19), VPS (32), SPS (33), PPS (34), TRAIL_R (1).
    private const byte Idr = 19 << 1, Vps = 32 << 1, Sps = 33 << 1, Pps = 34 << 1, Trail = 1 << 1;

    private static byte[] Nal(int length, byte type0, byte header1 = 0x01)
    {
        var nal = new byte[length];
        nal[0] = type0;
        nal[1] = header1;
        for (var i = 2; i < length; i++) nal[i] = (byte)(i * 13);
        return nal;
    }

    private static List<byte[]> All(H265Packetizer p, int max)
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

    /// <summary>A receiver of RFC 7798 without DONL: single NAL units as they are, FUs joined (S first, E last).</summary>
    private static List<byte[]> Depacketize(List<byte[]> payloads)
    {
        var nals = new List<byte[]>();
        List<byte>? fu = null;
        foreach (var p in payloads)
        {
            var type = H265Packetizer.TypeOf(p[0]);
            Assert.NotEqual(H265Packetizer.Ap, type); // we never aggregate
            if (type != H265Packetizer.Fu)
            {
                Assert.Null(fu);
                nals.Add(p);
                continue;
            }
            Assert.True(p.Length > 3, "an FU carries payload");
            var start = (p[2] & 0x80) != 0;
            var end = (p[2] & 0x40) != 0;
            Assert.False(start && end, "S and E never on one FU (§4.4.3)");
            Assert.NotEqual(H265Packetizer.Fu, p[2] & 0x3F);
            if (start)
            {
                Assert.Null(fu);
                fu = [(byte)((p[0] & 0x81) | ((p[2] & 0x3F) << 1)), p[1]];
            }
            Assert.NotNull(fu);
            fu.AddRange(p[3..]);
            if (end)
            {
                nals.Add([.. fu]);
                fu = null;
            }
        }
        Assert.Null(fu);
        return nals;
    }

    private static byte[] Ap(params byte[][] nals)
    {
        var ap = new List<byte> { H265Packetizer.Ap << 1, 0x01 };
        foreach (var n in nals)
        {
            ap.Add((byte)(n.Length >> 8));
            ap.Add((byte)n.Length);
            ap.AddRange(n);
        }
        return [.. ap];
    }

    [Fact]
    public void NalThatFits_IsOneSingleNalUnitPacket()
    {
        var nal = Nal(1000, Trail);
        var payloads = All(H265Packetizer.ForNal(nal, 1188), 1188);
        Assert.Equal(nal, Assert.Single(payloads));
    }

    [Theory]
    [InlineData(1189, 1188)]
    [InlineData(50_000, 1188)]
    [InlineData(10, 4)] // the smallest MTU: one byte of NAL per FU
    public void LargerNal_IsFragmentedIntoFusNoneLargerThanTheMtu_ThatRebuildTheNal(int length, int max)
    {
        var nal = Nal(length, Idr, 0x03); // LayerId 0, TID 3: kept in every FU's payload header
        var payloads = All(H265Packetizer.ForNal(nal, max), max);
        Assert.True(payloads.Count > 1);
        Assert.All(payloads, p => Assert.Equal(0x03, p[1]));
        Assert.All(payloads, p => Assert.Equal(19, p[2] & 0x3F)); // the FU header carries the NAL type (IDR_W_RADL)
        Assert.Equal(nal, Assert.Single(Depacketize(payloads)));
    }

    [Fact]
    public void CameraAp_IsSplitIntoItsNalUnits_LastOneMarkedLast()
    {
        var vps = Nal(24, Vps);
        var sps = Nal(40, Sps);
        var pps = Nal(8, Pps);
        var payloads = All(H265Packetizer.ForRtpPayload(Ap(vps, sps, pps), 1188), 1188);
        Assert.Equal([vps, sps, pps], payloads);
    }

    [Fact]
    public void CameraAp_WithAUnitLargerThanOurMtu_FragmentsThatUnitOnly()
    {
        var vps = Nal(24, Vps);
        var big = Nal(600, Sps);
        var pps = Nal(8, Pps);
        var payloads = All(H265Packetizer.ForRtpPayload(Ap(vps, big, pps), 200), 200);
        Assert.Equal([vps, big, pps], Depacketize(payloads));
        Assert.Equal(pps, payloads[^1]);
    }

    [Fact]
    public void CameraFus_AreRecutToOurMtu_KeepingStartOnTheFirstAndEndOnTheLastPiece()
    {
        // A 5000-byte IDR slice as a camera sends it: FUs of 1400 bytes of data.
        var nal = Nal(5000, Idr, 0x01);
        var camera = All(H265Packetizer.ForNal(nal, 1403), 1403);
        Assert.True(camera.Count >= 4);
        var ours = new List<byte[]>();
        var lastOfInput = new List<bool>();
        foreach (var fu in camera)
        {
            var p = H265Packetizer.ForRtpPayload(fu, 500);
            var buffer = new byte[500];
            while (p.TryNext(buffer, out var n, out var last))
            {
                ours.Add(buffer[..n]);
                lastOfInput.Add(last);
            }
            Assert.True(lastOfInput[^1]);
        }
        Assert.All(ours, p => Assert.InRange(p.Length, 4, 500));
        Assert.Equal(1, ours.Count(p => (p[2] & 0x80) != 0));
        Assert.Equal(1, ours.Count(p => (p[2] & 0x40) != 0));
        Assert.Equal(nal, Assert.Single(Depacketize(ours)));
    }

    [Fact]
    public void CameraSingleNal_LargerThanOurMtu_IsFragmented()
    {
        var nal = Nal(1400, Trail);
        var payloads = All(H265Packetizer.ForRtpPayload(nal, 1188), 1188);
        Assert.Equal(2, payloads.Count);
        Assert.Equal(nal, Assert.Single(Depacketize(payloads)));
    }

    [Theory]
    [InlineData(new byte[] { })]
    [InlineData(new byte[] { 0x02 })]                               // one byte: no NAL header
    [InlineData(new byte[] { H265Packetizer.Paci << 1, 0x01, 0, 0 })] // PACI: not passed
    [InlineData(new byte[] { 52 << 1, 0x01, 1, 2, 3 })]             // reserved type
    [InlineData(new byte[] { H265Packetizer.Fu << 1, 0x01 })]       // FU without its FU header
    [InlineData(new byte[] { H265Packetizer.Ap << 1, 0x01, 0x00, 0x01, 0x02 })] // AP unit of one byte: no header
    [InlineData(new byte[] { H265Packetizer.Ap << 1, 0x01, 0x00, 0x09, 0x02, 0x01 })] // AP unit longer than the packet
    public void MalformedOrUnsupportedPayloads_YieldNothing(byte[] payload)
    {
        Assert.Empty(All(H265Packetizer.ForRtpPayload(payload, 1188), 1188));
    }

    [Fact]
    public void EveryPrefixOfAnAp_YieldsOnlyTheWholeUnitsItHolds_AndNeverThrows()
    {
        var units = new[] { Nal(24, Vps), Nal(40, Sps), Nal(8, Pps), Nal(300, Idr) };
        var ap = Ap(units);
        var ends = new List<int>();
        var offset = 2;
        foreach (var u in units)
        {
            offset += 2 + u.Length;
            ends.Add(offset);
        }
        for (var length = 0; length <= ap.Length; length++)
        {
            var prefix = ap.AsSpan(0, length).ToArray();
            var whole = ends.Count(e => e <= length);
            var got = Depacketize(All(H265Packetizer.ForRtpPayload(prefix, 100), 100));
            Assert.Equal(units.Take(whole), got);
        }
    }

    [Fact]
    public void EveryPrefixOfAnFu_IsAFragmentOfThatLength_AndNeverThrows()
    {
        var fu = All(H265Packetizer.ForNal(Nal(3000, Idr), 1200), 1200)[0];
        for (var length = 0; length <= fu.Length; length++)
        {
            var got = All(H265Packetizer.ForRtpPayload(fu.AsSpan(0, length), 1188), 1188);
            if (length < 3) Assert.Empty(got);
            else Assert.Equal(Math.Max(length - 3, 0), got.Sum(p => p.Length - 3));
        }
    }

    [Fact]
    public void Packetizing_AllocatesNothing()
    {
        var nal = Nal(20_000, Idr);
        var buffer = new byte[1188];
        static int Run(ReadOnlySpan<byte> nal, byte[] buffer)
        {
            var total = 0;
            var p = H265Packetizer.ForNal(nal, 1188);
            while (p.TryNext(buffer, out var n, out _)) total += n;
            return total;
        }
        Run(nal, buffer);
        var before = GC.GetAllocatedBytesForCurrentThread();
        var sum = 0;
        for (var i = 0; i < 100; i++) sum += Run(nal, buffer);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.True(sum > 100 * 20_000);
    }
}
