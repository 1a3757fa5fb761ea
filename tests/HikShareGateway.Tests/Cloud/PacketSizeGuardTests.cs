using System.Buffers;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using HikShareGateway.Cloud;
using MQTTnet.Adapter;
using MQTTnet.Channel;
using MQTTnet.Diagnostics.Logger;
using MQTTnet.Formatter;
using MQTTnet.Packets;

namespace HikShareGateway.Tests.Cloud;

/// <summary>
/// The guard in front of MQTTnet's channel: real MQTTnet decoding of what passes through, with a broker simulated
/// by a byte stream served in odd-sized chunks (the payload of the big packet is generated, never held).
/// </summary>
[Trait("Category", "Unit")]
public sealed class PacketSizeGuardTests
{
    [Fact]
    public void FixedHeader_EveryPrefixNeedsMore_AndTheWholeHeaderReadsBack()
    {
        foreach (var length in new[] { 0, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152, MqttFrameHeader.MaxRemainingLength })
        {
            var header = new byte[5];
            header[0] = 0x32;
            var n = 1 + MqttFrameHeader.WriteRemainingLength(header.AsSpan(1), length);
            for (var prefix = 0; prefix < n; prefix++)
            {
                Assert.False(MqttFrameHeader.TryRead(header.AsSpan(0, prefix), out _, out _, out _, out _, out var error));
                Assert.Null(error);
            }
            Assert.True(MqttFrameHeader.TryRead(header.AsSpan(0, n), out var type, out var flags, out var read, out var headerLength, out _));
            Assert.Equal((3, 2, length, n), (type, flags, read, headerLength));
        }
    }

    [Fact]
    public void FixedHeader_RemainingLengthOfFiveBytes_IsAnError()
    {
        Assert.False(MqttFrameHeader.TryRead([0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01], out _, out _, out _, out _, out var error));
        Assert.NotNull(error);
    }

    [Fact]
    public async Task OversizedPublish_ArrivesEmptyWithItsTopicAndPacketId_AndTheNeighboursPassUntouched()
    {
        var small1 = Publish("hikshare/v1/gateways/gw/grants/delta", 1, Encoding.ASCII.GetBytes("first"), packetId: 7);
        var small2 = Publish("hikshare/v1/gateways/gw/grants", 1, Encoding.ASCII.GetBytes("third"), packetId: 9);
        const int bigPayload = 100 * 1024 * 1024;
        var big = PublishHeader("hikshare/v1/gateways/gw/grants/delta", 1, bigPayload, packetId: 8);
        var stream = new ScriptedChannel([small1, big, new Filler(bigPayload), small2]);
        var cuts = new List<OversizedPacket>();
        var guard = new PacketSizeGuardChannel(stream, 1024 * 1024, cuts.Add);
        var adapter = new MqttChannelAdapter(guard, new MqttPacketFormatterAdapter(MQTTnet.Formatter.MqttProtocolVersion.V311, new MqttBufferWriter(4096, 65536)), new MqttNetNullLogger());
        // The scripted channel completes every read synchronously: the whole receive runs on this thread.
        var allocatedBefore = GC.GetAllocatedBytesForCurrentThread();

        var p1 = Assert.IsType<MqttPublishPacket>(await adapter.ReceivePacketAsync(CancellationToken.None));
        var p2 = Assert.IsType<MqttPublishPacket>(await adapter.ReceivePacketAsync(CancellationToken.None));
        var p3 = Assert.IsType<MqttPublishPacket>(await adapter.ReceivePacketAsync(CancellationToken.None));

        var allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
        Assert.Equal("first", Encoding.ASCII.GetString(p1.Payload.ToArray()));
        Assert.Equal((ushort)7, p1.PacketIdentifier);
        Assert.Equal("hikshare/v1/gateways/gw/grants/delta", p2.Topic);
        Assert.Equal((ushort)8, p2.PacketIdentifier); // MQTTnet acknowledges it: the broker will not send it again.
        Assert.Equal(0, p2.Payload.Length);
        Assert.Equal("third", Encoding.ASCII.GetString(p3.Payload.ToArray()));
        var cut = Assert.Single(cuts);
        Assert.Equal("hikshare/v1/gateways/gw/grants/delta", cut.Topic);
        Assert.Equal(big.Length - 2 - LengthBytes(big) + bigPayload, cut.Length);
        // 100 MiB went through; the guard's memory is its 16 KiB scratch buffer (the test's own chunks included).
        Assert.True(allocated < 4 * 1024 * 1024, $"allocated {allocated} bytes while skipping a 100 MiB payload");
    }

