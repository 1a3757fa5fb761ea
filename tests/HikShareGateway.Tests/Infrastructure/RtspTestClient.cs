using System.Net;
using System.Net.Security;
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
/// The one raw RTSP/1.0 client of the tests, over one TCP (or TLS) connection, for tests that need to say exactly
/// what goes on the wire (ONVIF Require headers, malformed requests, interleaved RTP the client sends, a socket that
/// stops reading) where ffmpeg and gst-launch cannot. Requests are sequential. Interleaved frames (RFC 2326 §10.12:
/// they may arrive between and before responses) are counted per channel. Two ways of reading:
/// <list type="bullet">
/// <item><see cref="ConnectAsync(Uri, NetworkCredential?, CancellationToken)"/>: a background reader drains the socket,
/// separates responses from frames and counts the frames; tests poll the counters.</item>
/// <item><see cref="ConnectAsync(int, int?)"/> and <see cref="ConnectTlsAsync"/>: nothing is read until the test asks
/// (<see cref="ReadAsync"/>, <see cref="ReadPacketsAsync"/>, a request waiting for its response), so the test sees
/// every frame in order, and a client that does not ask is a viewer that stopped reading.</item>
/// </list>
/// <see cref="SendAsync"/> adds CSeq, User-Agent, the last Session and, on a 401 when <see cref="Credentials"/> are
/// set, answers the challenge once (Digest, RFC 2617 without qop, or Basic). <see cref="RequestAsync"/> adds CSeq only.
/// </summary>
public sealed class RtspTestClient : IAsyncDisposable
{
    private static readonly TimeSpan ResponseTimeout = TimeSpan.FromSeconds(15);

    private readonly Socket _socket;
    private readonly Stream _stream;
    private readonly Channel<RtspResponse>? _responses; // background mode only
    private readonly CancellationTokenSource _stop = new();
    private readonly Task? _reader;
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly long[] _framesPerChannel = new long[256];
    private readonly long[] _bytesPerChannel = new long[256];
    private byte[] _buffer = new byte[64 * 1024];
    private int _start, _end;
    private int _cseq;
    private string? _authChallenge;

    private RtspTestClient(Socket socket, Stream stream, bool background)
    {
        _socket = socket;
        _stream = stream;
        if (background)
        {
            _responses = Channel.CreateUnbounded<RtspResponse>();
            _reader = Task.Run(ReadLoopAsync);
        }
    }

    public NetworkCredential? Credentials { get; set; }

    public Socket Socket => _socket;

    /// <summary>The session id from the last response that carried one (without ";timeout=").</summary>
    public string? Session { get; private set; }

    /// <summary>Completes when the server closed the connection (or the client was disposed); in pull mode, once a read saw it.</summary>
    public Task Closed => _closed.Task;

    /// <summary>True once the server closed the connection (or the client was disposed).</summary>
    public bool IsClosed => _closed.Task.IsCompleted;

    public long InterleavedFrames(byte channel) => Interlocked.Read(ref _framesPerChannel[channel]);

    public long InterleavedBytes(byte channel) => Interlocked.Read(ref _bytesPerChannel[channel]);

    /// <summary>Connects to <paramref name="url"/>'s host and port; a background reader counts frames.</summary>
    public static async Task<RtspTestClient> ConnectAsync(Uri url, NetworkCredential? credentials = null, CancellationToken ct = default)
    {
        var socket = await ConnectSocketAsync(url.Host, url.Port > 0 ? url.Port : 554, null, ct);
        return new RtspTestClient(socket, new NetworkStream(socket, ownsSocket: true), background: true) { Credentials = credentials };
    }

    /// <summary>Connects to 127.0.0.1:<paramref name="port"/>; reads only when asked.</summary>
    public static async Task<RtspTestClient> ConnectAsync(int port, int? receiveBuffer = null)
    {
        var socket = await ConnectSocketAsync("127.0.0.1", port, receiveBuffer, default);
        return new RtspTestClient(socket, new NetworkStream(socket, ownsSocket: true), background: false);
    }

