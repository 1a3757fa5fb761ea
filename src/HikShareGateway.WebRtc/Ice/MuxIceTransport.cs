using System.Net;
using HikShareGateway.WebRtc.Stun;

namespace HikShareGateway.WebRtc.Ice;

/// <summary>A session agent's way out through the mux, and the route of its responses back in.</summary>
internal sealed class MuxIceTransport(UdpMux mux) : IIceTransport, IStunResponseHandler
{
    /// <summary>Set once, right after the agent is built (the agent needs its transport first).</summary>
    public IceAgent? Agent { get; set; }

    public void Send(IceBase via, IPEndPoint to, ReadOnlySpan<byte> datagram) => mux.SendVia(via, to, datagram);

    public void Expect(StunTransactionId id) => mux.Expect(id, this);

    public void Forget(StunTransactionId id) => mux.Forget(id);

    public void OnStunResponse(scoped in StunMessage response, IceBase? via, IPEndPoint from) => Agent?.HandleResponse(response, via, from);
}
