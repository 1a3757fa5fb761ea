using System.Net;
using System.Net.Sockets;
using HikShareGateway.Core.Devices;
using HikShareGateway.Onvif.Discovery;

namespace HikShareGateway.Tests.Onvif.Simulator;

/// <summary>
/// The simulator's WS-Discovery side: a UDP socket on the group 239.255.255.250 joined on the loopback interface,
/// answering Probes for NetworkVideoTransmitter (or tds:Device, as libonvif asks) with a unicast ProbeMatch, and
/// sending Hello/Bye to the group over loopback only.
/// </summary>
public sealed class SimDiscoveryResponder : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private readonly OnvifSimulator _sim;

    public SimDiscoveryResponder(OnvifSimulator sim, int port, Socket? socket = null, string? endpointAddress = null)
    {
        _sim = sim;
        EndpointAddress = endpointAddress ?? "urn:uuid:" + Guid.NewGuid();
        Port = port;
        _socket = socket ?? CreateSocket(port, IPAddress.Loopback);
        _loop = Task.Run(LoopAsync);
    }

    public int Port { get; }
    public string EndpointAddress { get; }
    public int ProbesAnswered;

    public static Socket CreateSocket(int port, IPAddress iface)
    {
        var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        s.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        s.Bind(new IPEndPoint(IPAddress.Any, port));
        s.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.AddMembership, new MulticastOption(WsDiscoveryClient.MulticastGroup, iface));
        s.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.MulticastInterface, iface.GetAddressBytes());
        s.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.MulticastTimeToLive, 1);
        return s;
    }

    public DiscoveredEndpoint Endpoint => new(EndpointAddress,
        ["dn:NetworkVideoTransmitter", "tds:Device"],
        [.. _sim.Scopes()],
        [new Uri($"http://127.0.0.1:{_sim.EndPoint.Port}/onvif/device_service"), new Uri($"http://[::1]:{_sim.EndPoint.Port}/onvif/device_service")],
        1);

    private async Task LoopAsync()
    {
        var buffer = new byte[65507];
        while (!_stop.IsCancellationRequested)
        {
            SocketReceiveFromResult r;
            try
            {
                r = await _socket.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), _stop.Token);
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException)
            {
                return;
            }
            DiscoveryMessage m;
            try
            {
                m = WsDiscoveryMessages.Parse(buffer.AsSpan(0, r.ReceivedBytes));
            }
            catch (DeviceException)
            {
                continue;
            }
            if (m.Kind != DiscoveryMessageKind.Probe || m.MessageId is null)
            {
                continue;
            }
            if (m.ProbeTypes.Count > 0 && !m.ProbeTypes.Any(t => t.EndsWith("NetworkVideoTransmitter", StringComparison.Ordinal) || t.EndsWith("}Device", StringComparison.Ordinal)))
            {
                continue;
            }
            Interlocked.Increment(ref ProbesAnswered);
            var reply = WsDiscoveryMessages.ProbeMatches("uuid:" + Guid.NewGuid(), m.MessageId, Endpoint);
            await _socket.SendToAsync(reply, SocketFlags.None, r.RemoteEndPoint);
        }
    }

    public Task SendHelloAsync() => SendToGroupAsync(WsDiscoveryMessages.Hello("uuid:" + Guid.NewGuid(), Endpoint));
    public Task SendByeAsync() => SendToGroupAsync(WsDiscoveryMessages.Bye("uuid:" + Guid.NewGuid(), EndpointAddress));
    public Task SendRawAsync(byte[] datagram) => SendToGroupAsync(datagram);

    private async Task SendToGroupAsync(byte[] datagram) =>
        await _socket.SendToAsync(datagram, SocketFlags.None, new IPEndPoint(WsDiscoveryClient.MulticastGroup, Port));

    private int _disposed;

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }
        await _stop.CancelAsync();
        _socket.Dispose();
        try
        {
            await _loop;
        }
        catch (OperationCanceledException)
        {
        }
        _stop.Dispose();
    }
}