    /// <summary>RTSPS: the same through TLS, accepting any server certificate (the tests' are self-signed); reads only when asked.</summary>
    public static async Task<RtspTestClient> ConnectTlsAsync(int port, int? receiveBuffer = null)
    {
        var socket = await ConnectSocketAsync("127.0.0.1", port, receiveBuffer, default);
        var tls = new SslStream(new NetworkStream(socket, ownsSocket: true), false, (_, _, _, _) => true);
        await tls.AuthenticateAsClientAsync("127.0.0.1");
        return new RtspTestClient(socket, tls, background: false);
    }

    /// <summary>
    /// Over any duplex stream (e.g. an external TLS client's stdin and stdout: openssl s_client); reads only when asked.
    /// <see cref="Socket"/> is then an unconnected placeholder.
    /// </summary>
    public static RtspTestClient Over(Stream stream) => new(new Socket(SocketType.Stream, ProtocolType.Tcp), stream, background: false);

    private static async Task<Socket> ConnectSocketAsync(string host, int port, int? receiveBuffer, CancellationToken ct)
    {
        var s = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        if (receiveBuffer is { } rb)
        {
            s.ReceiveBufferSize = rb; // before connecting, so the window the server sees is small from the start
        }
        try
        {
            await s.ConnectAsync(host, port, ct);
        }
        catch
        {
            s.Dispose();
            throw;
        }
        return s;
    }

    /// <summary>RTSPS (<see cref="ConnectTlsAsync"/>): sends TLS close_notify; the socket stays open.</summary>
    public async Task SendCloseNotifyAsync() => await ((SslStream)_stream).ShutdownAsync();

    public Task SendRawAsync(string text) => WriteAsync(Encoding.UTF8.GetBytes(text), default);

    public Task SendRawAsync(byte[] bytes) => WriteAsync(bytes, default);

    /// <summary>Sends a request (CSeq, User-Agent, Session and Authorization added) and returns its response.</summary>
    public async Task<RtspResponse> SendAsync(string method, string uri, IEnumerable<KeyValuePair<string, string>>? headers = null, CancellationToken ct = default)
    {
        var extra = headers?.ToList() ?? [];
        var response = await SendOnceAsync(method, uri, extra, automatic: true, ct);
        if (response.StatusCode == 401 && Credentials is not null && response.Header("WWW-Authenticate") is { } challenge && challenge != _authChallenge)
        {
            _authChallenge = challenge;
            response = await SendOnceAsync(method, uri, extra, automatic: true, ct);
        }
        return response;
    }

    /// <summary>Sends exactly these headers (CSeq added) and returns the response, skipping frames before it.</summary>
    public Task<RtspResponse> RequestAsync(string method, string uri, params (string Name, string Value)[] headers) =>
        SendOnceAsync(method, uri, [.. headers.Select(h => new KeyValuePair<string, string>(h.Name, h.Value))], automatic: false, default);

    /// <summary>DESCRIBE, SETUP of every track (interleaved 2i/2i+1), PLAY. Returns the DESCRIBE and the PLAY response (or the first that failed).</summary>
    public async Task<(RtspResponse Describe, RtspResponse Play)> PlayAsync(string url, params (string, string)[] auth)
    {
        var describe = await RequestAsync("DESCRIBE", url, [("Accept", "application/sdp"), .. auth]);
        if (describe.StatusCode != 200)
        {
            return (describe, describe);
        }
        var media = TestSdp.ParseMedia(describe.Body);
        var q = url.IndexOf('?');
        var (path, query) = q < 0 ? (url, "") : (url[..q], url[q..]);
        string? session = null;
        for (var i = 0; i < media.Count; i++)
        {
            var headers = new List<(string, string)> { ("Transport", $"RTP/AVP/TCP;unicast;interleaved={2 * i}-{2 * i + 1}") };
            headers.AddRange(auth);
            if (session is not null)
            {
                headers.Add(("Session", session));
            }
            var setup = await RequestAsync("SETUP", path + "/" + media[i].Control + query, [.. headers]);
            if (setup.StatusCode != 200)
            {
                return (describe, setup);
            }
            session = setup.Header("Session")!.Split(';')[0];
        }
        var play = await RequestAsync("PLAY", url, [("Session", session!), ("Range", "npt=0.000-"), .. auth]);
        return (describe, play);
    }

