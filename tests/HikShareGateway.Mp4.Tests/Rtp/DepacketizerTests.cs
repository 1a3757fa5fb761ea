using HikShareGateway.Mp4.Rtp;
using HikShareGateway.Mp4.Tests.Infrastructure;

namespace HikShareGateway.Mp4.Tests.Rtp;

[Trait("Category", "Unit")]
public sealed class DepacketizerTests
{
    public static TheoryData<bool> Codecs => new() { false, true };

    [Theory]
    [MemberData(nameof(Codecs))]
    public void RoundTrip_SingleAggregatedAndFragmented_GivesBackTheSameNalUnits(bool h265)
    {
        List<TestAccessUnit> units = Stream(h265, seed: 1, count: 12);
        List<TestPacket> packets = new TestPacketizer(h265, mtu: 500).Packetize(units);
        Assert.Contains(packets, p => IsAggregation(h265, p.Bytes));
        Assert.Contains(packets, p => IsFragment(h265, p.Bytes));

        List<ReceivedAccessUnit> received = Depacketize(h265, packets.Select(p => p.Bytes));

        Assert.Equal(units.Count, received.Count);
        for (int i = 0; i < units.Count; i++)
        {
            Assert.False(received[i].IsDamaged);
            Assert.Equal(units[i].Timestamp, received[i].Timestamp);
            Assert.Equal(units[i].Nals, received[i].Nals);
            Assert.Equal(i % 5 == 0, received[i].IsKeyframe);
        }
    }

