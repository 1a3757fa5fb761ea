using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Threading.Channels;

namespace HikShareGateway.Tests.Infrastructure;

/// <summary>An RTSP response as a test sees it; header names compare case-insensitively (RFC 2326 §4.2).</summary>
public sealed record RtspResponse(int StatusCode, string Reason, IReadOnlyList<KeyValuePair<string, string>> Headers, string Body)
{
    public string? Header(string name) => Headers.FirstOrDefault(h => string.Equals(h.Key, name, StringComparison.OrdinalIgnoreCase)).Value;

    public override string ToString() => $"{StatusCode} {Reason}\n{string.Join("\n", Headers.Select(h => $"{h.Key}: {h.Value}"))}\n\n{Body}";
}

/// <summary>
/// A deliberately small RTSP/1.0 client over one TCP connection, for tests that need to say exactly
/// what goes on the wire (ONVIF Require headers, interleaved RTP the client sends) where ffmpeg and
/// gst-launch cannot. Requests are sequential. A background reader separates responses from
/// interleaved frames (RFC 2326 §10.12: they may arrive between and before responses) and counts the
/// frames per channel. On 401 it answers the challenge once (Digest, RFC 2617 without qop, or Basic)
/// when <see cref="Credentials"/> are set.
/// </summary>
public sealed class RtspTestClient : IAsyncDisposable
{
    private static readonly TimeSpan ResponseTimeout = TimeSpan.FromSeconds(10);

    private readonly TcpClient _tcp;
    private readonly NetworkStream _stream;
    private readonly Channel<RtspResponse> _responses = Channel.CreateUnbounded<RtspResponse>();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _reader;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly long[] _framesPerChannel = new long[256];
    private readonly long[] _bytesPerChannel = new long[256];
    private int _cseq;
    private string? _authorization;
    private string? _authChallenge;

    private RtspTestClient(TcpClient tcp)
    {
        _tcp = tcp;
        _stream = tcp.GetStream();
        _reader = Task.Run(ReadLoopAsync);
    }

    public NetworkCredential? Credentials { get; set; }

    /// <summary>The session id from the last response that carried one (without ";timeout=").</summary>
    public string? Session { get; private set; }

    /// <summary>Completes when the server closed the connection (or the client was disposed).</summary>
    public Task Closed => _reader;

    /// <summary>True once the server closed the connection (or the client was disposed).</summary>
    public bool IsClosed => _reader.IsCompleted;

    public long InterleavedFrames(byte channel) => Interlocked.Read(ref _framesPerChannel[channel]);

    public long InterleavedBytes(byte channel) => Interlocked.Read(ref _bytesPerChannel[channel]);

    public static async Task<RtspTestClient> ConnectAsync(Uri url, NetworkCredential? credentials = null, CancellationToken ct = default)
    {
        var tcp = new TcpClient { NoDelay = true };
        try
        {
            await tcp.ConnectAsync(url.Host, url.Port > 0 ? url.Port : 554, ct);
        }
        catch
        {
            tcp.Dispose();
            throw;
        }
        return new RtspTestClient(tcp) { Credentials = credentials };
    }

    /// <summary>Sends a request (CSeq, Session and Authorization added) and returns its response.</summary>
    public async Task<RtspResponse> SendAsync(string method, string uri, IEnumerable<KeyValuePair<string, string>>? headers = null, CancellationToken ct = default)
    {
        var extra = headers?.ToList() ?? [];
        var response = await SendOnceAsync(method, uri, extra, ct);
        if (response.StatusCode == 401 && Credentials is not null && response.Header("WWW-Authenticate") is { } challenge && challenge != _authChallenge)
        {
            _authChallenge = challenge;
            response = await SendOnceAsync(method, uri, extra, ct);
        }
        return response;
    }

    private async Task<RtspResponse> SendOnceAsync(string method, string uri, List<KeyValuePair<string, string>> headers, CancellationToken ct)
    {
        var sb = new StringBuilder();
        sb.Append(method).Append(' ').Append(uri).Append(" RTSP/1.0\r\n");
        sb.Append("CSeq: ").Append(Interlocked.Increment(ref _cseq)).Append("\r\n");
        sb.Append("User-Agent: HikShareGateway.Tests\r\n");
        if (Session is not null && !headers.Any(h => h.Key.Equals("Session", StringComparison.OrdinalIgnoreCase)))
        {
            sb.Append("Session: ").Append(Session).Append("\r\n");
        }
        _authorization = _authChallenge is not null && Credentials is not null ? Authorize(_authChallenge, Credentials, method, uri) : null;
        if (_authorization is not null)
        {
            sb.Append("Authorization: ").Append(_authorization).Append("\r\n");
        }
        foreach (var (k, v) in headers)
        {
            sb.Append(k).Append(": ").Append(v).Append("\r\n");
        }
        sb.Append("\r\n");
        await WriteAsync(Encoding.ASCII.GetBytes(sb.ToString()), ct);

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(ResponseTimeout);
        RtspResponse response;
        try
        {
            response = await _responses.Reader.ReadAsync(timeout.Token);
        }
        catch (ChannelClosedException)
        {
            throw new IOException($"RTSP connection closed before the response to {method} {uri}");
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new TimeoutException($"No RTSP response to {method} {uri} within {ResponseTimeout.TotalSeconds:0} s");
        }
        if (response.Header("Session") is { } session)
        {
            Session = session.Split(';')[0].Trim();
        }
        return response;
    }

