using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Security;
using System.Security.Authentication;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Xml;
using System.Xml.Linq;
using HikShareGateway.Core.Protocols;
using HikShareGateway.Core.Devices;
using HikShareGateway.Onvif.Client;
using HikShareGateway.Onvif.Parsers;
using HikShareGateway.Onvif.Soap;

namespace HikShareGateway.Onvif.Isapi;

/// <summary>One <see cref="IsapiClient"/> per (ISAPI base URL, credentials), so a learnt Digest challenge is reused. Shares one HttpClient (<see cref="DeviceHttp"/>).</summary>
public sealed class IsapiClientPool : IDisposable
{
    private readonly ConcurrentDictionary<(Uri, DeviceCredentials), IsapiClient> _clients = new();
    private readonly HttpClient _http;
    private readonly OnvifOptions _options;

    private readonly bool _ownsHttp;
    private readonly TimeProvider _time;

    /// <summary>Without a container: a client of <see cref="DeviceHttp"/>'s set-up over <paramref name="handler"/> (or the standard one), owned here.</summary>
    public IsapiClientPool(OnvifOptions options, HttpMessageHandler? handler = null, TimeProvider? time = null)
        : this(options, DeviceHttp.CreateClient(options, handler), ownsHttp: true, time)
    {
    }

    /// <summary>In the host: the named client <see cref="DeviceHttp.IsapiClientName"/> of the factory.</summary>
    public IsapiClientPool(OnvifOptions options, IHttpClientFactory http, TimeProvider time)
        : this(options, http.CreateClient(DeviceHttp.IsapiClientName), ownsHttp: false, time)
    {
    }

    private IsapiClientPool(OnvifOptions options, HttpClient http, bool ownsHttp, TimeProvider? time)
    {
        _time = time ?? TimeProvider.System;
        _options = options;
        _http = http;
        _ownsHttp = ownsHttp;
    }

    /// <summary>The client of a device with an ISAPI base URL; NotSupported without one.</summary>
    public IsapiClient For(DeviceInfo device)
    {
        if (device.IsapiBase is null)
        {
            throw new DeviceException(DeviceErrorKind.NotSupported, $"device {device.DeviceId} has no ISAPI address.");
        }
        return _clients.GetOrAdd((device.IsapiBase, device.Credentials),
            k => new IsapiClient(_http, k.Item1, k.Item2, _options, _time));
    }

    public void Dispose()
    {
        if (_ownsHttp)
        {
            _http.Dispose();
        }
    }
}

/// <summary>
/// Hikvision ISAPI over HTTP with Digest authentication (RFC 7616, <see cref="HttpDigest"/>; Basic where an old
/// unit asks for it). XML in and out, matched by local name (firmware differs in the namespace version).
/// <para>
/// :: Step 1: a request goes with the last challenge's answer; a 401 takes the new challenge and retries once.
/// :: Step 2: statuses map where they arise: 401 → Unauthorized, 404 or a <c>ResponseStatus</c> saying
///    <c>notSupport</c> → NotSupported, timeouts → Timeout, anything else → Failed. Messages never name the address.
/// :: Step 3: the two-way audio upload (<see cref="OpenUploadAsync"/>) is Hikvision's streamed PUT: the device answers
///    the request head (sent with <c>Content-Length: 0</c>) and then reads raw audio from the same connection until it
///    closes (seen in go2rtc <c>pkg/isapi/client.go</c>); HttpClient cannot do that, so it is a raw socket.
/// </para>
/// </summary>
public sealed class IsapiClient
{
    private static readonly XNamespace Ns = "http://www.hikvision.com/ver20/XMLSchema";
    private readonly HttpClient _http;
    private readonly Uri _base;
    private readonly OnvifOptions _options;
    private readonly TimeProvider _time;
    private readonly HttpAuthSession _auth;

    internal IsapiClient(HttpClient http, Uri baseUri, DeviceCredentials credentials, OnvifOptions options, TimeProvider? time = null)
    {
        _time = time ?? TimeProvider.System;
        _http = http;
        _base = baseUri;
        _auth = new HttpAuthSession(credentials);
        _options = options;
    }

    /// <summary>An ISAPI XML document with Hikvision's namespace, as requests carry it.</summary>
    public static XElement Element(string name, params object[] content) => new(Ns + name, [new XAttribute("version", "2.0"), .. content]);

    public static XElement Child(string name, object value) => new(Ns + name, value);

    /// <summary>The request path under the base URL (keeps a base path, e.g. behind a proxy).</summary>
    public string PathOf(string path) => _base.AbsolutePath.TrimEnd('/') + path;

