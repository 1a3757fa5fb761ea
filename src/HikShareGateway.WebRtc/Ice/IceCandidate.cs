using System.Globalization;
using System.Net;

namespace HikShareGateway.WebRtc.Ice;

/// <summary>RFC 8445 §5.1.1: where a candidate's address comes from.</summary>
public enum IceCandidateType
{
    Host,
    ServerReflexive,
    PeerReflexive,
    Relayed,
}

/// <summary>
/// A remote (or local) ICE candidate as the agent uses it: an IP address, not a name. Parsed from the SDP
/// attribute value (RFC 8839 §5.1); mDNS names (<c>*.local</c>, which browsers use for host candidates), TCP and
/// other components are refused — a browser's checks from such a candidate arrive as peer-reflexive instead.
/// </summary>
public sealed record IceCandidate(string Foundation, int Component, uint Priority, IPEndPoint Address, IceCandidateType Type)
{
    /// <summary>RFC 8445 §5.1.2.1 type preferences (§5.1.2.2: host 126, prflx 110, srflx 100, relayed 0).</summary>
    public static int TypePreference(IceCandidateType type) => type switch
    {
        IceCandidateType.Host => 126,
        IceCandidateType.PeerReflexive => 110,
        IceCandidateType.ServerReflexive => 100,
        _ => 0,
    };

    public static uint ComputePriority(IceCandidateType type, int localPreference, int component = 1)
        => (uint)((TypePreference(type) << 24) + (localPreference << 8) + (256 - component));

    /// <summary>The SDP type token (<c>host</c>, <c>srflx</c>, <c>prflx</c>, <c>relay</c>).</summary>
    public static string TypeToken(IceCandidateType type) => type switch
    {
        IceCandidateType.Host => "host",
        IceCandidateType.ServerReflexive => "srflx",
        IceCandidateType.PeerReflexive => "prflx",
        _ => "relay",
    };

    /// <summary>
    /// Parses "candidate:foundation component udp priority address port typ type ..." (the leading
    /// "candidate:" or "a=candidate:" is optional). False for anything this agent cannot pair.
    /// </summary>
    public static bool TryParse(string text, out IceCandidate candidate)
    {
        candidate = null!;
        var s = text.AsSpan().Trim();
        if (s.StartsWith("a=")) s = s[2..];
        if (s.StartsWith("candidate:")) s = s[10..];
        Span<Range> parts = stackalloc Range[9];
        var n = s.Split(parts, ' ', StringSplitOptions.RemoveEmptyEntries);
        if (n < 8 || !s[parts[6]].SequenceEqual("typ")) return false;
        var foundation = s[parts[0]];
        if (foundation.IsEmpty || foundation.Length > 32) return false;
        if (!int.TryParse(s[parts[1]], NumberStyles.None, CultureInfo.InvariantCulture, out var component) || component != 1) return false;
        if (!s[parts[2]].Equals("udp", StringComparison.OrdinalIgnoreCase)) return false;
        if (!uint.TryParse(s[parts[3]], NumberStyles.None, CultureInfo.InvariantCulture, out var priority) || priority == 0) return false;
        if (!IPAddress.TryParse(s[parts[4]], out var address)) return false; // mDNS names and garbage
        if (!int.TryParse(s[parts[5]], NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535) return false;
        IceCandidateType type;
        switch (s[parts[7]])
        {
            case "host": type = IceCandidateType.Host; break;
            case "srflx": type = IceCandidateType.ServerReflexive; break;
            case "prflx": type = IceCandidateType.PeerReflexive; break;
            case "relay": type = IceCandidateType.Relayed; break;
            default: return false;
        }
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        candidate = new IceCandidate(foundation.ToString(), component, priority, new IPEndPoint(address, port), type);
        return true;
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"candidate:{Foundation} {Component} udp {Priority} {Address.Address} {Address.Port} typ {TypeToken(Type)}");
}

/// <summary>
/// A local base (RFC 8445 §5.1.1.1, "the address an agent sends from"): the mux socket itself
/// (<see cref="Relay"/> null; host and server-reflexive candidates share it), or one TURN allocation. The agent
/// pairs bases with remote candidates; the transport knows how to send from each.
/// </summary>
public sealed class IceBase
{
    private IceBase(IceCandidateType type, uint priority, IPEndPoint? address, object? relay, TurnTransport relayTransport = TurnTransport.Udp)
    {
        Type = type;
        Priority = priority;
        Address = address;
        Relay = relay;
        RelayTransport = relayTransport;
    }

    /// <summary>For a relayed base: how the gateway reaches the TURN server (UDP, TCP or TLS); UDP for the socket.</summary>
    public TurnTransport RelayTransport { get; }

    /// <summary>The candidate type of the base as the pair reports it (host, or relayed).</summary>
    public IceCandidateType Type { get; }

    /// <summary>The local candidate's priority used in pair priorities (host: the best host candidate's).</summary>
    public uint Priority { get; }

    /// <summary>The relayed transport address, or null for the mux socket.</summary>
    public IPEndPoint? Address { get; }

    /// <summary>The transport's handle of the allocation (a TURN client), opaque to the agent.</summary>
    public object? Relay { get; }

    public static IceBase Direct(uint priority) => new(IceCandidateType.Host, priority, null, null);

    public static IceBase Relayed(uint priority, IPEndPoint relayedAddress, object relay, TurnTransport transport = TurnTransport.Udp)
        => new(IceCandidateType.Relayed, priority, relayedAddress, relay, transport);

    public override string ToString() => Relay is null ? "direct" : "relay " + Address + (RelayTransport == TurnTransport.Udp ? "" : " over " + RelayTransport.ToString().ToLowerInvariant());
}
