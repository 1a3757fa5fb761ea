using System.Buffers;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using MQTTnet;
using MQTTnet.Adapter;
using MQTTnet.Channel;
using MQTTnet.Diagnostics.Logger;
using MQTTnet.Exceptions;
using MQTTnet.Formatter;
using MQTTnet.Implementations;

namespace HikShareGateway.Cloud;

/// <summary>
/// The MQTT fixed header (MQTT 3.1.1 §2.2, 5.0 §2.1.1): packet type, flags and the variable-length remaining length.
/// Pure.
/// </summary>
public static class MqttFrameHeader
{
    public const int PublishType = 3;
    /// <summary>The largest remaining length the four-byte encoding can carry (268,435,455).</summary>
    public const int MaxRemainingLength = 268_435_455;

    /// <summary>
    /// Reads a fixed header from the start of <paramref name="data"/>. False when more bytes are needed;
    /// <paramref name="error"/> is set (and false returned) for a remaining length longer than four bytes.
    /// </summary>
    public static bool TryRead(ReadOnlySpan<byte> data, out int type, out int flags, out int remainingLength, out int headerLength, out string? error)
    {
        type = flags = remainingLength = headerLength = 0;
        error = null;
        if (data.Length < 2)
        {
            return false;
        }
        type = data[0] >> 4;
        flags = data[0] & 0x0F;
        var value = 0;
        var multiplier = 1;
        for (var i = 1; i < 5; i++)
        {
            if (i >= data.Length)
            {
                return false;
            }
            var b = data[i];
            value += (b & 0x7F) * multiplier;
            if ((b & 0x80) == 0)
            {
                remainingLength = value;
                headerLength = i + 1;
                return true;
            }
            multiplier *= 128;
        }
        error = "remaining length longer than four bytes";
        return false;
    }

    /// <summary>Writes <paramref name="value"/> as a remaining length; returns the bytes written (1-4).</summary>
    public static int WriteRemainingLength(Span<byte> destination, int value)
    {
        var i = 0;
        do
        {
            var b = (byte)(value % 128);
            value /= 128;
            if (value > 0)
            {
                b |= 0x80;
            }
            destination[i++] = b;
        } while (value > 0);
        return i;
    }
}

/// <summary>What the guard did with a packet too large to read: told to the cloud client, which reports it.</summary>
/// <param name="Topic">The PUBLISH's topic (UTF-8 decoded), or null for another packet type.</param>
/// <param name="Length">The packet's remaining length, bytes.</param>
public readonly record struct OversizedPacket(string? Topic, int Length);

/// <summary>
/// An <see cref="IMqttChannel"/> in front of MQTTnet's TCP channel that refuses packets larger than a limit before
/// anything allocates room for them (MQTTnet's adapter allocates the whole body as soon as it has read the
/// fixed header). MQTT 3.1.1 has no Maximum Packet Size (brokers such as RabbitMQ 3.x speak only 3.1.1), so the
/// guard works on the byte stream:
/// 1. it reads each fixed header itself;
/// 2. a packet within the limit passes through untouched;
/// 3. an oversized PUBLISH is cut to its variable header (topic and packet id) with an empty payload and the rest
///    of its body is read into a small scratch buffer and discarded: MQTTnet still sees a well-formed PUBLISH and
///    acknowledges it at its QoS, so the broker does not deliver it again after a reconnect;
/// 4. any other oversized packet ends the connection (a broker sends nothing else that large).
/// Memory stays bounded by the limit plus a 16 KiB scratch buffer, whatever the broker sends.
/// </summary>
public sealed class PacketSizeGuardChannel : IMqttChannel
{
    private readonly IMqttChannel _inner;
    private readonly int _maxRemainingLength;
    private readonly Action<OversizedPacket> _onOversized;
    private readonly byte[] _header = new byte[5];
    private byte[] _pending = new byte[256];
    private int _pendingStart;
    private int _pendingEnd;
    private long _bodyRemaining;
    private byte[]? _scratch;

