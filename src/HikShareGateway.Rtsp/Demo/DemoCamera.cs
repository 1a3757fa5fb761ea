using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using HikShareGateway.Rtsp.Protocol;
using Microsoft.Extensions.Logging;

namespace HikShareGateway.Rtsp.Demo;

/// <summary>
/// The demo recorder of <c>hikshare-gateway demo</c>: a small RTSP camera on 127.0.0.1 that loops an
/// H.264 clip (Annex B) at its frame rate as RTP over TCP interleaved, behind HTTP-Digest-style RTSP
/// authentication like a Hikvision unit, at <c>/Streaming/Channels/101</c> and <c>…/102</c>.
/// It is a stand-in for a recorder so the gateway works with no hardware; it is not on the relay path.
/// </summary>
public sealed partial class DemoCamera : IAsyncDisposable
{
    private const int Mtu = 1400;
    private readonly List<List<byte[]>> _frames = [];  // per access unit: RTP payloads (single NAL or FU-A)
    private readonly string _sprop;
    private readonly string _profileLevelId;
    private readonly string? _user;
    private readonly string? _password;
    private readonly int _fps;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private readonly string _nonce = Convert.ToHexString(RandomNumberGenerator.GetBytes(16)).ToLowerInvariant();
    private readonly List<Task> _clients = [];
    private Socket? _listener;
    private Task? _accept;

    public DemoCamera(byte[] annexB, int fps, string? user, string? password, TimeProvider time, ILogger logger)
    {
        _fps = fps;
        _user = user;
        _password = password;
        _time = time;
        _logger = logger;
        var nals = AnnexB.SplitNalUnits(annexB);
        var sps = nals.FirstOrDefault(n => n.Count > 3 && (n[0] & 0x1F) == 7);
        var pps = nals.FirstOrDefault(n => n.Count > 0 && (n[0] & 0x1F) == 8);
        if (sps.Array is null || pps.Array is null)
        {
            throw new InvalidDataException("the demo clip has no SPS/PPS: it is not H.264 Annex B");
        }
        _sprop = Convert.ToBase64String(sps) + "," + Convert.ToBase64String(pps);
        _profileLevelId = Convert.ToHexString(sps.AsSpan(1, 3));
        foreach (var unit in AnnexB.AccessUnits(nals))
        {
            var payloads = new List<byte[]>();
            foreach (var nal in unit)
            {
                Packetize(nal, payloads);
            }
            _frames.Add(payloads);
        }
        if (_frames.Count == 0)
        {
            throw new InvalidDataException("the demo clip has no pictures");
        }
    }

    public int Port { get; private set; }
    /// <summary>Refuse RTP over TCP (461) and send RTP over UDP to the client's ports, like some older DVRs (tests).</summary>
    public bool UdpOnly { get; init; }
    /// <summary>PLAY requests served so far (tests: one upstream shared by many viewers).</summary>
    public int Plays => Volatile.Read(ref _plays);
    /// <summary>Clients streaming now.</summary>
    public int Streaming => Volatile.Read(ref _streaming);
    private int _plays, _streaming;

    /// <summary>RFC 6184 §5.6 single NAL unit packets, §5.8 FU-A for NAL units above the MTU.</summary>
    private static void Packetize(ArraySegment<byte> nal, List<byte[]> payloads)
    {
        if (nal.Count <= Mtu)
        {
            payloads.Add(nal.ToArray());
            return;
        }
        var header = nal[0];
        var offset = 1;
        while (offset < nal.Count)
        {
            var size = Math.Min(Mtu - 2, nal.Count - offset);
            var p = new byte[size + 2];
            p[0] = (byte)((header & 0xE0) | 28);
            p[1] = (byte)((header & 0x1F) | (offset == 1 ? 0x80 : 0) | (offset + size == nal.Count ? 0x40 : 0));
            nal.AsSpan(offset, size).CopyTo(p.AsSpan(2));
            payloads.Add(p);
            offset += size;
        }
    }

    public static async Task<DemoCamera> StartAsync(string clipPath, int port, string? user, string? password, TimeProvider time, ILogger logger)
    {
        var camera = new DemoCamera(await File.ReadAllBytesAsync(clipPath), 25, user, password, time, logger);
        camera.Start(port);
        return camera;
    }

