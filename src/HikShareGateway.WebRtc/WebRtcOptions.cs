using System.Net;

namespace HikShareGateway.WebRtc;

/// <summary>
/// The <c>WebRtc</c> configuration section (contract §5.1). Validated at start with every error reported at once.
/// </summary>
// { get; set; }, not init: the configuration binding generator (NativeAOT) leaves init-only properties unbound.
public sealed record WebRtcOptions
{
    public const string SectionName = "WebRtc";

    /// <summary>The one UDP port carrying every session's ICE, DTLS and SRTP (default 8189, as mediamtx).</summary>
    public int UdpPort { get; set; } = 8189;

    /// <summary>Public names or addresses advertised as extra host candidates (a NAT's public address, a DNS name).</summary>
    public IReadOnlyList<string> AdditionalHosts { get; set; } = [];

    /// <summary>Largest RTP packet sent, headers included (before SRTP's tag); 1200 fits every path browsers use.</summary>
    public int RtpMtu { get; set; } = 1200;

    public TimeSpan DtlsHandshakeTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>RFC 7675 §5.1: 30 s without a valid check on the selected pair ends the session.</summary>
    public TimeSpan ConsentTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Advertise loopback host candidates (tests with --allow-loopback-in-peer-connection).</summary>
    public bool IncludeLoopback { get; set; }

    /// <summary>
    /// ICE-lite (RFC 8445 §2.5): answer checks, never send any. Only for a gateway the viewers reach directly
    /// (no NAT in front of it); the default is the full agent, which also works behind NAT.
    /// </summary>
    public bool IceLite { get; set; }

    /// <summary>STUN servers (server-reflexive candidates) and TURN servers (relayed candidates), as browsers configure them.</summary>
    public IReadOnlyList<Ice.IceServerOptions> IceServers { get; set; } = [];

    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (UdpPort is < 0 or > 65535) errors.Add($"WebRtc:UdpPort must be 0..65535 (0 = any), not {UdpPort}.");
        if (RtpMtu is < 576 or > 1500) errors.Add($"WebRtc:RtpMtu must be 576..1500, not {RtpMtu}.");
        if (DtlsHandshakeTimeout <= TimeSpan.Zero || DtlsHandshakeTimeout > TimeSpan.FromMinutes(2)) errors.Add("WebRtc:DtlsHandshakeTimeout must be above 0 and at most 2 minutes.");
        if (ConsentTimeout < TimeSpan.FromSeconds(5)) errors.Add("WebRtc:ConsentTimeout must be at least 5 s (browsers check every 5 s or less).");
        for (var i = 0; i < AdditionalHosts.Count; i++)
        {
            var h = AdditionalHosts[i];
            if (string.IsNullOrWhiteSpace(h) || (!IPAddress.TryParse(h, out _) && Uri.CheckHostName(h) != UriHostNameType.Dns))
            {
                errors.Add($"WebRtc:AdditionalHosts:{i} is not an address or a host name.");
            }
        }
        for (var i = 0; i < IceServers.Count; i++) IceServers[i].Validate(i, errors);
        return errors;
    }
}