    /// <summary>
    /// Sends <paramref name="method"/> <paramref name="path"/> (e.g. <c>/ISAPI/PTZCtrl/channels/1/continuous</c>) and
    /// returns the response document (null when empty). Throws <see cref="DeviceException"/>.
    /// </summary>
    public async Task<XElement?> SendAsync(HttpMethod method, string path, XElement? body, string operation, CancellationToken ct)
    {
        // The time-out runs on the injected clock (CancelAfter would use the system's).
        using var timeout = new CancellationTokenSource(_options.RequestTimeout, _time);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct, timeout.Token);
        var payload = body is null ? null : Encoding.UTF8.GetBytes(new XDocument(new XDeclaration("1.0", "UTF-8", null), body).Declaration + body.ToString(SaveOptions.DisableFormatting));
        try
        {
            for (var attempt = 0; ; attempt++)
            {
                using var request = new HttpRequestMessage(method, new Uri(_base, PathOf(path)));
                if (payload is not null)
                {
                    request.Content = new ByteArrayContent(payload);
                    request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/xml") { CharSet = "UTF-8" };
                }
                if (Authorization(method.Method, PathOf(path)) is { } authorization)
                {
                    request.Headers.TryAddWithoutValidation("Authorization", authorization);
                }
                using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cts.Token).ConfigureAwait(false);
                var text = await ReadLimitedAsync(response.Content, cts.Token).ConfigureAwait(false);
                if (response.StatusCode == HttpStatusCode.Unauthorized)
                {
                    if (attempt == 0 && TakeChallenge(response.Headers.WwwAuthenticate.Select(h => h.ToString())))
                    {
                        continue;
                    }
                    throw new DeviceException(DeviceErrorKind.Unauthorized, $"{operation}: the device refused the gateway's credentials (401).");
                }
                return Check(response.StatusCode, text, operation);
            }
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new DeviceException(DeviceErrorKind.Timeout, $"{operation}: the device did not answer within {_options.RequestTimeout.TotalSeconds:0.#} s.");
        }
        catch (HttpRequestException e)
        {
            var socketError = (e.InnerException as SocketException)?.SocketErrorCode.ToString();
            throw new DeviceException(DeviceErrorKind.Failed, $"{operation}: cannot reach the device ({socketError ?? e.HttpRequestError.ToString()}).", e);
        }
    }

    /// <summary>
    /// :: Step 3. Opens a streamed upload: <c>PUT</c> with <c>Content-Type</c> and <c>Content-Length: 0</c>, waits for
    /// the device's 200, and returns the connection to write the data to. The caller disposes it.
    /// </summary>
    public async Task<Stream> OpenUploadAsync(string path, string contentType, string operation, CancellationToken ct)
    {
        // The time-out runs on the injected clock (CancelAfter would use the system's).
        using var timeout = new CancellationTokenSource(_options.RequestTimeout, _time);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct, timeout.Token);
        try
        {
            for (var attempt = 0; ; attempt++)
            {
                var stream = await ConnectAsync(cts.Token).ConfigureAwait(false);
                try
                {
                    var head = new StringBuilder();
                    head.Append("PUT ").Append(PathOf(path)).Append(" HTTP/1.1\r\n");
                    head.Append("Host: ").Append(_base.Authority).Append("\r\n");
                    if (Authorization("PUT", PathOf(path)) is { } authorization)
                    {
                        head.Append("Authorization: ").Append(authorization).Append("\r\n");
                    }
                    head.Append("Content-Type: ").Append(contentType).Append("\r\n");
                    head.Append("Content-Length: 0\r\n");
                    head.Append("Connection: keep-alive\r\n\r\n");
                    await stream.WriteAsync(Encoding.ASCII.GetBytes(head.ToString()), cts.Token).ConfigureAwait(false);
                    await stream.FlushAsync(cts.Token).ConfigureAwait(false);
                    var (status, headers, body) = await ReadResponseHeadAsync(stream, cts.Token).ConfigureAwait(false);
                    if (status == 401)
                    {
                        await stream.DisposeAsync().ConfigureAwait(false);
                        if (attempt == 0 && TakeChallenge(headers.Where(h => h.Key.Equals("WWW-Authenticate", StringComparison.OrdinalIgnoreCase)).Select(h => h.Value)))
                        {
                            continue;
                        }
                        throw new DeviceException(DeviceErrorKind.Unauthorized, $"{operation}: the device refused the gateway's credentials (401).");
                    }
                    if (status != 200)
                    {
                        await stream.DisposeAsync().ConfigureAwait(false);
                        Check((HttpStatusCode)status, body, operation);
                        throw new DeviceException(DeviceErrorKind.Failed, $"{operation}: the device answered {status}.");
                    }
                    return stream;
                }
                catch
                {
                    await stream.DisposeAsync().ConfigureAwait(false);
                    throw;
                }
            }
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new DeviceException(DeviceErrorKind.Timeout, $"{operation}: the device did not answer within {_options.RequestTimeout.TotalSeconds:0.#} s.");
        }
        catch (Exception e) when (e is SocketException or IOException or AuthenticationException)
        {
            throw new DeviceException(DeviceErrorKind.Failed, $"{operation}: cannot reach the device ({(e as SocketException)?.SocketErrorCode.ToString() ?? e.GetType().Name}).", e);
        }
    }

    private async Task<Stream> ConnectAsync(CancellationToken ct)
    {
        var https = _base.Scheme.Equals("https", StringComparison.OrdinalIgnoreCase);
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(_base.Host, _base.Port > 0 ? _base.Port : https ? 443 : 80, ct).ConfigureAwait(false);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        Stream stream = new NetworkStream(socket, ownsSocket: true);
        if (https)
        {
            var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
            await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = _base.Host }, ct).ConfigureAwait(false);
            stream = ssl;
        }
        return stream;
    }

    /// <summary>Reads a response head byte by byte (it is short, and nothing after it may be consumed) plus a small Content-Length body.</summary>
    private static async Task<(int Status, List<KeyValuePair<string, string>> Headers, string Body)> ReadResponseHeadAsync(Stream stream, CancellationToken ct)
    {
        var buffer = new byte[16 * 1024];
        var filled = 0;
        var one = new byte[1];
        while (filled < 4 || !buffer.AsSpan(filled - 4, 4).SequenceEqual("\r\n\r\n"u8))
        {
            if (filled == buffer.Length || await stream.ReadAsync(one, ct).ConfigureAwait(false) == 0)
            {
                throw new IOException("the device closed the connection before answering");
            }
            buffer[filled++] = one[0];
        }
        var lines = Encoding.ASCII.GetString(buffer, 0, filled - 4).Split("\r\n");
        var first = lines[0].Split(' ', 3);
        if (first.Length < 2 || !int.TryParse(first[1], NumberStyles.None, CultureInfo.InvariantCulture, out var status))
        {
            throw new IOException("the device sent a malformed HTTP response");
        }
        var headers = new List<KeyValuePair<string, string>>();
        foreach (var l in lines.Skip(1))
        {
            var c = l.IndexOf(':');
            if (c > 0)
            {
                headers.Add(new(l[..c].Trim(), l[(c + 1)..].Trim()));
            }
        }
        var body = "";
        var length = headers.FirstOrDefault(h => h.Key.Equals("Content-Length", StringComparison.OrdinalIgnoreCase)).Value;
        if (status != 200 && int.TryParse(length, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n is > 0 and <= 64 * 1024)
        {
            var b = new byte[n];
            await stream.ReadExactlyAsync(b, ct).ConfigureAwait(false);
            body = Encoding.UTF8.GetString(b);
        }
        return (status, headers, body);
    }

    private string? Authorization(string method, string uri) => _auth.Authorization(method, uri);

    /// <summary>Digest preferred; Basic only when the device offers nothing else (some older Hikvision units).</summary>
    private bool TakeChallenge(IEnumerable<string> headers) => _auth.TakeChallenge(headers);

    /// <summary>:: Step 2. The response document, or the mapped failure.</summary>
    internal static XElement? Check(HttpStatusCode status, string text, string operation)
    {
        XElement? document = null;
        if (!string.IsNullOrWhiteSpace(text))
        {
            try
            {
                document = XElement.Parse(text);
            }
            catch (XmlException)
            {
                if (status == HttpStatusCode.OK)
                {
                    throw new DeviceException(DeviceErrorKind.Failed, $"{operation}: the device sent malformed XML.");
                }
            }
        }
        var isStatus = document?.Name.LocalName == "ResponseStatus";
        var statusCode = isStatus ? document.Int("statusCode") : 1;
        var sub = isStatus ? document.Text("subStatusCode") : null;
        if (status == HttpStatusCode.OK && statusCode is 0 or 1)
        {
            return document;
        }
        if (status == HttpStatusCode.NotFound || sub is "notSupport")
        {
            throw new DeviceException(DeviceErrorKind.NotSupported, $"{operation}: the device does not support it ({(int)status}{(sub is null ? "" : " " + sub)}).");
        }
        if (status is HttpStatusCode.Unauthorized || sub is "noPermission" or "unauthorized")
        {
            throw new DeviceException(DeviceErrorKind.Unauthorized, $"{operation}: the device refused the gateway's credentials ({(int)status}{(sub is null ? "" : " " + sub)}).");
        }
        var what = isStatus ? $"{document.Text("statusString") ?? "error"}{(sub is null ? "" : " (" + sub + ")")}" : ((int)status).ToString(CultureInfo.InvariantCulture);
        throw new DeviceException(DeviceErrorKind.Failed, $"{operation}: the device answered {(int)status}: {what}.");
    }

    private async Task<string> ReadLimitedAsync(HttpContent content, CancellationToken ct)
    {
        if (content.Headers.ContentLength is long declared && declared > _options.MaxResponseBytes)
        {
            throw new DeviceException(DeviceErrorKind.Failed, $"the device's response ({declared} bytes) is larger than Onvif:MaxResponseBytes.");
        }
        await using var stream = await content.ReadAsStreamAsync(ct).ConfigureAwait(false);
        using var ms = new MemoryStream();
        var buffer = new byte[8192];
        int n;
        while ((n = await stream.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
        {
            if (ms.Length + n > _options.MaxResponseBytes)
            {
                throw new DeviceException(DeviceErrorKind.Failed, "the device's response is larger than Onvif:MaxResponseBytes; refused.");
            }
            ms.Write(buffer, 0, n);
        }
        return Encoding.UTF8.GetString(ms.GetBuffer(), 0, (int)ms.Length);
    }
}
