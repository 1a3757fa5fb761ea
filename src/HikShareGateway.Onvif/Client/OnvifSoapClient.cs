using System.Buffers;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Xml.Linq;
using HikShareGateway.Core.Protocols;
using HikShareGateway.Core.Devices;
using HikShareGateway.Onvif.Soap;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace HikShareGateway.Onvif.Client;

/// <summary>
/// One device's SOAP transport: POSTs SOAP 1.2 envelopes, authenticates, bounds time and size, and maps every failure
/// to a <see cref="DeviceException"/> where it happens. Parsing is left to the pure parsers.
/// </summary>
/// <remarks>
/// Authentication (ONVIF Core §5.12):
/// 1. WS-UsernameToken PasswordDigest, with <c>Created</c> on the device's clock (<see cref="ClockOffset"/>).
/// 2. On HTTP 401 with a Digest challenge, or on a ter:NotAuthorized fault, switch to HTTP Digest (RFC 2617) for this
///    device and retry once; some Hikvision firmware only accepts Digest.
/// </remarks>
public sealed partial class OnvifSoapClient
{
    private const string SoapContentType = "application/soap+xml";
    private readonly HttpClient _http;
    private readonly DeviceCredentials _credentials;
    private readonly TimeProvider _time;
    private readonly OnvifOptions _options;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();
    private DigestChallenge? _challenge;
    private int _nonceCount;
    private bool _useDigest;

    public OnvifSoapClient(HttpClient http, Uri deviceService, DeviceCredentials credentials, TimeProvider time, OnvifOptions options, ILogger? logger = null)
    {
        _http = http;
        DeviceService = deviceService;
        _credentials = credentials;
        _time = time;
        _options = options;
        _logger = logger ?? NullLogger.Instance;
    }

    /// <summary>The device service URL the gateway reaches the device at.</summary>
    public Uri DeviceService { get; }

    /// <summary>Device clock minus ours; set from GetSystemDateAndTime.</summary>
    public TimeSpan ClockOffset { get; set; }

    /// <summary>True once the device was found to need HTTP Digest instead of WS-UsernameToken.</summary>
    public bool UsesHttpDigest { get { lock (_gate) { return _useDigest; } } }

    private bool HasCredentials => !string.IsNullOrEmpty(_credentials.Username);

