using System.Net;
using System.Net.Sockets;
using HikShareGateway.Core.Devices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace HikShareGateway.Onvif.Discovery;

/// <summary>
/// WS-Discovery transport (SOAP-over-UDP, multicast 239.255.255.250:3702): sends Probes and collects the unicast
/// ProbeMatches; listens on the group for Hello/Bye. The protocol lives in <see cref="WsDiscoveryMessages"/>.
/// </summary>
public sealed partial class WsDiscoveryClient(IPAddress? interfaceAddress, int port, ILogger? logger = null, TimeProvider? time = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    public static readonly IPAddress MulticastGroup = IPAddress.Parse("239.255.255.250");
    private const int MaxDatagram = 65507;
    private readonly ILogger _logger = logger ?? NullLogger.Instance;

    public IPAddress? InterfaceAddress { get; } = interfaceAddress;
    public int Port { get; } = port;

    /// <summary>Probes once and returns the devices that answered within <paramref name="wait"/>, one per endpoint address.</summary>
    public async Task<IReadOnlyList<DiscoveredEndpoint>> ProbeAsync(TimeSpan wait, CancellationToken cancellationToken)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(InterfaceAddress ?? IPAddress.Any, 0));
        if (InterfaceAddress is not null)
        {
            socket.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.MulticastInterface, InterfaceAddress.GetAddressBytes());
        }
        // Discovery is link-local (WS-Discovery §2.4 says TTL 1 for the multicast group).
        socket.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.MulticastTimeToLive, 1);
        socket.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.MulticastLoopback, true);
        var messageId = "uuid:" + Guid.NewGuid();
        var probe = WsDiscoveryMessages.Probe(messageId);
        var target = new IPEndPoint(MulticastGroup, Port);
        // SOAP-over-UDP §3.4: repeat a multicast message to survive a lost datagram.
        await socket.SendToAsync(probe, SocketFlags.None, target, cancellationToken).ConfigureAwait(false);

        var found = new Dictionary<string, DiscoveredEndpoint>(StringComparer.OrdinalIgnoreCase);
        // Waits run on the injected clock (CancelAfter would use the system's).
        using var waitOver = new CancellationTokenSource(wait, _time);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, waitOver.Token);
        var buffer = new byte[MaxDatagram];
        var resent = false;
        while (!cts.IsCancellationRequested)
        {
            SocketReceiveFromResult r;
            try
            {
                using var resendDue = resent ? null : new CancellationTokenSource(TimeSpan.FromMilliseconds(150), _time);
                using var resend = resendDue is null
                    ? CancellationTokenSource.CreateLinkedTokenSource(cts.Token)
                    : CancellationTokenSource.CreateLinkedTokenSource(cts.Token, resendDue.Token);
                try
                {
                    r = await socket.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), resend.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!cts.IsCancellationRequested && !resent)
                {
                    resent = true;
                    await socket.SendToAsync(probe, SocketFlags.None, target, cts.Token).ConfigureAwait(false);
                    continue;
                }
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                break;
            }
            catch (SocketException e)
            {
                Log.ReceiveFailed(_logger, e.SocketErrorCode.ToString());
                break;
            }
            var message = TryParse(buffer.AsSpan(0, r.ReceivedBytes), r.RemoteEndPoint);
            if (message is { Kind: DiscoveryMessageKind.ProbeMatches } && (message.RelatesTo is null || message.RelatesTo == messageId))
            {
                foreach (var e in message.Endpoints)
                {
                    found[e.Address] = e;
                }
            }
        }
        return [.. found.Values];
    }

    /// <summary>Receives Hello and Bye announcements on the multicast group until cancelled.</summary>
    public async Task ListenAsync(Action<DiscoveryMessage> onAnnouncement, CancellationToken cancellationToken)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        socket.Bind(new IPEndPoint(IPAddress.Any, Port));
        socket.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.AddMembership,
            InterfaceAddress is null ? new MulticastOption(MulticastGroup) : new MulticastOption(MulticastGroup, InterfaceAddress));
        var buffer = new byte[MaxDatagram];
        while (!cancellationToken.IsCancellationRequested)
        {
            SocketReceiveFromResult r;
            try
            {
                r = await socket.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            var message = TryParse(buffer.AsSpan(0, r.ReceivedBytes), r.RemoteEndPoint);
            if (message is { Kind: DiscoveryMessageKind.Hello or DiscoveryMessageKind.Bye })
            {
                onAnnouncement(message);
            }
        }
    }

    private DiscoveryMessage? TryParse(ReadOnlySpan<byte> datagram, EndPoint from)
    {
        try
        {
            return WsDiscoveryMessages.Parse(datagram);
        }
        catch (DeviceException e)
        {
            // Anything on the group that is not WS-Discovery (or broken) is dropped, never fatal.
            Log.BadDatagram(_logger, e.Message);
            return null;
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 4301, Level = LogLevel.Debug, Message = "Dropped a WS-Discovery datagram: {Reason}")]
        public static partial void BadDatagram(ILogger logger, string reason);

        [LoggerMessage(EventId = 4302, Level = LogLevel.Warning, Message = "WS-Discovery receive failed: {Error}")]
        public static partial void ReceiveFailed(ILogger logger, string error);
    }
}
