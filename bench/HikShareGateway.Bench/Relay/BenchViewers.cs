using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;

namespace HikShareGateway.Bench.Relay;

/// <summary>How viewers present their token (contract §4).</summary>
public enum ViewerAuth { None, Bearer, Query }

/// <summary>
/// Lightweight RTSP viewers for the <c>fanout</c> benchmark: each is one TCP socket doing DESCRIBE, SETUP
/// (interleaved TCP) of every track, PLAY, then reading <c>$</c> frames into its own 68 KiB buffer with no
/// allocation per packet. Counted per viewer: RTP bytes and packets, sequence gaps per track, and the
/// latency of every stamped access unit (into one shared histogram, during the measuring window only).
/// </summary>
public sealed class BenchViewer : IDisposable
{
    private const int BufferSize = 68 * 1024; // holds the largest interleaved frame (4 + 65535 bytes)
    private readonly byte[] _buf = new byte[BufferSize];
    private int _start, _end;
    private readonly Socket _socket = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
    // rtsps:// URLs: everything through TLS (any server certificate accepted: the bench's is self-signed).
    private SslStream? _tls;
    private readonly string _url;
    private readonly string? _token;
    private readonly ViewerAuth _auth;
    private readonly LatencyHistogram _latency;
    private int _cseq;
    private string? _session;
    private readonly int[] _expectedSeq = [-1, -1, -1, -1];
    private readonly Lock _sendLock = new();

    // Cumulative counters; read by the bench between windows (64-bit reads are atomic).
    public long RtpBytes;
    public long RtpPackets;
    public long RtcpPackets;
    public long Gaps;
    public long Stamps;
    public long ClosedAt;

    public BenchViewer(string url, string? token, ViewerAuth auth, LatencyHistogram latency)
    {
        _url = url;
        _token = token;
        _auth = auth;
        _latency = latency;
    }

    public bool Playing { get; private set; }
    public bool Closed => Volatile.Read(ref ClosedAt) != 0;
    public string? Failure { get; private set; }
    public int Tracks { get; private set; }

