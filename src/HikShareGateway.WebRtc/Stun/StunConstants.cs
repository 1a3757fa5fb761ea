namespace HikShareGateway.WebRtc.Stun;

/// <summary>The class bits of a STUN message type (RFC 8489 §5).</summary>
public enum StunClass : byte
{
    Request = 0,
    Indication = 1,
    SuccessResponse = 2,
    ErrorResponse = 3,
}

/// <summary>Methods used here: Binding (RFC 8489) and the TURN methods (RFC 8656 §18).</summary>
public static class StunMethod
{
    public const ushort Binding = 0x001;
    public const ushort Allocate = 0x003;
    public const ushort Refresh = 0x004;
    public const ushort Send = 0x006;
    public const ushort Data = 0x007;
    public const ushort CreatePermission = 0x008;
    public const ushort ChannelBind = 0x009;
}

/// <summary>Attribute types (RFC 8489 §18.3, RFC 8445 §16.1, RFC 8656 §18).</summary>
public static class StunAttribute
{
    public const ushort MappedAddress = 0x0001;
    public const ushort Username = 0x0006;
    public const ushort MessageIntegrity = 0x0008;
    public const ushort ErrorCode = 0x0009;
    public const ushort UnknownAttributes = 0x000A;
    public const ushort ChannelNumber = 0x000C;
    public const ushort Lifetime = 0x000D;
    public const ushort XorPeerAddress = 0x0012;
    public const ushort Data = 0x0013;
    public const ushort Realm = 0x0014;
    public const ushort Nonce = 0x0015;
    public const ushort XorRelayedAddress = 0x0016;
    public const ushort RequestedTransport = 0x0019;
    public const ushort XorMappedAddress = 0x0020;
    public const ushort Priority = 0x0024;
    public const ushort UseCandidate = 0x0025;
    public const ushort MessageIntegritySha256 = 0x001C;
    public const ushort Software = 0x8022;
    public const ushort Fingerprint = 0x8028;
    public const ushort IceControlled = 0x8029;
    public const ushort IceControlling = 0x802A;

    /// <summary>RFC 8489 §14: 0x0000-0x7FFF are comprehension-required.</summary>
    public static bool IsComprehensionRequired(ushort type) => type < 0x8000;

    internal static bool IsKnown(ushort type) => type switch
    {
        MappedAddress or Username or MessageIntegrity or ErrorCode or UnknownAttributes or ChannelNumber
            or Lifetime or XorPeerAddress or Data or Realm or Nonce or XorRelayedAddress or RequestedTransport
            or XorMappedAddress or Priority or UseCandidate or MessageIntegritySha256 => true,
        _ => false,
    };
}

/// <summary>Why a datagram was not accepted as a STUN message.</summary>
public enum StunParseError
{
    None,
    /// <summary>Shorter than the 20-byte header.</summary>
    TooShort,
    /// <summary>The two leading bits are not zero (RFC 7983: not STUN).</summary>
    NotStun,
    BadMagicCookie,
    /// <summary>The length field is not a multiple of 4 or does not match the datagram.</summary>
    BadLength,
    /// <summary>An attribute runs past the end of the message.</summary>
    AttributeOverrun,
    /// <summary>An attribute other than FINGERPRINT follows MESSAGE-INTEGRITY, or anything follows FINGERPRINT.</summary>
    AttributeAfterIntegrity,
    /// <summary>An attribute we read has the wrong size for its type.</summary>
    BadAttributeValue,
    BadFingerprint,
    TooManyAttributes,
}
