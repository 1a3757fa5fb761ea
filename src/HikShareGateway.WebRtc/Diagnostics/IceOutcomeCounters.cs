using HikShareGateway.WebRtc.Ice;

namespace HikShareGateway.WebRtc.Diagnostics;

/// <summary>
/// ICE outcomes by candidate type (issue 12: "ICE outcome by candidate type"): one counter per (local type, remote
/// type) of the selected pair — a relayed local candidate counted apart by how the gateway reaches its TURN server
/// (<c>relay-udp</c>, <c>relay-tcp</c>, <c>relay-tls</c>) — and the sessions that ended without a selected pair.
/// Lock-free increments; one instance per mux, exported as <c>hikshare_webrtc_ice_selected</c>.
/// </summary>
public sealed class IceOutcomeCounters
{
    private static readonly int Types = Enum.GetValues<IceCandidateType>().Length;
    private static readonly int Transports = Enum.GetValues<TurnTransport>().Length;
    private static readonly int LocalKinds = Types - 1 + Transports; // every type, Relayed split by transport
    private readonly long[] _selected = new long[LocalKinds * Types];
    private long _failed;

    public void CountSelected(IceCandidateType local, IceCandidateType remote) => CountSelected(local, TurnTransport.Udp, remote);

    /// <param name="relayTransport">For a relayed local candidate, the transport to its TURN server; ignored otherwise.</param>
    public void CountSelected(IceCandidateType local, TurnTransport relayTransport, IceCandidateType remote)
    {
        var kind = LocalKind(local, relayTransport);
        Interlocked.Increment(ref _selected[kind * Types + (int)remote]);
        SelectedCounted?.Invoke(LocalToken(kind), IceCandidate.TypeToken(remote));
    }

    public void CountFailed()
    {
        Interlocked.Increment(ref _failed);
        FailedCounted?.Invoke();
    }

    /// <summary>Each selection as it is counted (local token as in <see cref="Snapshot"/>, remote type token): the metrics export.</summary>
    public event Action<string, string>? SelectedCounted;

    /// <summary>Each session that ended without a selected pair.</summary>
    public event Action? FailedCounted;

    /// <summary>Sessions whose nominated pair had these candidate types (a relayed local: over UDP to its server).</summary>
    public long Selected(IceCandidateType local, IceCandidateType remote) => Selected(local, TurnTransport.Udp, remote);

    public long Selected(IceCandidateType local, TurnTransport relayTransport, IceCandidateType remote)
        => Interlocked.Read(ref _selected[LocalKind(local, relayTransport) * Types + (int)remote]);

    /// <summary>Sessions that closed with no nominated pair (checks failed, consent never given).</summary>
    public long Failed => Interlocked.Read(ref _failed);

    /// <summary>Every non-zero (local, remote, count), for an exporter: local is <c>host</c>, <c>srflx</c>, <c>prflx</c>, <c>relay-udp</c>, <c>relay-tcp</c> or <c>relay-tls</c>.</summary>
    public IReadOnlyList<(string Local, string Remote, long Count)> Snapshot()
    {
        var list = new List<(string, string, long)>();
        for (var l = 0; l < LocalKinds; l++)
        {
            for (var r = 0; r < Types; r++)
            {
                var n = Interlocked.Read(ref _selected[l * Types + r]);
                if (n != 0) list.Add((LocalToken(l), IceCandidate.TypeToken((IceCandidateType)r), n));
            }
        }
        return list;
    }

    private static int LocalKind(IceCandidateType local, TurnTransport transport)
        => local == IceCandidateType.Relayed ? (int)IceCandidateType.Relayed + (int)transport : (int)local;

    private static string LocalToken(int kind)
    {
        if (kind < (int)IceCandidateType.Relayed) return IceCandidate.TypeToken((IceCandidateType)kind);
        return (TurnTransport)(kind - (int)IceCandidateType.Relayed) switch
        {
            TurnTransport.Udp => "relay-udp",
            TurnTransport.Tcp => "relay-tcp",
            _ => "relay-tls",
        };
    }
}
