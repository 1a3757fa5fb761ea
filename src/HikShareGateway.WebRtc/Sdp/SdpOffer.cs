namespace HikShareGateway.WebRtc.Sdp;

/// <summary>Media direction as the offerer states it (RFC 8866 §6.7).</summary>
public enum SdpDirection { SendRecv, SendOnly, RecvOnly, Inactive }

/// <summary>A DTLS certificate fingerprint from <c>a=fingerprint</c> (RFC 8122): hash name and digest bytes.</summary>
public sealed record SdpFingerprint(string Algorithm, byte[] Digest)
{
    /// <summary>"AB:CD:…" upper-case hex, as SDP writes it.</summary>
    public string DigestText
    {
        get
        {
            var hex = Convert.ToHexString(Digest);
            var sb = new System.Text.StringBuilder(hex.Length * 3 / 2);
            for (var i = 0; i < hex.Length; i += 2)
            {
                if (i > 0) sb.Append(':');
                sb.Append(hex, i, 2);
            }
            return sb.ToString();
        }
    }
}

/// <summary>One <c>a=rtpmap</c> payload type with its <c>a=fmtp</c> parameters and <c>a=rtcp-fb</c> values.</summary>
public sealed record SdpCodec(int PayloadType, string Name, int ClockRate, int Channels, string Fmtp,
    IReadOnlyList<string> Feedback)
{
    /// <summary>A parameter of the fmtp line (<c>key=value;key=value</c>), case-insensitive key, or null.</summary>
    public string? FmtpParameter(string key)
    {
        foreach (var part in Fmtp.Split(';', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = part.IndexOf('=');
            if (eq > 0 && part.AsSpan(0, eq).Trim().Equals(key, StringComparison.OrdinalIgnoreCase)) return part[(eq + 1)..].Trim();
        }
        return null;
    }
}

/// <summary>An <c>a=extmap</c> header extension (RFC 8285).</summary>
public sealed record SdpExtmap(int Id, string Uri);

/// <summary>One m= section of an offer, with the transport attributes resolved (media level over session level).</summary>
public sealed record SdpMedia(
    string Kind,
    int Port,
    string Protocol,
    IReadOnlyList<string> Formats,
    string? Mid,
    SdpDirection Direction,
    bool RtcpMux,
    bool RtcpRsize,
    IReadOnlyList<SdpCodec> Codecs,
    IReadOnlyList<SdpExtmap> Extmaps,
    IReadOnlyList<uint> Ssrcs,
    IReadOnlyList<string> Candidates,
    string IceUfrag,
    string IcePwd,
    SdpFingerprint Fingerprint,
    string Setup)
{
    public bool IsRtp => Protocol.Contains("RTP", StringComparison.Ordinal);
}

/// <summary>A parsed browser offer (JSEP, RFC 8829). Everything needed to answer it and to check DTLS.</summary>
public sealed record SdpOffer(IReadOnlyList<string> BundleMids, IReadOnlyList<SdpMedia> Media, bool Trickle);

/// <summary>Why an offer was refused. Maps to HTTP 400 (malformed) or 413-like refusal (too large) at the edge.</summary>
public enum SdpError
{
    None,
    TooLarge,
    TooManyLines,
    NotUtf8,
    NotSdp,
    BadLine,
    NoMedia,
    TooManyMedia,
    MissingIceCredentials,
    MissingFingerprint,
    BadFingerprint,
    /// <summary>a=setup:passive in an offer would make us the DTLS client; the gateway is always the server.</summary>
    UnsupportedSetup,
    BadMediaLine,
    NotBundledOrNotMuxed,
}

/// <summary>Limits on offers from the network. Defaults fit every browser offer seen (Chromium's are 5–8 KiB).</summary>
public sealed record SdpLimits
{
    public int MaxBytes { get; init; } = 64 * 1024;
    public int MaxLines { get; init; } = 2048;
    public int MaxMediaSections { get; init; } = 16;
    public int MaxLineLength { get; init; } = 4096;

    public static SdpLimits Default { get; } = new();
}