    private async Task<RtspResponse> SendOnceAsync(string method, string uri, List<KeyValuePair<string, string>> headers, bool automatic, CancellationToken ct)
    {
        var sb = new StringBuilder();
        sb.Append(method).Append(' ').Append(uri).Append(" RTSP/1.0\r\n");
        sb.Append("CSeq: ").Append(Interlocked.Increment(ref _cseq)).Append("\r\n");
        if (automatic)
        {
            sb.Append("User-Agent: HikShareGateway.Tests\r\n");
            if (Session is not null && !headers.Any(h => h.Key.Equals("Session", StringComparison.OrdinalIgnoreCase)))
            {
                sb.Append("Session: ").Append(Session).Append("\r\n");
            }
            if (_authChallenge is not null && Credentials is not null)
            {
                sb.Append("Authorization: ").Append(Authorize(_authChallenge, Credentials, method, uri)).Append("\r\n");
            }
        }
        foreach (var (k, v) in headers)
        {
            sb.Append(k).Append(": ").Append(v).Append("\r\n");
        }
        sb.Append("\r\n");
        await WriteAsync(Encoding.ASCII.GetBytes(sb.ToString()), ct);

        var response = _responses is null ? await PullResponseAsync(method, uri) : await TakeResponseAsync(method, uri, ct);
        if (response.Header("Session") is { } session)
        {
            Session = session.Split(';')[0].Trim();
        }
        return response;
    }

    private async Task<RtspResponse> TakeResponseAsync(string method, string uri, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(ResponseTimeout);
        try
        {
            return await _responses!.Reader.ReadAsync(timeout.Token);
        }
        catch (ChannelClosedException)
        {
            throw new IOException($"RTSP connection closed before the response to {method} {uri}");
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new TimeoutException($"No RTSP response to {method} {uri} within {ResponseTimeout.TotalSeconds:0} s");
        }
    }

    private async Task<RtspResponse> PullResponseAsync(string method, string uri)
    {
        // One budget for the whole wait: media arriving all along must not keep a missing response waited for forever.
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            var left = ResponseTimeout - waited.Elapsed;
            if (left <= TimeSpan.Zero)
            {
                throw new TimeoutException($"No RTSP response to {method} {uri} within {ResponseTimeout.TotalSeconds:0} s");
            }
            var item = await ReadAsync(left);
            if (item.Message is { } m)
            {
                return m;
            }
            if (item.Closed)
            {
                throw new IOException($"RTSP connection closed before the response to {method} {uri}");
            }
            if (item.TimedOut)
            {
                throw new TimeoutException($"No RTSP response to {method} {uri} within {ResponseTimeout.TotalSeconds:0} s");
            }
        }
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

    /// <summary>One response or interleaved frame as the pull reader returns it; <see cref="Closed"/> at EOF, <see cref="TimedOut"/> after the timeout.</summary>
    public readonly record struct Item(RtspResponse? Message, byte Channel, byte[]? Payload, bool Closed, bool TimedOut);

