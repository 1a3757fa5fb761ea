using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace HikShareGateway.Bench.Relay;

/// <summary>
/// The source camera of the <c>fanout</c> benchmark: a minimal RTSP server on 127.0.0.1 (OPTIONS, DESCRIBE,
/// SETUP over interleaved TCP only, PLAY, TEARDOWN, GET_PARAMETER/SET_PARAMETER keep-alives) that streams
/// <see cref="H264Clip"/> in a loop at 25 fps to every playing session, like a camera does: one continuous
/// stream, joined wherever it is. Each access unit is written with one send per session, its latency SEI
/// stamped just before.
/// </summary>
public sealed class BenchCamera : IAsyncDisposable
{
    private readonly H264Clip _clip;
    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _sinksLock = new();
    private Sink[] _sinks = [];
    private readonly Thread _pacer;
    private Task _acceptLoop = Task.CompletedTask;
    private readonly uint _ssrc = (uint)Random.Shared.Next();
    private long _rtpPacketsSent, _rtpBytesSent, _unitsSent;

    private readonly bool _writePerPacket;

    /// <param name="writePerPacket">
    /// One send per RTP packet, as gst-rtsp-server (one buffer per write) and most cameras do, instead of one per
    /// access unit: a relay that is quick to read then gets a packet or two per read, not a whole frame.
    /// </param>
    /// <param name="port">0 for any free port; a fixed one to restart a camera where the relay expects it (the soak bench).</param>
    public BenchCamera(H264Clip clip, bool writePerPacket = false, int port = 0)
    {
        _clip = clip;
        _listener = new TcpListener(IPAddress.Loopback, port);
        _writePerPacket = writePerPacket;
        _pacer = new Thread(Pace) { IsBackground = true, Name = "bench-camera-pacer", Priority = ThreadPriority.Highest };
    }

    public int Port { get; private set; }
    public string Url => $"rtsp://127.0.0.1:{Port}/Streaming/Channels/101";
    /// <summary>RTP packets/bytes written per session (counted once, not per session).</summary>
    public long RtpPacketsSent => Interlocked.Read(ref _rtpPacketsSent);
    public long RtpBytesSent => Interlocked.Read(ref _rtpBytesSent);
    /// <summary>Access units (frames) sent so far: what a player counting frames should see over a window.</summary>
    public long UnitsSent => Interlocked.Read(ref _unitsSent);
    public int PlayingSessions => Volatile.Read(ref _sinks).Length;

    public void Start()
    {
        _listener.Start(64);
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _acceptLoop = AcceptLoop();
        _pacer.Start();
    }

