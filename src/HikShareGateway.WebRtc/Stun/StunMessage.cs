using System.Buffers.Binary;
using System.Net;
using System.Security.Cryptography;
using System.Text;

namespace HikShareGateway.WebRtc.Stun;

/// <summary>
/// A parsed STUN message: a view over the datagram that holds only offsets, so reading copies nothing.
/// Built by <see cref="StunMessage.TryParse"/>; MESSAGE-INTEGRITY is checked separately with
/// <see cref="VerifyIntegrity"/> because its key depends on the USERNAME (ICE) or REALM/NONCE (TURN).
/// </summary>
public readonly ref struct StunMessage
{
    public const int HeaderLength = 20;
    public const uint MagicCookie = 0x2112A442;
    /// <summary>RFC 8489 §14.7: the CRC is XORed with this so that it differs from other CRCs in the packet.</summary>
    public const uint FingerprintXor = 0x5354554e;
    private const int MaxAttributes = 64;

    private readonly int _username, _usernameLength;
    private readonly int _integrity; // offset of the MESSAGE-INTEGRITY attribute header, -1 if absent
    private readonly int _xorMapped, _xorMappedLength;
    private readonly int _errorCode, _errorCodeLength;
    private readonly int _realm, _realmLength;
    private readonly int _nonce, _nonceLength;

    /// <summary>The whole message, header included.</summary>
    public ReadOnlySpan<byte> Raw { get; }
    public ushort Method { get; }
    public StunClass Class { get; }
    public ReadOnlySpan<byte> TransactionId => Raw.Slice(8, 12);
    public ReadOnlySpan<byte> Username => _username < 0 ? default : Raw.Slice(_username, _usernameLength);
    public ReadOnlySpan<byte> Realm => _realm < 0 ? default : Raw.Slice(_realm, _realmLength);
    public ReadOnlySpan<byte> Nonce => _nonce < 0 ? default : Raw.Slice(_nonce, _nonceLength);
    public bool HasUsername => _username >= 0;
    public bool HasIntegrity => _integrity >= 0;
    public bool HasFingerprint { get; }
    public bool HasPriority { get; }
    public uint Priority { get; }
    public bool UseCandidate { get; }
    public bool HasIceControlling { get; }
    public bool HasIceControlled { get; }
    /// <summary>The tie-breaker of ICE-CONTROLLING or ICE-CONTROLLED.</summary>
    public ulong TieBreaker { get; }
    /// <summary>The first comprehension-required attribute we do not know (answer 420, RFC 8489 §6.3.1.1), or 0.</summary>
    public ushort UnknownRequiredAttribute { get; }

    private StunMessage(ReadOnlySpan<byte> raw, ushort method, StunClass cls, Fields f)
    {
        Raw = raw;
        Method = method;
        Class = cls;
        (_username, _usernameLength) = (f.Username, f.UsernameLength);
        _integrity = f.Integrity;
        (_xorMapped, _xorMappedLength) = (f.XorMapped, f.XorMappedLength);
        (_errorCode, _errorCodeLength) = (f.ErrorCode, f.ErrorCodeLength);
        (_realm, _realmLength) = (f.Realm, f.RealmLength);
        (_nonce, _nonceLength) = (f.Nonce, f.NonceLength);
        HasFingerprint = f.Fingerprint;
        HasPriority = f.HasPriority;
        Priority = f.Priority;
        UseCandidate = f.UseCandidate;
        HasIceControlling = f.Controlling;
        HasIceControlled = f.Controlled;
        TieBreaker = f.TieBreaker;
        UnknownRequiredAttribute = f.UnknownRequired;
    }

    private struct Fields
    {
        public int Username, UsernameLength, Integrity, XorMapped, XorMappedLength, ErrorCode, ErrorCodeLength;
        public int Realm, RealmLength, Nonce, NonceLength;
        public bool Fingerprint, HasPriority, UseCandidate, Controlling, Controlled;
        public uint Priority;
        public ulong TieBreaker;
        public ushort UnknownRequired;
    }

    /// <summary>RFC 7983 §7: a datagram whose first byte is 0..3 may be STUN.</summary>
    public static bool LooksLikeStun(ReadOnlySpan<byte> datagram)
        => datagram.Length >= HeaderLength && datagram[0] < 4
           && BinaryPrimitives.ReadUInt32BigEndian(datagram[4..]) == MagicCookie;

    /// <summary>
    /// Parses one datagram that must be exactly one STUN message. A FINGERPRINT, when present, must match.
    /// Never throws: anything malformed comes back as false with a reason.
    /// </summary>
    public static bool TryParse(ReadOnlySpan<byte> datagram, out StunMessage message, out StunParseError error)
    {
        message = default;
        if (datagram.Length < HeaderLength) { error = StunParseError.TooShort; return false; }
        var type = BinaryPrimitives.ReadUInt16BigEndian(datagram);
        if ((type & 0xC000) != 0) { error = StunParseError.NotStun; return false; }
        if (BinaryPrimitives.ReadUInt32BigEndian(datagram[4..]) != MagicCookie) { error = StunParseError.BadMagicCookie; return false; }
        int length = BinaryPrimitives.ReadUInt16BigEndian(datagram[2..]);
        if ((length & 3) != 0 || HeaderLength + length != datagram.Length) { error = StunParseError.BadLength; return false; }

        var f = new Fields { Username = -1, Integrity = -1, XorMapped = -1, ErrorCode = -1, Realm = -1, Nonce = -1 };
        var pos = HeaderLength;
        var count = 0;
        while (pos < datagram.Length)
        {
            if (++count > MaxAttributes) { error = StunParseError.TooManyAttributes; return false; }
            if (datagram.Length - pos < 4) { error = StunParseError.AttributeOverrun; return false; }
            var attr = BinaryPrimitives.ReadUInt16BigEndian(datagram[pos..]);
            int len = BinaryPrimitives.ReadUInt16BigEndian(datagram[(pos + 2)..]);
            var value = pos + 4;
            var padded = (len + 3) & ~3;
            if (padded > datagram.Length - value) { error = StunParseError.AttributeOverrun; return false; }
            // RFC 8489 §14.5/§14.7: only FINGERPRINT may follow MESSAGE-INTEGRITY; nothing follows FINGERPRINT.
            if (f.Fingerprint || (f.Integrity >= 0 && attr != StunAttribute.Fingerprint))
            {
                error = StunParseError.AttributeAfterIntegrity;
                return false;
            }
            var v = datagram.Slice(value, len);
            switch (attr)
            {
                case StunAttribute.Username: (f.Username, f.UsernameLength) = (value, len); break;
                case StunAttribute.Realm: (f.Realm, f.RealmLength) = (value, len); break;
                case StunAttribute.Nonce: (f.Nonce, f.NonceLength) = (value, len); break;
                case StunAttribute.XorMappedAddress: (f.XorMapped, f.XorMappedLength) = (value, len); break;
                case StunAttribute.ErrorCode:
                    if (len < 4) { error = StunParseError.BadAttributeValue; return false; }
                    (f.ErrorCode, f.ErrorCodeLength) = (value, len);
                    break;
                case StunAttribute.MessageIntegrity:
                    if (len != 20) { error = StunParseError.BadAttributeValue; return false; }
                    f.Integrity = pos;
                    break;
                case StunAttribute.Priority:
                    if (len != 4) { error = StunParseError.BadAttributeValue; return false; }
                    f.HasPriority = true;
                    f.Priority = BinaryPrimitives.ReadUInt32BigEndian(v);
                    break;
                case StunAttribute.UseCandidate:
                    if (len != 0) { error = StunParseError.BadAttributeValue; return false; }
                    f.UseCandidate = true;
                    break;
                case StunAttribute.IceControlling or StunAttribute.IceControlled:
                    if (len != 8) { error = StunParseError.BadAttributeValue; return false; }
                    if (attr == StunAttribute.IceControlling) f.Controlling = true; else f.Controlled = true;
                    f.TieBreaker = BinaryPrimitives.ReadUInt64BigEndian(v);
                    break;
                case StunAttribute.Fingerprint:
                    if (len != 4) { error = StunParseError.BadAttributeValue; return false; }
                    // The CRC covers the message up to this attribute, with the length field as it is
                    // (the fingerprint is the last attribute, so the length already counts it).
                    var expected = Crc32.Compute(datagram[..pos]) ^ FingerprintXor;
                    if (BinaryPrimitives.ReadUInt32BigEndian(v) != expected) { error = StunParseError.BadFingerprint; return false; }
                    f.Fingerprint = true;
                    break;
                default:
                    if (f.UnknownRequired == 0 && StunAttribute.IsComprehensionRequired(attr) && !StunAttribute.IsKnown(attr))
                    {
                        f.UnknownRequired = attr;
                    }
                    break;
            }
            pos = value + padded;
        }

        var method = (ushort)((type & 0x000F) | ((type & 0x00E0) >> 1) | ((type & 0x3E00) >> 2));
        var cls = (StunClass)(((type >> 7) & 2) | ((type >> 4) & 1));
        message = new StunMessage(datagram, method, cls, f);
        error = StunParseError.None;
        return true;
    }

    /// <summary>
    /// Checks MESSAGE-INTEGRITY (HMAC-SHA1, RFC 8489 §14.5) under <paramref name="key"/>: the ICE password's
    /// bytes for short-term credentials, <see cref="LongTermKey"/> for TURN. Constant-time compare;
    /// no allocation for messages up to 1.5 KiB.
    /// </summary>
    public bool VerifyIntegrity(ReadOnlySpan<byte> key)
    {
        if (_integrity < 0) return false;
        var covered = _integrity;
        byte[]? rented = null;
        var copy = covered <= 1536 ? stackalloc byte[covered] : (rented = System.Buffers.ArrayPool<byte>.Shared.Rent(covered)).AsSpan(0, covered);
        try
        {
            Raw[..covered].CopyTo(copy);
            // The length field must count the message up to and including MESSAGE-INTEGRITY.
            BinaryPrimitives.WriteUInt16BigEndian(copy[2..], (ushort)(covered + 24 - HeaderLength));
            Span<byte> mac = stackalloc byte[20];
            HMACSHA1.HashData(key, copy, mac);
            return CryptographicOperations.FixedTimeEquals(mac, Raw.Slice(_integrity + 4, 20));
        }
        finally
        {
            if (rented is not null) System.Buffers.ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>RFC 8489 §9.2.2: the long-term key, MD5(username ":" realm ":" password) (SASLprep is the caller's).</summary>
    public static byte[] LongTermKey(string username, string realm, string password)
        => MD5.HashData(Encoding.UTF8.GetBytes(username + ":" + realm + ":" + password));

    /// <summary>
    /// The value of the first attribute of <paramref name="type"/> (TURN's XOR-RELAYED-ADDRESS, LIFETIME, DATA,
    /// XOR-PEER-ADDRESS...). The message was validated by <see cref="TryParse"/>, so the walk cannot overrun.
    /// </summary>
    public bool TryGetAttribute(ushort type, out ReadOnlySpan<byte> value)
    {
        var pos = HeaderLength;
        while (pos + 4 <= Raw.Length)
        {
            var attr = BinaryPrimitives.ReadUInt16BigEndian(Raw[pos..]);
            int len = BinaryPrimitives.ReadUInt16BigEndian(Raw[(pos + 2)..]);
            if (attr == type)
            {
                value = Raw.Slice(pos + 4, len);
                return true;
            }
            pos += 4 + ((len + 3) & ~3);
        }
        value = default;
        return false;
    }

    /// <summary>An XOR address attribute of any type (XOR-RELAYED-ADDRESS, XOR-PEER-ADDRESS), RFC 8489 §14.2.</summary>
    public bool TryGetXorAddress(ushort type, out IPEndPoint endPoint)
    {
        endPoint = null!;
        return TryGetAttribute(type, out var v) && TryDecodeXorAddress(v, TransactionId, out endPoint);
    }

    /// <summary>Reads XOR-MAPPED-ADDRESS (or any XOR address attribute layout, RFC 8489 §14.2).</summary>
    public bool TryGetXorMappedAddress(out IPEndPoint endPoint)
        => TryDecodeXorAddress(_xorMapped < 0 ? default : Raw.Slice(_xorMapped, _xorMappedLength), TransactionId, out endPoint);

    public bool TryGetErrorCode(out int code, out string reason)
    {
        code = 0;
        reason = "";
        if (_errorCode < 0) return false;
        var v = Raw.Slice(_errorCode, _errorCodeLength);
        code = (v[2] & 0x7) * 100 + v[3];
        reason = Encoding.UTF8.GetString(v[4..]);
        return true;
    }

    internal static bool TryDecodeXorAddress(ReadOnlySpan<byte> v, ReadOnlySpan<byte> transactionId, out IPEndPoint endPoint)
    {
        endPoint = null!;
        if (v.Length < 4) return false;
        var family = v[1];
        var port = BinaryPrimitives.ReadUInt16BigEndian(v[2..]) ^ (ushort)(MagicCookie >> 16);
        if (family == 0x01 && v.Length == 8)
        {
            var a = BinaryPrimitives.ReadUInt32BigEndian(v[4..]) ^ MagicCookie;
            Span<byte> b = stackalloc byte[4];
            BinaryPrimitives.WriteUInt32BigEndian(b, a);
            endPoint = new IPEndPoint(new IPAddress(b), port);
            return true;
        }
        if (family == 0x02 && v.Length == 20)
        {
            Span<byte> b = stackalloc byte[16];
            Span<byte> mask = stackalloc byte[16];
            BinaryPrimitives.WriteUInt32BigEndian(mask, MagicCookie);
            transactionId.CopyTo(mask[4..]);
            for (var i = 0; i < 16; i++) b[i] = (byte)(v[4 + i] ^ mask[i]);
            endPoint = new IPEndPoint(new IPAddress(b), port);
            return true;
        }
        return false;
    }
}
