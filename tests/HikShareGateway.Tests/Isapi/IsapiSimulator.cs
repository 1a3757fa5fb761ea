using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

namespace HikShareGateway.Tests.Isapi;

/// <summary>One request as the simulator saw it; <see cref="Authorized"/> says whether its Digest answer was right.</summary>
public sealed record IsapiRequest(string Method, string Path, bool Authorized, string? Authorization, string Body);

/// <summary>
/// A small Hikvision ISAPI device on 127.0.0.1 (HTTP/1.1, one request per connection): HTTP Digest (RFC 2617, qop=auth,
/// checked here independently of the gateway's helper), PTZ (<c>continuous</c>, <c>presets</c>, <c>goto</c>) and
/// two-way audio (<c>channels</c>, <c>open</c>, the streamed <c>audioData</c> the way devices take it — a 200 to the
/// request head, then raw G.711 read until the client closes — and <c>close</c>). Records every request and the audio.
/// </summary>
public sealed class IsapiSimulator : IAsyncDisposable
{
    public const string Realm = "IP Camera(C12345678)";
    private readonly Socket _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accept;
    private readonly MemoryStream _audio = new();
    private readonly string _nonce = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));

    public IsapiSimulator(string username = "admin", string password = "isapi-Pw1")
    {
        Username = username;
        Password = password;
        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(32);
        _accept = Task.Run(AcceptLoopAsync);
    }

    public string Username { get; }
    public string Password { get; }
    public Uri BaseUri => new($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndPoint!).Port}");

    /// <summary><c>G.711ulaw</c>, <c>G.711alaw</c>, <c>G.726</c>…; null: the device has no two-way audio (404).</summary>
    public string? TalkCodec { get; set; } = "G.711ulaw";
    /// <summary>The device has no PTZ (ISAPI answers 403 with <c>notSupport</c>).</summary>
    public bool Ptz { get; set; } = true;
    /// <summary>The next <c>open</c> is refused as if a stale session held the speaker.</summary>
    public bool FailNextOpen { get; set; }

    public ConcurrentQueue<IsapiRequest> Requests { get; } = new();
    /// <summary>Only the requests that passed authentication, as "METHOD /path".</summary>
    public IReadOnlyList<string> Authorized => Requests.Where(r => r.Authorized).Select(r => r.Method + " " + r.Path).ToList();
    public byte[] Audio { get { lock (_audio) { return _audio.ToArray(); } } }
    public int AudioConnectionsClosed => Volatile.Read(ref _audioClosed);
    private int _audioClosed;

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }
            _ = Task.Run(() => ServeAsync(client));
        }
    }

    private async Task ServeAsync(Socket client)
    {
        using var _ = client;
        await using var stream = new NetworkStream(client, ownsSocket: false);
        try
        {
            var (method, path, headers, body) = await ReadRequestAsync(stream);
            headers.TryGetValue("Authorization", out var authorization);
            var ok = CheckDigest(method, path, authorization);
            Requests.Enqueue(new IsapiRequest(method, path, ok, authorization, body));
            if (!ok)
            {
                await RespondAsync(stream, 401, "", ("WWW-Authenticate", $"Digest qop=\"auth\", realm=\"{Realm}\", nonce=\"{_nonce}\", stale=\"FALSE\""));
                return;
            }
            if (method == "PUT" && path.EndsWith("/audioData", StringComparison.Ordinal) && TalkCodec is not null)
            {
                // Hikvision: the head is answered, then the raw audio follows on this connection until the client closes.
                await RespondAsync(stream, 200, "", keepOpen: true);
                var buffer = new byte[4096];
                int n;
                while ((n = await stream.ReadAsync(buffer, _stop.Token)) > 0)
                {
                    lock (_audio)
                    {
                        _audio.Write(buffer, 0, n);
                    }
                }
                Interlocked.Increment(ref _audioClosed);
                return;
            }
            var (status, xml) = Handle(method, path);
            await RespondAsync(stream, status, xml);
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
        }
    }

    private (int Status, string Xml) Handle(string method, string path)
    {
        const string ns = "xmlns=\"http://www.hikvision.com/ver20/XMLSchema\"";
        static string Status(int code, string text, string? sub = null) =>
            $"<?xml version=\"1.0\" encoding=\"UTF-8\"?><ResponseStatus version=\"2.0\" {ns}><requestURL>x</requestURL><statusCode>{code}</statusCode><statusString>{text}</statusString>{(sub is null ? "" : $"<subStatusCode>{sub}</subStatusCode>")}</ResponseStatus>";
        if (path.StartsWith("/ISAPI/PTZCtrl/", StringComparison.Ordinal) && !Ptz)
        {
            return (403, Status(4, "Invalid Operation", "notSupport"));
        }
        if (path.StartsWith("/ISAPI/System/TwoWayAudio/", StringComparison.Ordinal) && TalkCodec is null)
        {
            return (404, Status(4, "Invalid Operation", "notSupport"));
        }
        switch (method, path)
        {
            case ("PUT", "/ISAPI/PTZCtrl/channels/1/continuous"):
            case ("PUT", "/ISAPI/PTZCtrl/channels/1/presets/2/goto"):
            case ("PUT", "/ISAPI/System/TwoWayAudio/channels/1/close"):
                return (200, Status(1, "OK"));
            case ("PUT", "/ISAPI/System/TwoWayAudio/channels/1/open"):
                if (FailNextOpen)
                {
                    FailNextOpen = false;
                    return (400, Status(4, "Invalid Operation", "deviceBusy"));
                }
                return (200, $"<?xml version=\"1.0\" encoding=\"UTF-8\"?><TwoWayAudioSession version=\"2.0\" {ns}><sessionId>3c8a</sessionId></TwoWayAudioSession>");
            case ("GET", "/ISAPI/PTZCtrl/channels/1/presets"):
                return (200, $"""
                    <?xml version="1.0" encoding="UTF-8"?>
                    <PTZPresetList version="2.0" {ns}>
                    <PTZPreset version="2.0" {ns}><enabled>true</enabled><id>1</id><presetName>Gate</presetName></PTZPreset>
                    <PTZPreset version="2.0" {ns}><enabled>true</enabled><id>2</id><presetName>Yard</presetName></PTZPreset>
                    <PTZPreset version="2.0" {ns}><enabled>false</enabled><id>3</id><presetName>Preset 3</presetName></PTZPreset>
                    </PTZPresetList>
                    """);
            case ("GET", "/ISAPI/System/TwoWayAudio/channels"):
                return (200, $"""
                    <?xml version="1.0" encoding="UTF-8"?>
                    <TwoWayAudioChannelList version="2.0" {ns}>
                    <TwoWayAudioChannel version="2.0" {ns}>
                    <id>1</id><enabled>false</enabled><audioCompressionType>{TalkCodec}</audioCompressionType>
                    <audioInputType>MicIn</audioInputType><speakerVolume>50</speakerVolume><noisereduce>false</noisereduce>
                    </TwoWayAudioChannel>
                    </TwoWayAudioChannelList>
                    """);
            default:
                return (404, Status(4, "Invalid Operation", "invalidOperation"));
        }
    }

    /// <summary>RFC 2617 §3.2.2 with qop=auth, computed here from the raw header.</summary>
    private bool CheckDigest(string method, string path, string? authorization)
    {
        if (authorization is null || !authorization.StartsWith("Digest ", StringComparison.Ordinal))
        {
            return false;
        }
        var p = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var part in SplitParams(authorization[7..]))
        {
            var eq = part.IndexOf('=');
            if (eq > 0)
            {
                p[part[..eq].Trim()] = part[(eq + 1)..].Trim().Trim('"');
            }
        }
        if (!p.TryGetValue("username", out var user) || user != Username || p.GetValueOrDefault("realm") != Realm
            || p.GetValueOrDefault("nonce") != _nonce || p.GetValueOrDefault("uri") != path || p.GetValueOrDefault("qop") != "auth")
        {
            return false;
        }
        static string Md5(string s) => Convert.ToHexStringLower(MD5.HashData(Encoding.UTF8.GetBytes(s)));
        var ha1 = Md5($"{Username}:{Realm}:{Password}");
        var ha2 = Md5($"{method}:{path}");
        var expected = Md5($"{ha1}:{_nonce}:{p.GetValueOrDefault("nc")}:{p.GetValueOrDefault("cnonce")}:auth:{ha2}");
        return p.GetValueOrDefault("response") == expected;
    }

    private static IEnumerable<string> SplitParams(string s)
    {
        var start = 0;
        var quoted = false;
        for (var i = 0; i < s.Length; i++)
        {
            if (s[i] == '"')
            {
                quoted = !quoted;
            }
            else if (s[i] == ',' && !quoted)
            {
                yield return s[start..i];
                start = i + 1;
            }
        }
        yield return s[start..];
    }

    private static async Task<(string Method, string Path, Dictionary<string, string> Headers, string Body)> ReadRequestAsync(NetworkStream stream)
    {
        var head = new List<byte>();
        var one = new byte[1];
        while (head.Count < 4 || !(head[^4] == '\r' && head[^3] == '\n' && head[^2] == '\r' && head[^1] == '\n'))
        {
            if (await stream.ReadAsync(one) == 0)
            {
                throw new IOException("closed");
            }
            head.Add(one[0]);
        }
        var lines = Encoding.ASCII.GetString([.. head]).Split("\r\n");
        var first = lines[0].Split(' ');
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var l in lines.Skip(1))
        {
            var c = l.IndexOf(':');
            if (c > 0)
            {
                headers[l[..c].Trim()] = l[(c + 1)..].Trim();
            }
        }
        var length = headers.TryGetValue("Content-Length", out var cl) ? int.Parse(cl, CultureInfo.InvariantCulture) : 0;
        var body = new byte[length];
        await stream.ReadExactlyAsync(body);
        return (first[0], first[1], headers, Encoding.UTF8.GetString(body));
    }

    private async Task RespondAsync(NetworkStream stream, int status, string body, params (string Name, string Value)[] headers) => await RespondAsync(stream, status, body, false, headers);

    private async Task RespondAsync(NetworkStream stream, int status, string body, bool keepOpen, params (string Name, string Value)[] headers)
    {
        var bytes = Encoding.UTF8.GetBytes(body);
        var sb = new StringBuilder();
        sb.Append("HTTP/1.1 ").Append(status).Append(status switch { 200 => " OK", 401 => " Unauthorized", 403 => " Forbidden", 404 => " Not Found", _ => " Bad Request" }).Append("\r\n");
        sb.Append("Content-Type: application/xml; charset=\"UTF-8\"\r\n");
        sb.Append("Content-Length: ").Append(bytes.Length).Append("\r\n");
        if (!keepOpen)
        {
            sb.Append("Connection: close\r\n");
        }
        foreach (var (n, v) in headers)
        {
            sb.Append(n).Append(": ").Append(v).Append("\r\n");
        }
        sb.Append("\r\n");
        await stream.WriteAsync(Encoding.ASCII.GetBytes(sb.ToString()), _stop.Token);
        await stream.WriteAsync(bytes, _stop.Token);
        await stream.FlushAsync(_stop.Token);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Dispose();
        try
        {
            await _accept;
        }
        catch (OperationCanceledException)
        {
        }
    }
}
