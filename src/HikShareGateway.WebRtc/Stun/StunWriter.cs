using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

namespace HikShareGateway.WebRtc.Stun;

/// <summary>
/// Builds one STUN message into a caller-provided buffer (no allocation). Attributes are appended in call
/// order; <see cref="AddMessageIntegrity"/> and then <see cref="AddFingerprint"/> come last. A buffer too small
/// for what the caller writes is a programming error and throws.
/// </summary>
public ref struct StunWriter
{
    private readonly Span<byte> _buffer;
    private int _length;

    public StunWriter(Span<byte> buffer, ushort method, StunClass cls, ReadOnlySpan<byte> transactionId)
    {
        if (transactionId.Length != 12) throw new ArgumentException("A transaction id is 12 bytes.", nameof(transactionId));
        if (buffer.Length < StunMessage.HeaderLength) throw new ArgumentException("Buffer too small.", nameof(buffer));
        _buffer = buffer;
        var c = (int)cls;
        var type = ((method & 0x0F80) << 2) | ((method & 0x0070) << 1) | (method & 0x000F) | ((c & 2) << 7) | ((c & 1) << 4);
        BinaryPrimitives.WriteUInt16BigEndian(buffer, (ushort)type);
        BinaryPrimitives.WriteUInt32BigEndian(buffer[4..], StunMessage.MagicCookie);
        transactionId.CopyTo(buffer[8..]);
        _length = StunMessage.HeaderLength;
        SetLengthField();
    }

    /// <summary>Bytes written so far (the whole message once the last attribute is in).</summary>
    public readonly int Length => _length;

    public readonly ReadOnlySpan<byte> Written => _buffer[.._length];

    public void AddAttribute(ushort type, scoped ReadOnlySpan<byte> value)
    {
        var value0 = Reserve(type, value.Length);
        value.CopyTo(_buffer[value0..]);
    }

    public void AddString(ushort type, string value)
    {
        var count = Encoding.UTF8.GetByteCount(value);
        var value0 = Reserve(type, count);
        Encoding.UTF8.GetBytes(value, _buffer[value0..]);
    }

    public void AddUInt32(ushort type, uint value) => BinaryPrimitives.WriteUInt32BigEndian(_buffer[Reserve(type, 4)..], value);

    public void AddUInt64(ushort type, ulong value) => BinaryPrimitives.WriteUInt64BigEndian(_buffer[Reserve(type, 8)..], value);

    public void AddFlag(ushort type) => Reserve(type, 0);

    /// <summary>An XOR address (RFC 8489 §14.2); IPv4-mapped IPv6 addresses are written as the IPv4 they are.</summary>
    public void AddXorAddress(ushort type, IPEndPoint endPoint)
    {
        var address = endPoint.Address.IsIPv4MappedToIPv6 ? endPoint.Address.MapToIPv4() : endPoint.Address;
        var v4 = address.AddressFamily == AddressFamily.InterNetwork;
        var v = _buffer[Reserve(type, v4 ? 8 : 20)..];
        v[0] = 0;
        v[1] = v4 ? (byte)1 : (byte)2;
        BinaryPrimitives.WriteUInt16BigEndian(v[2..], (ushort)(endPoint.Port ^ (int)(StunMessage.MagicCookie >> 16)));
        Span<byte> raw = stackalloc byte[16];
        address.TryWriteBytes(raw, out var n);
        Span<byte> mask = stackalloc byte[16];
        BinaryPrimitives.WriteUInt32BigEndian(mask, StunMessage.MagicCookie);
        _buffer.Slice(8, 12).CopyTo(mask[4..]);
        for (var i = 0; i < n; i++) v[4 + i] = (byte)(raw[i] ^ mask[i]);
    }

    /// <summary>ERROR-CODE (RFC 8489 §14.8): class/number and a reason phrase.</summary>
    public void AddErrorCode(int code, string reason)
    {
        var count = Encoding.UTF8.GetByteCount(reason);
        var v = _buffer[Reserve(StunAttribute.ErrorCode, 4 + count)..];
        v[0] = 0;
        v[1] = 0;
        v[2] = (byte)(code / 100);
        v[3] = (byte)(code % 100);
        Encoding.UTF8.GetBytes(reason, v[4..]);
    }

    /// <summary>MESSAGE-INTEGRITY over everything so far, with the length field counting the attribute itself.</summary>
    public void AddMessageIntegrity(scoped ReadOnlySpan<byte> key)
    {
        var covered = _length;
        var v = Reserve(StunAttribute.MessageIntegrity, 20);
        HMACSHA1.HashData(key, _buffer[..covered], _buffer.Slice(v, 20));
    }

    /// <summary>FINGERPRINT: CRC-32 of everything before it, XOR 0x5354554e (RFC 8489 §14.7).</summary>
    public void AddFingerprint()
    {
        var covered = _length;
        var v = Reserve(StunAttribute.Fingerprint, 4);
        BinaryPrimitives.WriteUInt32BigEndian(_buffer[v..], Crc32.Compute(_buffer[..covered]) ^ StunMessage.FingerprintXor);
    }

    /// <summary>Writes the attribute header, zeroes the padding, updates the length field; returns the value offset.</summary>
    private int Reserve(ushort type, int valueLength)
    {
        if (valueLength > ushort.MaxValue) throw new ArgumentOutOfRangeException(nameof(valueLength));
        var padded = (valueLength + 3) & ~3;
        if (_length + 4 + padded > _buffer.Length) throw new InvalidOperationException("The STUN buffer is too small for this message.");
        BinaryPrimitives.WriteUInt16BigEndian(_buffer[_length..], type);
        BinaryPrimitives.WriteUInt16BigEndian(_buffer[(_length + 2)..], (ushort)valueLength);
        var value = _length + 4;
        _buffer.Slice(value + valueLength, padded - valueLength).Clear();
        _length = value + padded;
        SetLengthField();
        return value;
    }

    private readonly void SetLengthField()
        => BinaryPrimitives.WriteUInt16BigEndian(_buffer[2..], (ushort)(_length - StunMessage.HeaderLength));
}