    /// <summary>DESCRIBE, SETUP each track, PLAY. On failure <see cref="Failure"/> says what the server answered.</summary>
    public async Task<bool> StartAsync(CancellationToken ct)
    {
        try
        {
            var uri = new Uri(_url);
            await _socket.ConnectAsync(new IPEndPoint(IPAddress.Parse(uri.Host), uri.Port), ct);
            _socket.NoDelay = true;
            if (uri.Scheme == "rtsps")
            {
                _tls = new SslStream(new NetworkStream(_socket, ownsSocket: false), leaveInnerStreamOpen: false);
                await _tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = uri.Host, RemoteCertificateValidationCallback = (_, _, _, _) => true }, ct);
            }
            var requestUrl = _url.Split('?')[0];
            var describe = await RequestAsync("DESCRIBE", requestUrl, "Accept: application/sdp\r\n", ct);
            if (describe.Response.Status != 200)
            {
                return Fail("DESCRIBE", describe.Response);
            }
            var baseUrl = describe.Response.Header("Content-Base") ?? describe.Response.Header("Content-Location") ?? requestUrl;
            var controls = SdpTrackControls(describe.Body);
            if (controls.Count == 0)
            {
                Failure = "DESCRIBE: the SDP has no m= section";
                return false;
            }
            for (var i = 0; i < controls.Count && i < _expectedSeq.Length; i++)
            {
                var setup = await RequestAsync("SETUP", ResolveControl(baseUrl, controls[i]),
                    $"Transport: RTP/AVP/TCP;unicast;interleaved={2 * i}-{2 * i + 1}\r\n", ct);
                if (setup.Response.Status != 200)
                {
                    return Fail("SETUP", setup.Response);
                }
                _session ??= setup.Response.Header("Session")?.Split(';')[0].Trim();
            }
            Tracks = Math.Min(controls.Count, _expectedSeq.Length);
            var aggregate = describe.Body.Contains("\na=control:", StringComparison.Ordinal) && SessionControl(describe.Body) is { } sc
                ? ResolveControl(baseUrl, sc) : baseUrl;
            var play = await RequestAsync("PLAY", aggregate, "Range: npt=0.000-\r\n", ct);
            if (play.Response.Status != 200)
            {
                return Fail("PLAY", play.Response);
            }
            Playing = true;
            return true;
        }
        catch (Exception e) when (e is SocketException or IOException or OperationCanceledException or InvalidDataException or System.Security.Authentication.AuthenticationException)
        {
            Failure = $"{e.GetType().Name}: {e.Message}";
            return false;
        }
    }

    private bool Fail(string method, RtspText r)
    {
        Failure = $"{method}: {r.StatusLine}" + string.Concat(r.Headers.Where(h => h.Key.StartsWith("WWW-Auth", StringComparison.OrdinalIgnoreCase)).Select(h => $" [{h.Key}: {h.Value}]"));
        return false;
    }

    private static string ResolveControl(string baseUrl, string control)
    {
        if (control.StartsWith("rtsp://", StringComparison.OrdinalIgnoreCase) || control.StartsWith("rtsps://", StringComparison.OrdinalIgnoreCase))
        {
            return control;
        }
        if (control == "*")
        {
            return baseUrl;
        }
        // RFC 2326 §C.1.1 relative to Content-Base; a base without a trailing '/' still names the stream itself.
        var q = baseUrl.IndexOf('?');
        var path = q < 0 ? baseUrl : baseUrl[..q];
        return path.TrimEnd('/') + "/" + control + (q < 0 ? "" : baseUrl[q..]);
    }

    /// <summary>The a=control of each m= section, in order.</summary>
    private static List<string> SdpTrackControls(string sdp)
    {
        var controls = new List<string>();
        var inMedia = false;
        foreach (var raw in sdp.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (line.StartsWith("m=", StringComparison.Ordinal))
            {
                inMedia = true;
                controls.Add("*");
            }
            else if (inMedia && line.StartsWith("a=control:", StringComparison.Ordinal))
            {
                controls[^1] = line["a=control:".Length..];
            }
        }
        return controls;
    }

    private static string? SessionControl(string sdp)
    {
        foreach (var raw in sdp.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (line.StartsWith("m=", StringComparison.Ordinal))
            {
                return null;
            }
            if (line.StartsWith("a=control:", StringComparison.Ordinal))
            {
                return line["a=control:".Length..];
            }
        }
        return null;
    }

    private string WithToken(string url) => _auth == ViewerAuth.Query && _token is not null
        ? url + (url.Contains('?') ? "&" : "?") + "token=" + _token : url;

    /// <summary>A request outside the read loop (keep-alive, TEARDOWN); callers hold the send lock.</summary>
    private void SendNow(byte[] request)
    {
        if (_tls is null)
        {
            _socket.Send(request);
        }
        else
        {
            _tls.Write(request);
        }
    }

    private byte[] BuildRequest(string method, string url, string headers)
    {
        var auth = _auth == ViewerAuth.Bearer && _token is not null ? $"Authorization: Bearer {_token}\r\n" : "";
        var session = _session is null ? "" : $"Session: {_session}\r\n";
        return Encoding.ASCII.GetBytes($"{method} {WithToken(url)} RTSP/1.0\r\nCSeq: {Interlocked.Increment(ref _cseq)}\r\nUser-Agent: hikshare-bench\r\n{auth}{session}{headers}\r\n");
    }

    private async Task<(RtspText Response, string Body)> RequestAsync(string method, string url, string headers, CancellationToken ct)
    {
        if (_tls is null)
        {
            await _socket.SendAsync(BuildRequest(method, url, headers), SocketFlags.None, ct);
        }
        else
        {
            await _tls.WriteAsync(BuildRequest(method, url, headers), ct);
        }
        while (true)
        {
            // Skip interleaved frames that may precede the response (RFC 2326 §10.12).
            while (_end - _start >= 4 && _buf[_start] == (byte)'$')
            {
                var frame = 4 + BinaryPrimitives.ReadUInt16BigEndian(_buf.AsSpan(_start + 2));
                if (_end - _start < frame)
                {
                    break;
                }
                _start += frame;
            }
            var headEnd = _buf.AsSpan(_start, _end - _start).IndexOf("\r\n\r\n"u8);
            if (headEnd >= 0 && _buf[_start] != (byte)'$')
            {
                var response = RtspText.Parse(Encoding.ASCII.GetString(_buf, _start, headEnd));
                var length = int.TryParse(response.Header("Content-Length"), out var cl) ? cl : 0;
                if (_end - _start >= headEnd + 4 + length)
                {
                    var body = Encoding.UTF8.GetString(_buf, _start + headEnd + 4, length);
                    _start += headEnd + 4 + length;
                    return (response, body);
                }
            }
            Compact();
            if (_end == BufferSize)
            {
                throw new InvalidDataException("response larger than 64 KiB");
            }
            var n = _tls is null ? await _socket.ReceiveAsync(_buf.AsMemory(_end), SocketFlags.None, ct) : await _tls.ReadAsync(_buf.AsMemory(_end), ct);
            if (n == 0)
            {
                throw new IOException($"the server closed the connection after {method}");
            }
            _end += n;
        }
    }

    private void Compact()
    {
        if (_start > 0)
        {
            Buffer.BlockCopy(_buf, _start, _buf, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }
    }

    /// <summary>Keep-alive (GET_PARAMETER with the session), sent from another task while the read loop runs.</summary>
    public void SendKeepAlive()
    {
        if (!Playing || Closed)
        {
            return;
        }
        var request = BuildRequest("GET_PARAMETER", _url.Split('?')[0], "");
        lock (_sendLock)
        {
            try
            {
                SendNow(request);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException or IOException)
            {
            }
        }
    }

    /// <summary>Reads frames until the connection ends; returns when it does.</summary>
    public async Task ReadLoopAsync()
    {
        try
        {
            while (true)
            {
                Parse();
                Compact();
                var n = _tls is null ? await _socket.ReceiveAsync(_buf.AsMemory(_end), SocketFlags.None) : await _tls.ReadAsync(_buf.AsMemory(_end));
                if (n == 0)
                {
                    break;
                }
                _end += n;
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or InvalidDataException or IOException)
        {
        }
        Volatile.Write(ref ClosedAt, Stopwatch.GetTimestamp());
    }

    private void Parse()
    {
        var b = _buf;
        while (_end - _start >= 4)
        {
            var p = _start;
            if (b[p] != (byte)'$')
            {
                // An RTSP response (to a keep-alive) between frames: skip its head and body.
                var headEnd = b.AsSpan(p, _end - p).IndexOf("\r\n\r\n"u8);
                if (headEnd < 0)
                {
                    if (_end - p > 8192)
                    {
                        throw new InvalidDataException("neither an interleaved frame nor an RTSP message");
                    }
                    return;
                }
                var cl = b.AsSpan(p, headEnd).IndexOf("Content-Length:"u8);
                var body = 0;
                if (cl >= 0)
                {
                    var digits = b.AsSpan(p + cl + 15, headEnd - cl - 15).TrimStart((byte)' ');
                    foreach (var d in digits)
                    {
                        if (d is < (byte)'0' or > (byte)'9') { break; }
                        body = body * 10 + (d - '0');
                    }
                }
                if (_end - p < headEnd + 4 + body)
                {
                    return;
                }
                _start = p + headEnd + 4 + body;
                continue;
            }
            var channel = b[p + 1];
            var length = (b[p + 2] << 8) | b[p + 3];
            if (_end - p < 4 + length)
            {
                return;
            }
            if ((channel & 1) == 0 && channel / 2 < _expectedSeq.Length && length >= 12)
            {
                OnRtp(channel / 2, b.AsSpan(p + 4, length));
            }
            else
            {
                RtcpPackets++;
            }
            _start = p + 4 + length;
        }
    }

    private void OnRtp(int track, ReadOnlySpan<byte> rtp)
    {
        RtpBytes += rtp.Length;
        RtpPackets++;
        var seq = (rtp[2] << 8) | rtp[3];
        var expected = _expectedSeq[track];
        if (expected >= 0 && seq != expected)
        {
            var diff = (ushort)(seq - expected);
            if (diff >= 0x8000)
            {
                return; // late or duplicate: not a gap, keep expecting the same number
            }
            Gaps += diff;
        }
        _expectedSeq[track] = (seq + 1) & 0xffff;
        if (track != 0)
        {
            return;
        }
        // RTP header: 12 bytes + CSRCs + extension (RFC 3550 §5.1, §5.3.1).
        var offset = 12 + 4 * (rtp[0] & 0x0f);
        if ((rtp[0] & 0x10) != 0)
        {
            if (rtp.Length < offset + 4)
            {
                return;
            }
            offset += 4 + 4 * ((rtp[offset + 2] << 8) | rtp[offset + 3]);
        }
        if (rtp.Length <= offset)
        {
            return;
        }
        var payload = rtp[offset..];
        switch (payload[0] & 0x1f)
        {
            case 6:
                Stamp(payload);
                break;
            case 24: // STAP-A (RFC 6184 §5.7.1): 16-bit size, NAL, repeated
                var s = payload[1..];
                while (s.Length > 2)
                {
                    var size = (s[0] << 8) | s[1];
                    if (size == 0 || size > s.Length - 2)
                    {
                        break;
                    }
                    if ((s[2] & 0x1f) == 6)
                    {
                        Stamp(s.Slice(2, size));
                    }
                    s = s[(2 + size)..];
                }
                break;
            case 28: // FU-A start of an SEI: rebuild the NAL header from the FU indicator and header
                if (payload.Length > 2 && (payload[1] & 0x80) != 0 && (payload[1] & 0x1f) == 6)
                {
                    Span<byte> nal = stackalloc byte[32];
                    var n = Math.Min(nal.Length, payload.Length - 1);
                    payload.Slice(1, n).CopyTo(nal);
                    nal[0] = (byte)((payload[0] & 0xe0) | 6);
                    Stamp(nal[..n]);
                }
                break;
        }
    }

    private void Stamp(ReadOnlySpan<byte> nal)
    {
        if (LatencyStamp.TryRead(nal, out var sent))
        {
            Stamps++;
            _latency.Record(Stopwatch.GetTimestamp() - sent);
        }
    }

    public void Dispose()
    {
        if (Playing && !Closed)
        {
            try
            {
                lock (_sendLock)
                {
                    SendNow(BuildRequest("TEARDOWN", _url.Split('?')[0], ""));
                }
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException or IOException)
            {
            }
        }
        _socket.Dispose();
        _tls?.Dispose();
    }
}

/// <summary>Latency histogram in 10 µs buckets up to 10 s, shared by all viewers; records only while enabled.</summary>
public sealed class LatencyHistogram
{
    private const long BucketTicksDivisor = 10_000; // Stopwatch ticks are ns on Linux; see the constructor
    private readonly long[] _buckets = new long[1_000_001];
    private readonly double _nsPerTick = 1e9 / Stopwatch.Frequency;
    private volatile bool _enabled;
    private long _max;

    public bool Enabled { get => _enabled; set => _enabled = value; }

    public void Record(long ticks)
    {
        if (!_enabled)
        {
            return;
        }
        var ns = (long)(ticks * _nsPerTick);
        if (ns < 0)
        {
            ns = 0;
        }
        var i = Math.Min(ns / BucketTicksDivisor, _buckets.Length - 1);
        Interlocked.Increment(ref _buckets[i]);
        if (ns > Volatile.Read(ref _max))
        {
            Interlocked.Exchange(ref _max, ns); // racy max: good enough for a printed figure
        }
    }

    public void Reset()
    {
        Array.Clear(_buckets);
        _max = 0;
    }

    public long Count => _buckets.Sum();

    /// <summary>The p-quantile in ms (bucket upper bound).</summary>
    public double PercentileMs(double p)
    {
        var total = Count;
        if (total == 0)
        {
            return double.NaN;
        }
        var rank = (long)Math.Ceiling(p * total);
        long seen = 0;
        for (var i = 0; i < _buckets.Length; i++)
        {
            seen += _buckets[i];
            if (seen >= rank)
            {
                return (i + 1) * BucketTicksDivisor / 1e6;
            }
        }
        return double.NaN;
    }

    public double MaxMs => Volatile.Read(ref _max) / 1e6;
}
