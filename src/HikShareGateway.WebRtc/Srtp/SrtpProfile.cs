namespace HikShareGateway.WebRtc.Srtp;

/// <summary>The SRTP protection profiles we offer in DTLS use_srtp; values are the IANA profile ids (RFC 5764 §4.1.2, RFC 7714 §14.2).</summary>
public enum SrtpProfile : ushort
{
    AesCm128HmacSha1_80 = 0x0001,
    AeadAes128Gcm = 0x0007,
}

public static class SrtpProfileInfo
{
    public static int MasterKeyLength(SrtpProfile p) => 16;

    public static int MasterSaltLength(SrtpProfile p) => p == SrtpProfile.AeadAes128Gcm ? 12 : 14;

    /// <summary>Bytes the protected packet grows by: RTP tag; RTCP adds the 4-byte E||index word.</summary>
    public static int RtpOverhead(SrtpProfile p) => p == SrtpProfile.AeadAes128Gcm ? 16 : 10;

    public static int RtcpOverhead(SrtpProfile p) => RtpOverhead(p) + 4;
}

/// <summary>Why an SRTP/SRTCP packet was not accepted.</summary>
public enum SrtpError
{
    None,
    /// <summary>Too short, not version 2, or a header (CSRC, extension) that runs past the packet.</summary>
    Malformed,
    /// <summary>The authentication tag does not match: altered, or not ours.</summary>
    BadTag,
    /// <summary>This packet index was already accepted (RFC 3711 §3.3.2).</summary>
    Replayed,
    /// <summary>Older than the replay window.</summary>
    TooOld,
    /// <summary>More SSRCs than a context tracks; a peer could otherwise grow our state at will.</summary>
    TooManyStreams,
}