    public PacketSizeGuardChannel(IMqttChannel inner, int maxRemainingLength, Action<OversizedPacket> onOversized)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxRemainingLength, 64);
        _inner = inner;
        _maxRemainingLength = maxRemainingLength;
        _onOversized = onOversized;
    }

    public X509Certificate2 ClientCertificate => _inner.ClientCertificate;
    public EndPoint RemoteEndPoint => _inner.RemoteEndPoint;
    public EndPoint LocalEndPoint => _inner.LocalEndPoint;
    public bool IsSecureConnection => _inner.IsSecureConnection;

    public Task ConnectAsync(CancellationToken cancellationToken) => _inner.ConnectAsync(cancellationToken);
    public Task DisconnectAsync(CancellationToken cancellationToken) => _inner.DisconnectAsync(cancellationToken);
    public Task WriteAsync(ReadOnlySequence<byte> buffer, bool isEndOfPacket, CancellationToken cancellationToken)
        => _inner.WriteAsync(buffer, isEndOfPacket, cancellationToken);
    public void Dispose() => _inner.Dispose();

    public async Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        if (count == 0)
        {
            return 0;
        }
        if (_pendingEnd > _pendingStart)
        {
            return TakePending(buffer, offset, count);
        }
        if (_bodyRemaining > 0)
        {
            // Step 2: inside a packet within the limit, straight from the socket.
            var n = await _inner.ReadAsync(buffer, offset, (int)Math.Min(count, _bodyRemaining), cancellationToken).ConfigureAwait(false);
            _bodyRemaining -= n;
            return n;
        }
        // :: Step 1: at a packet boundary.
        var headerLength = 0;
        int type, flags, length;
        while (true)
        {
            if (!await ReadExactlyAsync(_header, headerLength, 1, cancellationToken).ConfigureAwait(false))
            {
                return 0; // Closed.
            }
            headerLength++;
            if (MqttFrameHeader.TryRead(_header.AsSpan(0, headerLength), out type, out flags, out length, out _, out var error))
            {
                break;
            }
            if (error is not null)
            {
                throw new MqttProtocolViolationException("MQTT packet from the broker: " + error);
            }
        }
        if (length <= _maxRemainingLength)
        {
            EnsurePending(headerLength);
            _header.AsSpan(0, headerLength).CopyTo(_pending);
            _pendingStart = 0;
            _pendingEnd = headerLength;
            _bodyRemaining = length;
            return TakePending(buffer, offset, count);
        }
        if (type != MqttFrameHeader.PublishType)
        {
            // :: Step 4.
            _onOversized(new OversizedPacket(null, length));
            throw new MqttCommunicationException($"the broker sent an MQTT packet of type {type} with {length} bytes, more than the limit of {_maxRemainingLength}");
        }
        // :: Step 3: topic length, topic, packet id (QoS 1 and 2), then the payload, which is skipped.
        var qos = (flags >> 1) & 3;
        var lengthBytes = new byte[2];
        if (!await ReadExactlyAsync(lengthBytes, 0, 2, cancellationToken).ConfigureAwait(false))
        {
            return 0;
        }
        var topicLength = (lengthBytes[0] << 8) | lengthBytes[1];
        var variableHeader = 2 + topicLength + (qos > 0 ? 2 : 0);
        if (variableHeader > length)
        {
            throw new MqttProtocolViolationException("MQTT PUBLISH from the broker: the topic runs past the packet");
        }
        // The variable header is small (a topic is at most 65,535 bytes): it goes to MQTTnet, the payload does not.
        EnsurePending(5 + variableHeader);
        _pending[0] = (byte)((type << 4) | flags);
        var p = 1 + MqttFrameHeader.WriteRemainingLength(_pending.AsSpan(1), variableHeader);
        _pending[p] = lengthBytes[0];
        _pending[p + 1] = lengthBytes[1];
        if (!await ReadExactlyAsync(_pending, p + 2, variableHeader - 2, cancellationToken).ConfigureAwait(false))
        {
            return 0;
        }
        var topic = System.Text.Encoding.UTF8.GetString(_pending, p + 2, topicLength);
        _pendingStart = 0;
        _pendingEnd = p + variableHeader;
        await SkipAsync(length - variableHeader, cancellationToken).ConfigureAwait(false);
        _onOversized(new OversizedPacket(topic, length));
        return TakePending(buffer, offset, count);
    }

    private int TakePending(byte[] buffer, int offset, int count)
    {
        var n = Math.Min(count, _pendingEnd - _pendingStart);
        _pending.AsSpan(_pendingStart, n).CopyTo(buffer.AsSpan(offset));
        _pendingStart += n;
        return n;
    }

    private void EnsurePending(int size)
    {
        if (_pending.Length < size)
        {
            _pending = new byte[size];
        }
    }

    private async Task<bool> ReadExactlyAsync(byte[] buffer, int offset, int count, CancellationToken ct)
    {
        while (count > 0)
        {
            var n = await _inner.ReadAsync(buffer, offset, count, ct).ConfigureAwait(false);
            if (n == 0 || ct.IsCancellationRequested)
            {
                return false;
            }
            offset += n;
            count -= n;
        }
        return true;
    }

    private async Task SkipAsync(long count, CancellationToken ct)
    {
        _scratch ??= new byte[16 * 1024];
        while (count > 0)
        {
            var n = await _inner.ReadAsync(_scratch, 0, (int)Math.Min(_scratch.Length, count), ct).ConfigureAwait(false);
            if (n == 0 || ct.IsCancellationRequested)
            {
                throw new MqttCommunicationException("the broker closed the connection inside an oversized packet");
            }
            count -= n;
        }
    }
}

/// <summary>MQTTnet's client adapter factory with a <see cref="PacketSizeGuardChannel"/> on every TCP connection.</summary>
public sealed class PacketSizeGuardAdapterFactory(int maxRemainingLength, Action<OversizedPacket> onOversized) : IMqttClientAdapterFactory
{
    public IMqttChannelAdapter CreateClientAdapter(MqttClientOptions options, MqttPacketInspector packetInspector, IMqttNetLogger logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.ChannelOptions is not MqttClientTcpOptions)
        {
            throw new NotSupportedException("the cloud link speaks MQTT over TCP only");
        }
        var channel = new PacketSizeGuardChannel(new MqttTcpChannel(options), maxRemainingLength, onOversized);
        var formatter = new MqttPacketFormatterAdapter(options.ProtocolVersion, new MqttBufferWriter(options.WriterBufferSize, options.WriterBufferSizeMax));
        return new MqttChannelAdapter(channel, formatter, logger)
        {
            AllowPacketFragmentation = options.AllowPacketFragmentation,
            PacketInspector = packetInspector,
        };
    }
}