    /// <summary>Sends one request and returns the first Body element of the answer.</summary>
    /// <param name="authenticate">False for the calls ONVIF allows without credentials (GetSystemDateAndTime).</param>
    /// <param name="timeout">Overrides the request timeout (PullMessages needs longer than its own Timeout).</param>
    public async Task<XElement> CallAsync(Uri service, XElement request, string operation, CancellationToken cancellationToken,
        bool authenticate = true, TimeSpan? timeout = null, IEnumerable<XElement>? extraHeaders = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? _options.RequestTimeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, cts.Token);
        try
        {
            var digestRetryDone = false;
            var triedWithoutToken = false;
            while (true)
            {
                var useDigest = UsesHttpDigest;
                var headers = new List<XElement>(extraHeaders ?? []);
                if (authenticate && HasCredentials && !useDigest)
                {
                    var nonce = RandomNumberGenerator.GetBytes(16);
                    headers.Add(UsernameToken.Header(_credentials.Username!, _credentials.Password ?? "", nonce, _time.GetUtcNow() + ClockOffset));
                }
                var (status, body, wwwAuthenticate) = await SendAsync(service, SoapEnvelope.Build(request, headers), authenticate && useDigest, linked.Token).ConfigureAwait(false);

                if (status == HttpStatusCode.Unauthorized)
                {
                    if (authenticate && HasCredentials && !digestRetryDone && TryTakeChallenge(wwwAuthenticate))
                    {
                        digestRetryDone = true;
                        Log.SwitchingToDigest(_logger, operation);
                        continue;
                    }
                    throw new DeviceException(DeviceErrorKind.Unauthorized,
                        HasCredentials ? $"{operation}: the device refused the credentials (HTTP 401)." : $"{operation}: the device needs credentials (HTTP 401) and none are configured.");
                }
                if (body.Length == 0 && (int)status >= 300)
                {
                    throw new DeviceException(DeviceErrorKind.Failed, $"{operation}: the device answered HTTP {(int)status} {status} without a SOAP body.");
                }
                try
                {
                    return SoapEnvelope.ReadBody(body, operation);
                }
                catch (DeviceException e) when (e.Kind == DeviceErrorKind.Unauthorized && authenticate && HasCredentials && !useDigest && !triedWithoutToken)
                {
                    // ter:NotAuthorized to a UsernameToken: retry without it; a Digest-only device now answers 401 with its challenge.
                    triedWithoutToken = true;
                    lock (_gate) { _useDigest = true; }
                    Log.SwitchingToDigest(_logger, operation);
                    continue;
                }
                catch (DeviceException e) when (e.Fault() is null && (int)status >= 300)
                {
                    throw new DeviceException(DeviceErrorKind.Failed, $"{operation}: the device answered HTTP {(int)status} {status}; {e.Message}", e);
                }
            }
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new DeviceException(DeviceErrorKind.Timeout, $"{operation}: the device did not answer within {(timeout ?? _options.RequestTimeout).TotalSeconds:0.#} s.");
        }
        catch (HttpRequestException e)
        {
            // Contract §6: upstream addresses stay inside the gateway, so the message names the failure, not the address.
            var socketError = (e.InnerException as System.Net.Sockets.SocketException)?.SocketErrorCode.ToString();
            throw new DeviceException(DeviceErrorKind.Failed, $"{operation}: cannot reach the device ({socketError ?? e.HttpRequestError.ToString()}).", e);
        }
    }

    private bool TryTakeChallenge(string? header)
    {
        if (header is null || !DigestChallenge.TryParse(header, out var challenge))
        {
            return false;
        }
        lock (_gate)
        {
            _challenge = challenge;
            _nonceCount = 0;
            _useDigest = true;
        }
        return true;
    }

    private async Task<(HttpStatusCode Status, byte[] Body, string? WwwAuthenticate)> SendAsync(Uri service, byte[] envelope, bool digest, CancellationToken ct)
    {
        using var message = new HttpRequestMessage(HttpMethod.Post, service)
        {
            Content = new ByteArrayContent(envelope),
        };
        message.Content.Headers.ContentType = new MediaTypeHeaderValue(SoapContentType) { CharSet = "utf-8" };
        if (digest)
        {
            string? authorization = null;
            lock (_gate)
            {
                if (_challenge is not null)
                {
                    var cnonce = Digest.NewCnonce();
                    authorization = HttpDigest.Authorization(_challenge, "POST", service.PathAndQuery, _credentials.Username!, _credentials.Password ?? "", cnonce, ++_nonceCount);
                }
            }
            if (authorization is not null)
            {
                message.Headers.TryAddWithoutValidation("Authorization", authorization);
            }
        }
        using var response = await _http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
        string? www = null;
        foreach (var h in response.Headers.WwwAuthenticate)
        {
            if (h.Scheme.Equals("Digest", StringComparison.OrdinalIgnoreCase))
            {
                www = h.ToString();
            }
        }
        if (response.Content.Headers.ContentLength is long declared && declared > _options.MaxResponseBytes)
        {
            throw new DeviceException(DeviceErrorKind.Failed, $"the device's response ({declared} bytes) is larger than Onvif:MaxResponseBytes ({_options.MaxResponseBytes}).");
        }
        var body = await ReadLimitedAsync(response.Content, _options.MaxResponseBytes, ct).ConfigureAwait(false);
        return (response.StatusCode, body, www);
    }

    /// <summary>Reads at most <paramref name="limit"/> bytes; a longer (or chunked, unbounded) body is refused, not buffered.</summary>
    private static async Task<byte[]> ReadLimitedAsync(HttpContent content, int limit, CancellationToken ct)
    {
        await using var stream = await content.ReadAsStreamAsync(ct).ConfigureAwait(false);
        var buffer = ArrayPool<byte>.Shared.Rent(16 * 1024);
        try
        {
            using var ms = new MemoryStream();
            int n;
            while ((n = await stream.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
            {
                if (ms.Length + n > limit)
                {
                    throw new DeviceException(DeviceErrorKind.Failed, $"the device's response is larger than Onvif:MaxResponseBytes ({limit}); refused.");
                }
                ms.Write(buffer, 0, n);
            }
            return ms.ToArray();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 4101, Level = LogLevel.Information, Message = "An ONVIF device rejected WS-UsernameToken on {Operation}; using HTTP Digest for it")]
        public static partial void SwitchingToDigest(ILogger logger, string operation);
    }
}