    private async Task AcceptLoop()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket s;
            try
            {
                s = await _listener.AcceptSocketAsync(_stop.Token);
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }
            s.NoDelay = true;
            _ = Task.Run(() => Serve(s));
        }
    }

    /// <summary>The stream: one access unit every 40 ms, each to every playing session in one send.</summary>
    private void Pace()
    {
        ushort seq = (ushort)Random.Shared.Next();
        var rtpTime = (uint)Random.Shared.Next();
        var start = Stopwatch.GetTimestamp();
        var frame = 0L;
        while (!_stop.IsCancellationRequested)
        {
            var due = start + frame * Stopwatch.Frequency / H264Clip.Fps;
            var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), due);
            if (wait > TimeSpan.Zero)
            {
                Thread.Sleep(wait);
            }
            var unit = _clip.Units[(int)(frame % _clip.Units.Count)];
            var f = unit.Frames;
            foreach (var o in unit.RtpOffsets)
            {
                BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(o + 2), seq++);
                BinaryPrimitives.WriteUInt32BigEndian(f.AsSpan(o + 4), rtpTime);
                BinaryPrimitives.WriteUInt32BigEndian(f.AsSpan(o + 8), _ssrc);
            }
            rtpTime += 90000 / H264Clip.Fps;
            LatencyStamp.Write(f.AsSpan(unit.StampOffset, 8), Stopwatch.GetTimestamp());
            var sinks = Volatile.Read(ref _sinks);
            if (_writePerPacket)
            {
                for (var p = 0; p < unit.RtpOffsets.Length; p++)
                {
                    var from = unit.RtpOffsets[p] - 4;
                    var to = p + 1 < unit.RtpOffsets.Length ? unit.RtpOffsets[p + 1] - 4 : f.Length;
                    foreach (var sink in sinks)
                    {
                        sink.Write(f, from, to - from);
                    }
                }
            }
            else
            {
                foreach (var sink in sinks)
                {
                    sink.Write(f, 0, f.Length);
                }
            }
            Interlocked.Add(ref _rtpPacketsSent, unit.PacketCount);
            Interlocked.Add(ref _rtpBytesSent, unit.RtpBytes);
            Interlocked.Increment(ref _unitsSent);
            frame++;
        }
    }

    private async Task Serve(Socket socket)
    {
        var sink = new Sink(socket);
        var buf = new byte[16 * 1024];
        var len = 0;
        var session = Random.Shared.NextInt64(1, long.MaxValue).ToString("X");
        try
        {
            while (true)
            {
                var n = await socket.ReceiveAsync(buf.AsMemory(len), SocketFlags.None, _stop.Token);
                if (n == 0)
                {
                    return;
                }
                len += n;
                var pos = 0;
                while (pos < len)
                {
                    if (buf[pos] == (byte)'$')
                    {
                        // RFC 2326 §10.12: interleaved frames (here the relay's RTCP receiver reports) between requests.
                        if (len - pos < 4 || len - pos < 4 + BinaryPrimitives.ReadUInt16BigEndian(buf.AsSpan(pos + 2)))
                        {
                            break;
                        }
                        pos += 4 + BinaryPrimitives.ReadUInt16BigEndian(buf.AsSpan(pos + 2));
                        continue;
                    }
                    var end = buf.AsSpan(pos, len - pos).IndexOf("\r\n\r\n"u8);
                    if (end < 0)
                    {
                        break;
                    }
                    var head = Encoding.ASCII.GetString(buf, pos, end);
                    var request = RtspText.Parse(head);
                    var bodyLength = int.TryParse(request.Header("Content-Length"), out var cl) ? cl : 0;
                    if (len - pos < end + 4 + bodyLength)
                    {
                        break;
                    }
                    pos += end + 4 + bodyLength;
                    if (!Handle(sink, request, session))
                    {
                        return;
                    }
                }
                Buffer.BlockCopy(buf, pos, buf, 0, len - pos);
                len -= pos;
                if (len == buf.Length)
                {
                    return; // a request larger than 16 KiB: not a client of ours
                }
            }
        }
        catch (Exception) when (_stop.IsCancellationRequested)
        {
        }
        catch (SocketException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
        finally
        {
            RemoveSink(sink);
            socket.Dispose();
        }
    }

    /// <returns>False to close the connection.</returns>
    private bool Handle(Sink sink, RtspText request, string session)
    {
        var cseq = request.Header("CSeq") ?? "0";
        string extra = "", body = "";
        var status = "200 OK";
        switch (request.Method)
        {
            case "OPTIONS":
                extra = "Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER, SET_PARAMETER\r\n";
                break;
            case "DESCRIBE":
                body = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=HikShare bench camera\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\na=control:*\r\n"
                    + "m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
                    + $"a=fmtp:96 packetization-mode=1;profile-level-id={Convert.ToHexString(_clip.Sps, 1, 3)};"
                    + $"sprop-parameter-sets={Convert.ToBase64String(_clip.Sps)},{Convert.ToBase64String(_clip.Pps)}\r\n"
                    + "a=recvonly\r\na=control:trackID=0\r\n";
                extra = $"Content-Base: {request.Url.TrimEnd('/')}/\r\nContent-Type: application/sdp\r\n";
                break;
            case "SETUP":
                var transport = request.Header("Transport") ?? "";
                if (!transport.Contains("RTP/AVP/TCP", StringComparison.OrdinalIgnoreCase))
                {
                    status = "461 Unsupported Transport";
                    break;
                }
                extra = $"Transport: RTP/AVP/TCP;unicast;interleaved=0-1;ssrc={_ssrc:X8}\r\nSession: {session};timeout=60\r\n";
                break;
            case "PLAY":
                extra = $"Session: {session}\r\nRange: npt=now-\r\n";
                break;
            case "TEARDOWN":
                RemoveSink(sink);
                sink.Write(Encoding.ASCII.GetBytes($"RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nSession: {session}\r\n\r\n"));
                return false;
            case "GET_PARAMETER":
            case "SET_PARAMETER":
                extra = $"Session: {session}\r\n";
                break;
            default:
                status = "501 Not Implemented";
                break;
        }
        var bytes = Encoding.ASCII.GetBytes($"RTSP/1.0 {status}\r\nCSeq: {cseq}\r\nServer: hikshare-bench-camera\r\n{extra}"
            + (body.Length > 0 ? $"Content-Length: {body.Length}\r\n\r\n{body}" : "\r\n"));
        sink.Write(bytes);
        if (request.Method == "PLAY")
        {
            lock (_sinksLock)
            {
                if (Array.IndexOf(_sinks, sink) < 0)
                {
                    _sinks = [.. _sinks, sink];
                }
            }
        }
        return true;
    }

    private void RemoveSink(Sink sink)
    {
        lock (_sinksLock)
        {
            _sinks = _sinks.Where(s => s != sink).ToArray();
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        await _acceptLoop;
        _pacer.Join();
        foreach (var s in Volatile.Read(ref _sinks))
        {
            s.Socket.Dispose();
        }
    }

    /// <summary>A playing session: responses and the stream share its socket, one writer at a time.</summary>
    private sealed class Sink(Socket socket)
    {
        private readonly Lock _write = new();
        public Socket Socket { get; } = socket;

        public void Write(byte[] data) => Write(data, 0, data.Length);

        public void Write(byte[] data, int offset, int count)
        {
            lock (_write)
            {
                try
                {
                    Socket.Send(data, offset, count, SocketFlags.None);
                }
                catch (SocketException)
                {
                    Socket.Dispose(); // the read loop ends and removes the sink
                }
                catch (ObjectDisposedException)
                {
                }
            }
        }
    }
}

/// <summary>An RTSP request or response head, parsed (setup path only: never on the packet path).</summary>
public sealed class RtspText
{
    public string Method { get; private init; } = "";
    public string Url { get; private init; } = "";
    public int Status { get; private init; }
    public string StatusLine { get; private init; } = "";
    public List<KeyValuePair<string, string>> Headers { get; } = [];

    public string? Header(string name) => Headers.FirstOrDefault(h => string.Equals(h.Key, name, StringComparison.OrdinalIgnoreCase)).Value;

    public static RtspText Parse(string head)
    {
        var lines = head.Split("\r\n");
        var first = lines[0].Split(' ', 3);
        var isResponse = first[0].StartsWith("RTSP/", StringComparison.Ordinal);
        var t = new RtspText
        {
            StatusLine = lines[0],
            Method = isResponse ? "" : first[0],
            Url = !isResponse && first.Length > 1 ? first[1] : "",
            Status = isResponse && first.Length > 1 && int.TryParse(first[1], out var s) ? s : 0,
        };
        foreach (var line in lines.Skip(1))
        {
            var colon = line.IndexOf(':');
            if (colon > 0)
            {
                t.Headers.Add(new(line[..colon].Trim(), line[(colon + 1)..].Trim()));
            }
        }
        return t;
    }
}
