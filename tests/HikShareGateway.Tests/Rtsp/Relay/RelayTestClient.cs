using System.Buffers;
using System.Net.Sockets;
using System.Text;
using HikShareGateway.Rtsp.Protocol;

namespace HikShareGateway.Tests.Rtsp.Relay;

/// <summary>A raw RTSP client for precise assertions: sends requests, reads responses and interleaved frames in order.</summary>
internal sealed class RelayTestClient : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly Stream _stream;
    private byte[] _buffer = new byte[256 * 1024];
    private int _start, _end;
    private int _cseq;

    private RelayTestClient(Socket socket, Stream? stream = null)
    {
        _socket = socket;
        _stream = stream ?? new NetworkStream(socket, ownsSocket: true);
    }

    public Socket Socket => _socket;

    public static async Task<RelayTestClient> ConnectAsync(int port, int? receiveBuffer = null)
        => new(await ConnectSocketAsync(port, receiveBuffer));

    private static async Task<Socket> ConnectSocketAsync(int port, int? receiveBuffer)
    {
        var s = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        if (receiveBuffer is { } rb)
        {
            s.ReceiveBufferSize = rb;
        }
        await s.ConnectAsync("127.0.0.1", port);
        return s;
    }

    /// <summary>RTSPS: the same client through TLS, accepting any server certificate (the tests' are self-signed).</summary>
    public static async Task<RelayTestClient> ConnectTlsAsync(int port, int? receiveBuffer = null)
    {
        var s = await ConnectSocketAsync(port, receiveBuffer);
        var tls = new System.Net.Security.SslStream(new NetworkStream(s, ownsSocket: true), false, (_, _, _, _) => true);
        await tls.AuthenticateAsClientAsync("127.0.0.1");
        return new RelayTestClient(s, tls);
    }

    public Task SendRawAsync(string text) => _stream.WriteAsync(Encoding.UTF8.GetBytes(text)).AsTask();

    public Task SendRawAsync(byte[] bytes) => _stream.WriteAsync(bytes).AsTask();

    /// <summary>Sends a request (CSeq added) and returns its response, skipping interleaved frames.</summary>
    public async Task<RtspMessage> RequestAsync(string method, string uri, params (string Name, string Value)[] headers)
    {
        var request = RtspMessage.Request(method, uri);
        request.Headers.Add("CSeq", (++_cseq).ToString());
        foreach (var (n, v) in headers)
        {
            request.Headers.Add(n, v);
        }
        await SendRawAsync(request.ToBytes());
        while (true)
        {
            var item = await ReadAsync(TimeSpan.FromSeconds(15));
            if (item.Message is { IsRequest: false } m)
            {
                return m;
            }
            if (item.Closed)
            {
                throw new IOException($"connection closed before the response to {method}");
            }
        }
    }

    /// <summary>DESCRIBE, SETUP of every track (interleaved 2i/2i+1), PLAY. Returns the PLAY response.</summary>
    public async Task<(RtspMessage Describe, RtspMessage Play)> PlayAsync(string url, params (string, string)[] auth)
    {
        var describe = await RequestAsync("DESCRIBE", url, [("Accept", "application/sdp"), .. auth]);
        if (describe.StatusCode != 200)
        {
            return (describe, describe);
        }
        var sdp = SessionDescription.Parse(describe.BodyText);
        string? session = null;
        for (var i = 0; i < sdp.Media.Count; i++)
        {
            var (path, query) = Split(url);
            var setupUrl = path + "/" + sdp.Media[i].Control + query;
            var headers = new List<(string, string)> { ("Transport", $"RTP/AVP/TCP;unicast;interleaved={2 * i}-{2 * i + 1}") };
            headers.AddRange(auth);
            if (session is not null)
            {
                headers.Add(("Session", session));
            }
            var setup = await RequestAsync("SETUP", setupUrl, [.. headers]);
            if (setup.StatusCode != 200)
            {
                return (describe, setup);
            }
            session = setup.Headers.Get("Session")!.Split(';')[0];
        }
        var play = await RequestAsync("PLAY", url, [("Session", session!), ("Range", "npt=0.000-"), .. auth]);
        return (describe, play);
    }

    private static (string, string) Split(string url)
    {
        var q = url.IndexOf('?');
        return q < 0 ? (url, "") : (url[..q], url[q..]);
    }

    public readonly record struct Item(RtspMessage? Message, byte Channel, byte[]? Payload, bool Closed, bool TimedOut);

    /// <summary>The next message or interleaved frame; <see cref="Item.Closed"/> at EOF, <see cref="Item.TimedOut"/> after the timeout.</summary>
    public async Task<Item> ReadAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (true)
        {
            if (_end > _start)
            {
                var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(_buffer, _start, _end - _start));
                var status = RtspParser.TryRead(ref reader, RtspLimits.Default, out var message, out var frame, out var error);
                if (status == RtspReadStatus.Error)
                {
                    throw new InvalidDataException("the gateway sent malformed RTSP: " + error);
                }
                if (status == RtspReadStatus.Message)
                {
                    _start += (int)reader.Consumed;
                    return new Item(message, 0, null, false, false);
                }
                if (status == RtspReadStatus.Interleaved)
                {
                    var payload = reader.UnreadSequence.Slice(0, frame.Length).ToArray();
                    _start += (int)reader.Consumed + frame.Length;
                    return new Item(null, frame.Channel, payload, false, false);
                }
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
                n = await _stream.ReadAsync(_buffer.AsMemory(_end), cts.Token);
            }
            catch (OperationCanceledException)
            {
                return new Item(null, 0, null, false, true);
            }
            catch (IOException)
            {
                return new Item(null, 0, null, true, false);
            }
            if (n == 0)
            {
                return new Item(null, 0, null, true, false);
            }
            _end += n;
        }
    }

    /// <summary>Reads interleaved frames until <paramref name="count"/> RTP packets arrived (returns them) or the timeout.</summary>
    public async Task<List<byte[]>> ReadPacketsAsync(int count, TimeSpan timeout, int channel = 0)
    {
        var packets = new List<byte[]>();
        var deadline = DateTime.UtcNow + timeout;
        while (packets.Count < count && DateTime.UtcNow < deadline)
        {
            var item = await ReadAsync(deadline - DateTime.UtcNow);
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

    /// <summary>Waits until the gateway closes the connection, reading (and discarding) what arrives; false on timeout.</summary>
    public async Task<bool> WaitClosedAsync(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            var item = await ReadAsync(deadline - DateTime.UtcNow);
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

    public async ValueTask DisposeAsync()
    {
        await _stream.DisposeAsync();
    }
}