    [Fact]
    public async Task OversizedPacketOfAnotherType_EndsTheConnectionWithAClearError()
    {
        var header = new byte[5];
        header[0] = 0x90; // SUBACK
        var n = 1 + MqttFrameHeader.WriteRemainingLength(header.AsSpan(1), 5_000_000);
        var guard = new PacketSizeGuardChannel(new ScriptedChannel([header[..n], new Filler(5_000_000)]), 64 * 1024, _ => { });
        var e = await Assert.ThrowsAsync<MQTTnet.Exceptions.MqttCommunicationException>(() => guard.ReadAsync(new byte[2], 0, 2, CancellationToken.None));
        Assert.Contains("5000000 bytes", e.Message);
    }

    [Fact]
    public async Task PacketsWithinTheLimit_PassByteForByte_WhateverTheReadSizes()
    {
        var packets = Enumerable.Range(0, 20).Select(i => Publish("t/" + i, i % 2, new byte[i * 997], packetId: (ushort)(i + 1))).ToArray();
        var all = packets.SelectMany(p => p).ToArray();
        var guard = new PacketSizeGuardChannel(new ScriptedChannel(packets.Cast<object>().ToArray()), 64 * 1024, _ => throw new InvalidOperationException("nothing is oversized"));
        var output = new List<byte>();
        var buffer = new byte[4096];
        var sizes = new[] { 1, 2, 3, 500, 4096, 7 };
        for (var i = 0; output.Count < all.Length; i++)
        {
            var n = await guard.ReadAsync(buffer, 0, sizes[i % sizes.Length], CancellationToken.None);
            Assert.True(n > 0);
            output.AddRange(buffer.AsSpan(0, n).ToArray());
        }
        Assert.Equal(all, output.ToArray());
    }

    private static int LengthBytes(byte[] packet)
    {
        MqttFrameHeader.TryRead(packet, out _, out _, out _, out var headerLength, out _);
        return headerLength - 2;
    }

    private static byte[] Publish(string topic, int qos, byte[] payload, ushort packetId)
    {
        var head = PublishHeader(topic, qos, payload.Length, packetId);
        return [.. head, .. payload];
    }

    /// <summary>A PUBLISH's fixed and variable header for a payload of <paramref name="payloadLength"/> bytes.</summary>
    private static byte[] PublishHeader(string topic, int qos, int payloadLength, ushort packetId)
    {
        var t = Encoding.UTF8.GetBytes(topic);
        var variable = new List<byte> { (byte)(t.Length >> 8), (byte)t.Length };
        variable.AddRange(t);
        if (qos > 0)
        {
            variable.Add((byte)(packetId >> 8));
            variable.Add((byte)packetId);
        }
        var fixedHeader = new byte[5];
        fixedHeader[0] = (byte)(0x30 | (qos << 1));
        var n = 1 + MqttFrameHeader.WriteRemainingLength(fixedHeader.AsSpan(1), variable.Count + payloadLength);
        return [.. fixedHeader[..n], .. variable];
    }

    /// <summary>Bytes generated on demand (a payload too large to hold).</summary>
    private sealed record Filler(long Length);

    /// <summary>A broker as a scripted byte stream: packets served in chunks of at most 1,000 bytes, fillers as asked.</summary>
    private sealed class ScriptedChannel(object[] parts) : IMqttChannel
    {
        private int _part;
        private long _offset;

        public X509Certificate2 ClientCertificate => null!;
        public EndPoint RemoteEndPoint => new IPEndPoint(IPAddress.Loopback, 1883);
        public EndPoint LocalEndPoint => new IPEndPoint(IPAddress.Loopback, 50000);
        public bool IsSecureConnection => false;
        public Task ConnectAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        public Task DisconnectAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        public Task WriteAsync(ReadOnlySequence<byte> buffer, bool isEndOfPacket, CancellationToken cancellationToken) => Task.CompletedTask;
        public void Dispose() { }

        public Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        {
            while (_part < parts.Length)
            {
                var length = parts[_part] switch { byte[] b => b.Length, Filler f => f.Length, _ => 0L };
                if (_offset >= length)
                {
                    _part++;
                    _offset = 0;
                    continue;
                }
                var n = (int)Math.Min(Math.Min(count, parts[_part] is Filler ? int.MaxValue : 1000), length - _offset);
                if (parts[_part] is byte[] bytes)
                {
                    bytes.AsSpan((int)_offset, n).CopyTo(buffer.AsSpan(offset));
                }
                else
                {
                    buffer.AsSpan(offset, n).Fill(0x7B);
                }
                _offset += n;
                return Task.FromResult(n);
            }
            return Task.FromResult(0);
        }
    }
}
