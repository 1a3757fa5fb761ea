using System.Buffers.Binary;
using HikShareGateway.Mp4.Rtp;

namespace HikShareGateway.Mp4.Tests.Infrastructure;

/// <summary>One access unit to send: its NAL units (no start codes, no lengths) and RTP timestamp.</summary>
public sealed record TestAccessUnit(uint Timestamp, IReadOnlyList<byte[]> Nals);

/// <summary>One packet the packetizer made, with the index of the access unit it belongs to.</summary>
public sealed record TestPacket(int AccessUnit, byte[] Bytes);

/// <summary>
/// A small RTP packetizer for tests (RFC 6184 / RFC 7798): NAL units that fit the MTU go alone or, when
/// <c>aggregate</c> is set, several small ones together in STAP-A / AP; larger ones are split into FU-A / FU.
/// The marker bit is set on the last packet of each access unit.
/// </summary>
public sealed class TestPacketizer(bool h265, int mtu = 1200, bool aggregate = true, ushort firstSequence = 65530)
{
    private ushort _sequence = firstSequence;

    public List<TestPacket> Packetize(IReadOnlyList<TestAccessUnit> units)
    {
        var packets = new List<TestPacket>();
        for (int u = 0; u < units.Count; u++)
        {
            var payloads = new List<byte[]>();
            IReadOnlyList<byte[]> nals = units[u].Nals;
            for (int i = 0; i < nals.Count; i++)
            {
                int headerBytes = h265 ? 2 : 1;
                if (aggregate && i + 1 < nals.Count && AggregateSize(nals[i], nals[i + 1], headerBytes) <= mtu)
                {
                    var group = new List<byte[]> { nals[i], nals[i + 1] };
                    i++;
                    while (i + 1 < nals.Count && group.Sum(n => n.Length + 2) + headerBytes + nals[i + 1].Length + 2 <= mtu)
                    {
                        group.Add(nals[++i]);
                    }

                    payloads.Add(Aggregation(group));
                }
                else if (nals[i].Length <= mtu)
                {
                    payloads.Add(nals[i]);
                }
                else
                {
                    payloads.AddRange(Fragments(nals[i]));
                }
            }

            for (int p = 0; p < payloads.Count; p++)
            {
                packets.Add(new TestPacket(u, Rtp(payloads[p], units[u].Timestamp, p == payloads.Count - 1)));
            }
        }

        return packets;
    }

    public byte[] Rtp(byte[] payload, uint timestamp, bool marker)
    {
        var packet = new byte[12 + payload.Length];
        packet[0] = 0x80;
        packet[1] = (byte)((marker ? 0x80 : 0) | 96);
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(2), _sequence++);
        BinaryPrimitives.WriteUInt32BigEndian(packet.AsSpan(4), timestamp);
        BinaryPrimitives.WriteUInt32BigEndian(packet.AsSpan(8), 0x12345678);
        payload.CopyTo(packet.AsSpan(12));
        return packet;
    }

    private static int AggregateSize(byte[] a, byte[] b, int headerBytes) => headerBytes + 2 + a.Length + 2 + b.Length;

    private byte[] Aggregation(List<byte[]> group)
    {
        var bytes = new List<byte>();
        if (h265)
        {
            bytes.Add((byte)(48 << 1));
            bytes.Add(1);
        }
        else
        {
            int nri = group.Max(n => n[0] & 0x60);
            bytes.Add((byte)(nri | 24));
        }

        foreach (byte[] nal in group)
        {
            bytes.Add((byte)(nal.Length >> 8));
            bytes.Add((byte)nal.Length);
            bytes.AddRange(nal);
        }

        return bytes.ToArray();
    }

    private IEnumerable<byte[]> Fragments(byte[] nal)
    {
        int headerBytes = h265 ? 2 : 1;
        int chunk = mtu - headerBytes - 1;
        for (int offset = headerBytes; offset < nal.Length; offset += chunk)
        {
            int size = Math.Min(chunk, nal.Length - offset);
            bool start = offset == headerBytes;
            bool end = offset + size == nal.Length;
            byte fuHeader = (byte)((start ? 0x80 : 0) | (end ? 0x40 : 0));
            var payload = new List<byte>();
            if (h265)
            {
                int type = (nal[0] >> 1) & 0x3F;
                payload.Add((byte)((nal[0] & 0x81) | (49 << 1)));
                payload.Add(nal[1]);
                payload.Add((byte)(fuHeader | type));
            }
            else
            {
                payload.Add((byte)((nal[0] & 0xE0) | 28));
                payload.Add((byte)(fuHeader | (nal[0] & 0x1F)));
            }

            payload.AddRange(nal.AsSpan(offset, size).ToArray());
            yield return payload.ToArray();
        }
    }
}

/// <summary>Collects access units as owned copies, split back into NAL units.</summary>
public struct CollectingSink() : IAccessUnitSink
{
    public List<ReceivedAccessUnit> Units { get; } = [];

    public readonly void OnAccessUnit(in AccessUnit accessUnit) =>
        Units.Add(new ReceivedAccessUnit(accessUnit.RtpTimestamp, accessUnit.IsKeyframe, accessUnit.IsDamaged, SplitLengthPrefixed(accessUnit.Data)));

    public static List<byte[]> SplitLengthPrefixed(ReadOnlySpan<byte> data)
    {
        var nals = new List<byte[]>();
        while (!data.IsEmpty)
        {
            Assert.True(data.Length >= 4, "a length prefix is cut");
            int length = BinaryPrimitives.ReadInt32BigEndian(data);
            Assert.InRange(length, 1, data.Length - 4);
            nals.Add(data.Slice(4, length).ToArray());
            data = data[(4 + length)..];
        }

        return nals;
    }
}

public sealed record ReceivedAccessUnit(uint Timestamp, bool IsKeyframe, bool IsDamaged, List<byte[]> Nals);