    public void Start(int port)
    {
        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, port));
        listener.Listen(16);
        _listener = listener;
        Port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        _accept = AcceptAsync();
        LogStarted(_logger, Port, _frames.Count);
    }

    private async Task AcceptAsync()
    {
        while (true)
        {
            Socket s;
            try
            {
                s = await _listener!.AcceptAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }
            lock (_clients)
            {
                _clients.RemoveAll(t => t.IsCompleted);
                _clients.Add(Task.Run(() => ServeAsync(s)));
            }
        }
    }

    private async Task ServeAsync(Socket socket)
    {
        socket.NoDelay = true;
        using var _ = socket;
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        var reader = PipeReader.Create(stream);
        var write = new SemaphoreSlim(1, 1);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        Task? streaming = null;
        var session = Convert.ToHexString(RandomNumberGenerator.GetBytes(4));
        var client = new ClientState();
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync(cts.Token);
                var (request, bad) = Next(reader, result);
                if (bad)
                {
                    return;
                }
                if (request is not null)
                {
                    var response = Answer(request, session, client, out var play, out var teardown);
                    await Send(response.ToBytes());
                    if (play && streaming is null)
                    {
                        Interlocked.Increment(ref _plays);
                        streaming = StreamAsync(cts.Token);
                    }
                    if (teardown)
                    {
                        return;
                    }
                    continue;
                }
                if (result.IsCompleted)
                {
                    return;
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or SocketException or ObjectDisposedException)
        {
        }
        finally
        {
            await cts.CancelAsync();
            if (streaming is not null)
            {
                await streaming.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
            await reader.CompleteAsync();
        }

        async Task Send(byte[] bytes)
        {
            await write.WaitAsync(cts.Token);
            try
            {
                await stream.WriteAsync(bytes, cts.Token);
            }
            finally
            {
                write.Release();
            }
        }

        async Task StreamAsync(CancellationToken ct)
        {
            var ssrc = (uint)Random.Shared.Next();
            var seq = (ushort)Random.Shared.Next();
            var ts = (uint)Random.Shared.Next();
            var tick = (uint)(90000 / _fps);
            using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1.0 / _fps), _time);
            Socket? udpSocket = null;
            var frame = 0;
            Interlocked.Increment(ref _streaming);
            try
            {
                do
                {
                    var payloads = _frames[frame];
                    var size = payloads.Sum(p => p.Length + 16);
                    var buffer = new byte[size];
                    var o = 0;
                    for (var i = 0; i < payloads.Count; i++)
                    {
                        var p = payloads[i];
                        buffer[o] = (byte)'$';
                        buffer[o + 1] = 0;
                        BinaryPrimitives.WriteUInt16BigEndian(buffer.AsSpan(o + 2), (ushort)(p.Length + 12));
                        buffer[o + 4] = 0x80;
                        buffer[o + 5] = (byte)(96 | (i == payloads.Count - 1 ? 0x80 : 0));
                        BinaryPrimitives.WriteUInt16BigEndian(buffer.AsSpan(o + 6), seq++);
                        BinaryPrimitives.WriteUInt32BigEndian(buffer.AsSpan(o + 8), ts);
                        BinaryPrimitives.WriteUInt32BigEndian(buffer.AsSpan(o + 12), ssrc);
                        p.CopyTo(buffer.AsSpan(o + 16));
                        o += p.Length + 16;
                    }
                    if (client.UdpRtpPort is { } udpPort)
                    {
                        // The same packets without their 4-byte interleaved headers, one datagram each.
                        udpSocket ??= new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
                        for (var at = 0; at < o;)
                        {
                            var len = BinaryPrimitives.ReadUInt16BigEndian(buffer.AsSpan(at + 2));
                            await udpSocket.SendToAsync(buffer.AsMemory(at + 4, len), SocketFlags.None, new IPEndPoint(IPAddress.Loopback, udpPort), ct);
                            at += 4 + len;
                        }
                    }
                    else
                    {
                        await Send(buffer);
                    }
                    ts += tick;
                    frame = (frame + 1) % _frames.Count;
                }
                while (await timer.WaitForNextTickAsync(ct));
            }
            catch (Exception e) when (e is OperationCanceledException or IOException or SocketException or ObjectDisposedException)
            {
            }
            finally
            {
                udpSocket?.Dispose();
                Interlocked.Decrement(ref _streaming);
            }
        }
    }

    private static (RtspMessage? Request, bool Bad) Next(PipeReader reader, ReadResult result)
    {
        var buffer = result.Buffer;
        var r = new SequenceReader<byte>(buffer);
        RtspMessage? request = null;
        var bad = false;
        while (request is null)
        {
            var status = RtspParser.TryRead(ref r, RtspLimits.Default, out var m, out var frame, out _);
            if (status == RtspReadStatus.NeedMore)
            {
                break;
            }
            if (status == RtspReadStatus.Error)
            {
                bad = true;
                break;
            }
            if (status == RtspReadStatus.Interleaved)
            {
                r.Advance(frame.Length); // receiver reports
            }
            else if (m is { IsRequest: true })
            {
                request = m;
            }
        }
        reader.AdvanceTo(r.Position, buffer.End);
        return (request, bad);
    }

    private sealed class ClientState
    {
        public int? UdpRtpPort;
    }

    private RtspMessage Answer(RtspMessage request, string session, ClientState client, out bool play, out bool teardown)
    {
        play = teardown = false;
        RtspMessage response;
        var path = request.Uri is { } u && Uri.TryCreate(u, UriKind.Absolute, out var uri) ? uri.AbsolutePath : request.Uri ?? "";
        var known = path.StartsWith("/Streaming/Channels/101", StringComparison.Ordinal) || path.StartsWith("/Streaming/Channels/102", StringComparison.Ordinal);
        if (request.Method is "DESCRIBE" or "SETUP" or "PLAY" && !Authorized(request))
        {
            response = RtspMessage.Response(401);
            response.Headers.Add("WWW-Authenticate", $"Digest realm=\"HikShare demo camera\", nonce=\"{_nonce}\", stale=\"FALSE\"");
        }
        else
        {
            switch (request.Method)
            {
                case "OPTIONS":
                    response = RtspMessage.Response(200);
                    response.Headers.Add("Public", "OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER");
                    break;
                case "DESCRIBE" when known:
                    response = RtspMessage.Response(200);
                    response.Headers.Add("Content-Type", "application/sdp");
                    response.Headers.Add("Content-Base", request.Uri!.TrimEnd('/') + "/");
                    response.Body = Encoding.ASCII.GetBytes(
                        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=HikShare demo camera\r\nt=0 0\r\na=control:*\r\n" +
                        "m=video 0 RTP/AVP 96\r\nc=IN IP4 0.0.0.0\r\na=recvonly\r\na=rtpmap:96 H264/90000\r\n" +
                        $"a=fmtp:96 profile-level-id={_profileLevelId};packetization-mode=1;sprop-parameter-sets={_sprop}\r\n" +
                        "a=framerate:25\r\na=control:trackID=1\r\n");
                    break;
                case "SETUP" when known:
                    var offered = TransportHeader.Parse(request.Headers.Get("Transport"));
                    var t = offered.FirstOrDefault(x => x.Tcp);
                    var udp = offered.FirstOrDefault(x => !x.Tcp && x.ClientPort is not null);
                    if (UdpOnly && udp is not null)
                    {
                        client.UdpRtpPort = udp.ClientPort!.Value.Rtp;
                        response = RtspMessage.Response(200);
                        response.Headers.Add("Transport", $"RTP/AVP;unicast;client_port={udp.ClientPort.Value.Rtp}-{udp.ClientPort.Value.Rtcp};server_port={Port}-{Port + 1}");
                        response.Headers.Add("Session", session + ";timeout=60");
                        break;
                    }
                    if (t is null || UdpOnly)
                    {
                        response = RtspMessage.Response(461);
                        break;
                    }
                    response = RtspMessage.Response(200);
                    response.Headers.Add("Transport", "RTP/AVP/TCP;unicast;interleaved=0-1");
                    response.Headers.Add("Session", session + ";timeout=60");
                    break;
                case "PLAY" when known:
                    response = RtspMessage.Response(200);
                    response.Headers.Add("Session", session);
                    response.Headers.Add("Range", "npt=0.000-");
                    play = true;
                    break;
                case "GET_PARAMETER" or "SET_PARAMETER":
                    response = RtspMessage.Response(200);
                    break;
                case "TEARDOWN":
                    response = RtspMessage.Response(200);
                    teardown = true;
                    break;
                default:
                    response = RtspMessage.Response(request.Method is "DESCRIBE" or "SETUP" or "PLAY" ? 404 : 501);
                    break;
            }
        }
        response.Headers.Set("CSeq", request.CSeq.ToString(CultureInfo.InvariantCulture));
        response.Headers.Add("Server", "HikShare demo camera");
        return response;
    }

    /// <summary>Checks an RFC 2617 Digest response (without qop, as Hikvision units challenge).</summary>
    private bool Authorized(RtspMessage request)
    {
        if (_user is null)
        {
            return true;
        }
        var h = request.Headers.Get("Authorization");
        if (h is null || !h.StartsWith("Digest ", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }
        var p = RtspAuth.ParseParameters(h[7..]);
        if (!p.TryGetValue("username", out var user) || user != _user || !p.TryGetValue("nonce", out var nonce) || nonce != _nonce
            || !p.TryGetValue("uri", out var uri) || !p.TryGetValue("response", out var given) || !p.TryGetValue("realm", out var realm))
        {
            return false;
        }
        var challenge = new AuthChallenge("Digest", realm, nonce, null, null, null);
        var expected = RtspAuth.Authorization(challenge, _user, _password ?? "", request.Method!, uri);
        var want = RtspAuth.ParseParameters(expected[7..])["response"];
        return CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(want), Encoding.ASCII.GetBytes(given));
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener?.Dispose();
        if (_accept is not null)
        {
            await _accept;
        }
        Task[] clients;
        lock (_clients)
        {
            clients = [.. _clients];
        }
        await Task.WhenAll(clients).WaitAsync(TimeSpan.FromSeconds(3)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    [LoggerMessage(EventId = 2500, Level = LogLevel.Information, Message = "Demo recorder on rtsp://127.0.0.1:{Port}/Streaming/Channels/101 ({Frames} frames looped)")]
    private static partial void LogStarted(ILogger logger, int port, int frames);
}