    /// <summary>The next response or interleaved frame (pull mode: clients connected by port).</summary>
    public async Task<Item> ReadAsync(TimeSpan timeout)
    {
        if (_responses is not null)
        {
            throw new InvalidOperationException("This client reads in the background (connected by URL); use the counters.");
        }
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            return await ReadItemAsync(keepPayload: true, cts.Token);
        }
        catch (OperationCanceledException)
        {
            return new Item(null, 0, null, false, true);
        }
    }

    /// <summary>Reads until <paramref name="count"/> RTP packets arrived on <paramref name="channel"/> (returns them) or the timeout or EOF.</summary>
    public async Task<List<byte[]>> ReadPacketsAsync(int count, TimeSpan timeout, int channel = 0)
    {
        var packets = new List<byte[]>();
        var deadline = System.Diagnostics.Stopwatch.StartNew();
        while (packets.Count < count && deadline.Elapsed < timeout)
        {
            var item = await ReadAsync(timeout - deadline.Elapsed);
            if (item.Closed || item.TimedOut)
            {
                break;
            }
            if (item.Payload is { } p && item.Channel == channel)
            {
                packets.Add(p);
            }
        }
        return packets;
    }

    /// <summary>Reads (and discards) until the server closes the connection; false on timeout.</summary>
    public async Task<bool> WaitClosedAsync(TimeSpan timeout)
    {
        var deadline = System.Diagnostics.Stopwatch.StartNew();
        while (deadline.Elapsed < timeout)
        {
            var item = await ReadAsync(timeout - deadline.Elapsed);
            if (item.Closed)
            {
                return true;
            }
            if (item.TimedOut)
            {
                return false;
            }
        }
        return false;
    }

    private async Task ReadLoopAsync()
    {
        try
        {
            while (true)
            {
                var item = await ReadItemAsync(keepPayload: false, _stop.Token);
                if (item.Closed)
                {
                    break;
                }
                if (item.Message is { } m)
                {
                    _responses!.Writer.TryWrite(m);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Disposed.
        }
        finally
        {
            _responses!.Writer.TryComplete();
            _closed.TrySetResult();
        }
    }

    /// <summary>The next item from the buffer, reading the socket when it holds no complete one; Closed at EOF.</summary>
    private async Task<Item> ReadItemAsync(bool keepPayload, CancellationToken ct)
    {
        while (true)
        {
            if (TryTakeItem(_buffer.AsSpan(_start, _end - _start), keepPayload, out var used, out var item))
            {
                _start += used;
                if (item is { } taken)
                {
                    return taken;
                }
                continue; // a request from the server: not a response to ours, dropped
            }
            if (_start > 0)
            {
                Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
                _end -= _start;
                _start = 0;
            }
            if (_end == _buffer.Length)
            {
                Array.Resize(ref _buffer, _buffer.Length * 2);
            }
            int n;
            try
            {
                n = await _stream.ReadAsync(_buffer.AsMemory(_end), ct);
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException or SocketException)
            {
                n = 0;
            }
            if (n == 0)
            {
                _closed.TrySetResult();
                return new Item(null, 0, null, true, false);
            }
            _end += n;
        }
    }

    /// <summary>
    /// One interleaved frame or one complete message from the front of <paramref name="data"/>; false = need more
    /// bytes. <paramref name="item"/> is null for a request from the server (e.g. a keep-alive), which tests never expect.
    /// </summary>
    private bool TryTakeItem(ReadOnlySpan<byte> data, bool keepPayload, out int used, out Item? item)
    {
        used = 0;
        item = null;
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
            item = new Item(null, data[1], keepPayload ? data.Slice(4, length).ToArray() : null, false, false);
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
        // Status line: "RTSP/1.0 200 OK".
        var status = head[0].Split(' ', 3);
        if (status.Length >= 2 && status[0].StartsWith("RTSP/", StringComparison.Ordinal) && int.TryParse(status[1], out var code))
        {
            item = new Item(new RtspResponse(code, status.Length > 2 ? status[2] : "", headers, body), 0, null, false, false);
        }
        else if (head[0].Split(' ').Length != 3 || !head[0].EndsWith(" RTSP/1.0", StringComparison.Ordinal))
        {
            throw new InvalidDataException("the server sent malformed RTSP: " + head[0]);
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
        await _stream.DisposeAsync();
        _socket.Dispose();
        if (_reader is not null)
        {
            try
            {
                await _reader.WaitAsync(TimeSpan.FromSeconds(2));
            }
            catch (TimeoutException)
            {
            }
        }
        _closed.TrySetResult();
        _stop.Dispose();
        _writeLock.Dispose();
    }
}