    [Theory]
    [MemberData(nameof(Codecs))]
    public void EveryLossPattern_OfASmallStream_DamagesOnlyTheAffectedUnitsAndNeverInventsData(bool h265)
    {
        // 4 access units in 16 packets (single NALs, an aggregation, fragments): every subset of them is
        // dropped except the very first packet (nothing can tell a loss before the first packet seen).
        List<TestAccessUnit> units = Stream(h265, seed: 2, count: 4, nalSizes: [5, 6, 300, 40]);
        List<TestPacket> packets = new TestPacketizer(h265, mtu: 260).Packetize(units);
        Assert.Equal(16, packets.Count);

        for (int lost = 0; lost < (1 << packets.Count); lost += 2)
        {
            var sent = new List<byte[]>();
            var unitTouched = new bool[units.Count];
            for (int i = 0; i < packets.Count; i++)
            {
                if ((lost & (1 << i)) == 0)
                {
                    sent.Add(packets[i].Bytes);
                }
                else
                {
                    unitTouched[packets[i].AccessUnit] = true;

                    // A loss just before a unit may have been its first packets: that unit is damaged too.
                    int next = packets[i].AccessUnit + 1;
                    if (next < units.Count && (i + 1 == packets.Count || packets[i + 1].AccessUnit == next))
                    {
                        unitTouched[next] = true;
                    }
                }
            }

            List<ReceivedAccessUnit> received = Depacketize(h265, sent);

            foreach (ReceivedAccessUnit unit in received)
            {
                int index = units.FindIndex(u => u.Timestamp == unit.Timestamp);
                Assert.True(index >= 0, $"loss {lost:x}: an access unit with an unknown timestamp");
                if (unit.IsDamaged)
                {
                    AssertSubsequence(units[index].Nals, unit.Nals, lost);
                }
                else
                {
                    Assert.Equal(units[index].Nals, unit.Nals);
                }
            }

            for (int u = 0; u < units.Count; u++)
            {
                if (!unitTouched[u])
                {
                    Assert.Contains(received, r => r.Timestamp == units[u].Timestamp && !r.IsDamaged);
                }
                else
                {
                    Assert.DoesNotContain(received, r => r.Timestamp == units[u].Timestamp && !r.IsDamaged && (lost & PacketsOf(packets, u)) != 0);
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(Codecs))]
    public void LostMarkerPacket_NextTimestampClosesTheUnitAsDamaged(bool h265)
    {
        List<TestAccessUnit> units = Stream(h265, seed: 3, count: 2, nalSizes: [100, 100]);
        var packetizer = new TestPacketizer(h265, mtu: 1200, aggregate: false);
        List<TestPacket> packets = packetizer.Packetize(units);

        // Same packets, but the first unit's marker bit cleared (a middlebox that lost it, no sequence gap).
        packets[1].Bytes[1] &= 0x7F;
        List<ReceivedAccessUnit> received = Depacketize(h265, packets.Select(p => p.Bytes));

        Assert.Equal(2, received.Count);
        Assert.True(received[0].IsDamaged);
        Assert.Equal(units[0].Nals, received[0].Nals);
        Assert.False(received[1].IsDamaged);
    }

    [Theory]
    [MemberData(nameof(Codecs))]
    public void PictureWhoseOnlyNalUnitLostAFragment_IsHandedOnEmptyAndDamaged(bool h265)
    {
        // The frames after a picture that vanished reference it: the consumer must hear that it is gone.
        List<TestAccessUnit> units = Stream(h265, seed: 9, count: 3, nalSizes: [3000]);
        List<TestPacket> packets = new TestPacketizer(h265, mtu: 1000).Packetize(units);
        int middleOfSecond = packets.FindIndex(p => p.AccessUnit == 1) + 1;

        List<ReceivedAccessUnit> received = Depacketize(h265, packets.Where((_, i) => i != middleOfSecond).Select(p => p.Bytes));

        Assert.Equal(3, received.Count);
        Assert.Equal(units[1].Timestamp, received[1].Timestamp);
        Assert.True(received[1].IsDamaged);
        Assert.Empty(received[1].Nals);
        Assert.False(received[2].IsDamaged);
    }

    [Theory]
    [MemberData(nameof(Codecs))]
    public void DuplicateOrLatePacket_IsIgnored(bool h265)
    {
        List<TestAccessUnit> units = Stream(h265, seed: 4, count: 3);
        List<byte[]> packets = new TestPacketizer(h265).Packetize(units).Select(p => p.Bytes).ToList();
        var withDuplicates = new List<byte[]>();
        foreach (byte[] packet in packets)
        {
            withDuplicates.Add(packet);
            withDuplicates.Add(packet);
        }

        NalDepacketizer depacketizer = Create(h265);
        var sink = new CollectingSink();
        foreach (byte[] packet in withDuplicates)
        {
            depacketizer.Push(packet, ref sink);
        }

        Assert.Equal(units.Select(u => u.Nals), sink.Units.Select(u => u.Nals));
        Assert.All(sink.Units, u => Assert.False(u.IsDamaged));
        Assert.Equal(packets.Count, depacketizer.LatePackets);
    }

    [Theory]
    [MemberData(nameof(Codecs))]
    public void AccessUnitOverTheBound_DropsTheNalUnitsThatDoNotFitAndFlagsIt(bool h265)
    {
        List<TestAccessUnit> units = Stream(h265, seed: 5, count: 2, nalSizes: [600, 3000]);
        List<TestPacket> packets = new TestPacketizer(h265, mtu: 1000).Packetize(units);

        NalDepacketizer depacketizer = h265 ? new H265Depacketizer(maxAccessUnitBytes: 2048) : new H264Depacketizer(maxAccessUnitBytes: 2048);
        var sink = new CollectingSink();
        foreach (TestPacket packet in packets)
        {
            depacketizer.Push(packet.Bytes, ref sink);
        }

        Assert.Equal(2, sink.Units.Count);
        Assert.All(sink.Units, u => Assert.True(u.IsDamaged));
        Assert.All(sink.Units, u => Assert.Equal(600, Assert.Single(u.Nals).Length));
    }

    [Fact]
    public void H264_ParameterSets_AreKeptAndCountedOnlyWhenTheyChange()
    {
        var depacketizer = new H264Depacketizer();
        var sink = new CollectingSink();
        var packetizer = new TestPacketizer(h265: false);
        byte[] sps = [0x67, 0x42, 0xC0, 0x1E, 0xD9];
        byte[] pps = [0x68, 0xCE, 0x3C, 0x80];
        byte[] idr = [0x65, 0x88, 0x84, 0x00];
        foreach (TestPacket packet in packetizer.Packetize([new(0, [sps, pps, idr]), new(3600, [sps, pps, idr])]))
        {
            depacketizer.Push(packet.Bytes, ref sink);
        }

        Assert.Equal(sps, depacketizer.Sps.Span.ToArray());
        Assert.Equal(pps, depacketizer.Pps.Span.ToArray());
        Assert.Equal(2, depacketizer.ParameterSetsVersion);
        Assert.All(sink.Units, u => Assert.True(u.IsKeyframe));
    }

    [Fact]
    public void H265_ParameterSetsAndIrap_AreRecognised()
    {
        var depacketizer = new H265Depacketizer();
        var sink = new CollectingSink();
        byte[] vps = [0x40, 0x01, 0x0C];
        byte[] sps = [0x42, 0x01, 0x01];
        byte[] pps = [0x44, 0x01, 0xC1];
        byte[] cra = [21 << 1, 0x01, 0xAF];
        byte[] trail = [0x02, 0x01, 0xD0];
        foreach (TestPacket packet in new TestPacketizer(h265: true).Packetize([new(0, [vps, sps, pps, cra]), new(3600, [trail])]))
        {
            depacketizer.Push(packet.Bytes, ref sink);
        }

        Assert.Equal(vps, depacketizer.Vps.Span.ToArray());
        Assert.Equal(sps, depacketizer.Sps.Span.ToArray());
        Assert.Equal(pps, depacketizer.Pps.Span.ToArray());
        Assert.Equal(3, depacketizer.ParameterSetsVersion);
        Assert.Equal([true, false], sink.Units.Select(u => u.IsKeyframe));
    }

    [Theory]
    [MemberData(nameof(Codecs))]
    public void RandomAndMutatedPackets_NeverThrowAndStayBounded(bool h265)
    {
        var random = new Random(1234);
        List<byte[]> valid = new TestPacketizer(h265, mtu: 300).Packetize(Stream(h265, seed: 6, count: 10)).Select(p => p.Bytes).ToList();
        NalDepacketizer depacketizer = h265 ? new H265Depacketizer(maxAccessUnitBytes: 8192) : new H264Depacketizer(maxAccessUnitBytes: 8192);
        var sink = new BoundedSink();
        for (int i = 0; i < 20_000; i++)
        {
            byte[] packet;
            if (i % 3 == 0)
            {
                packet = new byte[random.Next(0, 1500)];
                random.NextBytes(packet);
            }
            else
            {
                packet = (byte[])valid[random.Next(valid.Count)].Clone();
                int flips = random.Next(1, 6);
                for (int f = 0; f < flips && packet.Length > 0; f++)
                {
                    packet[random.Next(packet.Length)] ^= (byte)(1 << random.Next(8));
                }

                if (random.Next(4) == 0)
                {
                    packet = packet[..random.Next(packet.Length + 1)];
                }
            }

            depacketizer.Push(packet, ref sink);
        }

        Assert.True(sink.Count > 0);
        Assert.InRange(sink.LargestUnit, 1, 8192);
    }

    internal static List<ReceivedAccessUnit> Depacketize(bool h265, IEnumerable<byte[]> packets)
    {
        using NalDepacketizer depacketizer = Create(h265);
        var sink = new CollectingSink();
        foreach (byte[] packet in packets)
        {
            depacketizer.Push(packet, ref sink);
        }

        return sink.Units;
    }

    private static NalDepacketizer Create(bool h265) => h265 ? new H265Depacketizer() : new H264Depacketizer();

    /// <summary>Access units of made-up NAL units: every fifth starts with a keyframe NAL.</summary>
    private static List<TestAccessUnit> Stream(bool h265, int seed, int count, int[]? nalSizes = null)
    {
        var random = new Random(seed);
        var units = new List<TestAccessUnit>();
        for (int u = 0; u < count; u++)
        {
            int[] sizes = nalSizes ?? [random.Next(3, 30), random.Next(3, 30), random.Next(2, 3000), random.Next(2, 800)];
            var nals = new List<byte[]>();
            for (int n = 0; n < sizes.Length; n++)
            {
                var nal = new byte[Math.Max(sizes[n], 3)];
                random.NextBytes(nal);
                bool key = u % 5 == 0 && n == sizes.Length - 1;
                if (h265)
                {
                    int type = key ? 19 : (n == sizes.Length - 1 ? 1 : 39); // IDR_W_RADL, TRAIL_R, prefix SEI
                    nal[0] = (byte)(type << 1);
                    nal[1] = 0x01;
                }
                else
                {
                    nal[0] = (byte)(0x60 | (key ? 5 : (n == sizes.Length - 1 ? 1 : 6)));
                }

                nals.Add(nal);
            }

            units.Add(new TestAccessUnit((uint)(4_294_960_000 + (u * 3600)), nals));
        }

        return units;
    }

    private static bool IsAggregation(bool h265, byte[] rtp) => h265 ? ((rtp[12] >> 1) & 0x3F) == 48 : (rtp[12] & 0x1F) == 24;

    private static bool IsFragment(bool h265, byte[] rtp) => h265 ? ((rtp[12] >> 1) & 0x3F) == 49 : (rtp[12] & 0x1F) == 28;

    private static int PacketsOf(List<TestPacket> packets, int unit)
    {
        int mask = 0;
        for (int i = 0; i < packets.Count; i++)
        {
            mask |= packets[i].AccessUnit == unit ? 1 << i : 0;
        }

        return mask;
    }

    private static void AssertSubsequence(IReadOnlyList<byte[]> original, List<byte[]> got, int lost)
    {
        int o = 0;
        foreach (byte[] nal in got)
        {
            while (o < original.Count && !original[o].AsSpan().SequenceEqual(nal))
            {
                o++;
            }

            Assert.True(o < original.Count, $"loss {lost:x}: a NAL unit that was never sent");
            o++;
        }
    }

    private struct BoundedSink : IAccessUnitSink
    {
        public int Count;
        public int LargestUnit;

        public void OnAccessUnit(in AccessUnit accessUnit)
        {
            Count++;
            LargestUnit = Math.Max(LargestUnit, accessUnit.Data.Length);
            _ = CollectingSink.SplitLengthPrefixed(accessUnit.Data);
        }
    }
}