    /// <summary>Sends one interleaved frame: '$', channel, 16-bit length, payload (RFC 2326 §10.12).</summary>
    public Task SendInterleavedAsync(byte channel, ReadOnlyMemory<byte> payload, CancellationToken ct = default)
    {
        if (payload.Length > ushort.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(payload), "An interleaved frame carries at most 65535 bytes.");
        }
        var frame = new byte[4 + payload.Length];
        frame[0] = (byte)'$';
        frame[1] = channel;
        frame[2] = (byte)(payload.Length >> 8);
        frame[3] = (byte)payload.Length;
        payload.Span.CopyTo(frame.AsSpan(4));
        return WriteAsync(frame, ct);
    }

    private async Task WriteAsync(byte[] bytes, CancellationToken ct)
    {
        await _writeLock.WaitAsync(ct);
        try
        {
            await _stream.WriteAsync(bytes, ct);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    private async Task ReadLoopAsync()
    {
        var buf = new byte[64 * 1024];
        var filled = 0;
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                if (filled == buf.Length)
                {
                    Array.Resize(ref buf, buf.Length * 2);
                }
                var n = await _stream.ReadAsync(buf.AsMemory(filled), _stop.Token);
                if (n == 0)
                {
                    break;
                }
                filled += n;
                var consumed = 0;
                while (TryTakeMessage(buf.AsSpan(consumed, filled - consumed), out var used))
                {
                    consumed += used;
                }
                Buffer.BlockCopy(buf, consumed, buf, 0, filled - consumed);
                filled -= consumed;
            }
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException or SocketException)
        {
            // Connection closed or client disposed.
        }
        finally
        {
            _responses.Writer.TryComplete();
        }
    }

    /// <summary>One interleaved frame or one complete response from the front of <paramref name="data"/>; false = need more bytes.</summary>
    private bool TryTakeMessage(ReadOnlySpan<byte> data, out int used)
    {
        used = 0;
        if (data.IsEmpty)
        {
            return false;
        }
        if (data[0] == (byte)'$')
        {
            if (data.Length < 4)
            {
                return false;
            }
            var length = (data[2] << 8) | data[3];
            if (data.Length < 4 + length)
            {
                return false;
            }
            Interlocked.Increment(ref _framesPerChannel[data[1]]);
            Interlocked.Add(ref _bytesPerChannel[data[1]], length);
            used = 4 + length;
            return true;
        }
        var end = data.IndexOf("\r\n\r\n"u8);
        if (end < 0)
        {
            return false;
        }
        var head = Encoding.ASCII.GetString(data[..end]).Split("\r\n");
        var headers = new List<KeyValuePair<string, string>>();
        var contentLength = 0;
        foreach (var line in head.Skip(1))
        {
            var colon = line.IndexOf(':');
            if (colon <= 0)
            {
                continue;
            }
            var name = line[..colon].Trim();
            var value = line[(colon + 1)..].Trim();
            headers.Add(new(name, value));
            if (name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
            {
                contentLength = int.Parse(value, System.Globalization.CultureInfo.InvariantCulture);
            }
        }
        if (data.Length < end + 4 + contentLength)
        {
            return false;
        }
        var body = Encoding.UTF8.GetString(data.Slice(end + 4, contentLength));
        used = end + 4 + contentLength;
        // Status line: "RTSP/1.0 200 OK". A request from the server (e.g. a keep-alive) has no status
        // and is not a response to ours; tests here never expect one, so it is dropped.
        var status = head[0].Split(' ', 3);
        if (status.Length >= 2 && status[0].StartsWith("RTSP/", StringComparison.Ordinal) && int.TryParse(status[1], out var code))
        {
            _responses.Writer.TryWrite(new RtspResponse(code, status.Length > 2 ? status[2] : "", headers, body));
        }
        return true;
    }

    /// <summary>The Authorization header answering <paramref name="challenge"/> (RFC 2617 §3.2.2, without qop as gst-rtsp-server offers none).</summary>
    private static string Authorize(string challenge, NetworkCredential credentials, string method, string uri)
    {
        if (challenge.StartsWith("Basic", StringComparison.OrdinalIgnoreCase))
        {
            return "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{credentials.UserName}:{credentials.Password}"));
        }
        var p = ParseChallenge(challenge);
        var realm = p.GetValueOrDefault("realm", "");
        var nonce = p.GetValueOrDefault("nonce", "");
        var ha1 = Md5Hex($"{credentials.UserName}:{realm}:{credentials.Password}");
        var ha2 = Md5Hex($"{method}:{uri}");
        var response = Md5Hex($"{ha1}:{nonce}:{ha2}");
        return $"Digest username=\"{credentials.UserName}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", response=\"{response}\"";
    }

    private static Dictionary<string, string> ParseChallenge(string challenge)
    {
        var result = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var rest = challenge[(challenge.IndexOf(' ') + 1)..];
        foreach (var part in rest.Split(','))
        {
            var eq = part.IndexOf('=');
            if (eq > 0)
            {
                result[part[..eq].Trim()] = part[(eq + 1)..].Trim().Trim('"');
            }
        }
        return result;
    }

    private static string Md5Hex(string s) => Convert.ToHexStringLower(MD5.HashData(Encoding.UTF8.GetBytes(s)));

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _tcp.Dispose();
        try
        {
            await _reader.WaitAsync(TimeSpan.FromSeconds(2));
        }
        catch (TimeoutException)
        {
        }
        _stop.Dispose();
        _writeLock.Dispose();
    }
}
