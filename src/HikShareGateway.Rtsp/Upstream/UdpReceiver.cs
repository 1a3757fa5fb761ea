using System.Net;
using System.Net.Sockets;
using HikShareGateway.Media;

namespace HikShareGateway.Rtsp.Upstream;

/// <summary>
/// RTP and RTCP of one track over UDP from a camera that refuses interleaving: an even/odd port pair,
/// datagrams accepted only from the device's address, each received straight into a pooled buffer.
/// </summary>
internal sealed class UdpReceiver : IDisposable
{
    private readonly int _track;
    private readonly RtpBufferPool _pool;
    private readonly TimeProvider _time;
    private readonly Socket _rtp;
    private readonly Socket _rtcp;
    private IPAddress? _device;

    private UdpReceiver(int track, RtpBufferPool pool, TimeProvider time, Socket rtp, Socket rtcp)
    {
        _track = track;
        _pool = pool;
        _time = time;
        _rtp = rtp;
        _rtcp = rtcp;
    }

    public int RtpPort => ((IPEndPoint)_rtp.LocalEndPoint!).Port;
    public int RtcpPort => ((IPEndPoint)_rtcp.LocalEndPoint!).Port;

    public static UdpReceiver Open(int track, RtpBufferPool pool, TimeProvider time)
    {
        for (var attempt = 0; attempt < 50; attempt++)
        {
            var rtp = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            rtp.Bind(new IPEndPoint(IPAddress.Any, 0));
            var port = ((IPEndPoint)rtp.LocalEndPoint!).Port;
            if (port % 2 == 0 && port < 65535)
            {
                var rtcp = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
                try
                {
                    rtcp.Bind(new IPEndPoint(IPAddress.Any, port + 1));
                    rtp.ReceiveBufferSize = 1024 * 1024;
                    return new UdpReceiver(track, pool, time, rtp, rtcp);
                }
                catch (SocketException)
                {
                    rtcp.Dispose();
                }
            }
            rtp.Dispose();
        }
        throw new Core.Devices.DeviceException(Core.Devices.DeviceErrorKind.Failed, "no free UDP port pair for RTP from the device");
    }

    public void Connect(IPAddress device, (int Rtp, int Rtcp)? serverPorts)
    {
        _device = device.IsIPv4MappedToIPv6 ? device.MapToIPv4() : device;
    }

    public Task RunAsync(IMediaSink sink, Action onData, CancellationToken ct)
        => Task.WhenAll(ReceiveAsync(_rtp, false, sink, onData, ct), ReceiveAsync(_rtcp, true, sink, onData, ct));

    private async Task ReceiveAsync(Socket socket, bool rtcp, IMediaSink sink, Action onData, CancellationToken ct)
    {
        EndPoint any = new IPEndPoint(IPAddress.Any, 0);
        try
        {
            while (true)
            {
                var b = _pool.Rent();
                var mem = b.Array.AsMemory(4, b.Array.Length - 4);
                var r = await socket.ReceiveFromAsync(mem, SocketFlags.None, any, ct);
                var from = (IPEndPoint)r.RemoteEndPoint;
                if (r.ReceivedBytes == 0 || (_device is not null && !from.Address.Equals(_device)))
                {
                    b.Commit(0, _track, rtcp, 0);
                    b.Release();
                    continue;
                }
                b.Commit(r.ReceivedBytes, _track, rtcp, _time.GetTimestamp());
                onData();
                // UDP packets come one by one: each is its own batch.
                lock (sink)
                {
                    sink.OnPacket(b);
                    sink.OnBatchEnd();
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
        {
        }
    }

    public void Dispose()
    {
        _rtp.Dispose();
        _rtcp.Dispose();
    }
}
