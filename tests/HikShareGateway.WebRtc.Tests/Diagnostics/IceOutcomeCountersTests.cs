using HikShareGateway.WebRtc.Diagnostics;
using HikShareGateway.WebRtc.Ice;

namespace HikShareGateway.WebRtc.Tests.Diagnostics;

[Trait("Category", "Unit")]
public sealed class IceOutcomeCountersTests
{
    [Fact]
    public void RelayedLocalCandidates_AreCountedApartByTheTransportToTheTurnServer()
    {
        var outcomes = new IceOutcomeCounters();
        outcomes.CountSelected(IceCandidateType.Relayed, TurnTransport.Udp, IceCandidateType.ServerReflexive);
        outcomes.CountSelected(IceCandidateType.Relayed, TurnTransport.Tcp, IceCandidateType.ServerReflexive);
        outcomes.CountSelected(IceCandidateType.Relayed, TurnTransport.Tls, IceCandidateType.ServerReflexive);
        outcomes.CountSelected(IceCandidateType.Relayed, TurnTransport.Tls, IceCandidateType.ServerReflexive);
        outcomes.CountSelected(IceCandidateType.Host, TurnTransport.Tls, IceCandidateType.PeerReflexive); // transport ignored off a relay

        Assert.Equal(1, outcomes.Selected(IceCandidateType.Relayed, IceCandidateType.ServerReflexive)); // the UDP one
        Assert.Equal(1, outcomes.Selected(IceCandidateType.Relayed, TurnTransport.Tcp, IceCandidateType.ServerReflexive));
        Assert.Equal(2, outcomes.Selected(IceCandidateType.Relayed, TurnTransport.Tls, IceCandidateType.ServerReflexive));
        Assert.Equal(1, outcomes.Selected(IceCandidateType.Host, IceCandidateType.PeerReflexive));
        Assert.Equal(
            [("host", "prflx", 1L), ("relay-udp", "srflx", 1L), ("relay-tcp", "srflx", 1L), ("relay-tls", "srflx", 2L)],
            outcomes.Snapshot());
    }
}
