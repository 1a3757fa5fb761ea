using System.Buffers;
using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using HikShareGateway.Core.Devices;
using HikShareGateway.Core.Snapshots;
using HikShareGateway.Onvif.Client;
using HikShareGateway.Onvif.Parsers;
using HikShareGateway.Onvif.Soap;
using Microsoft.Extensions.Logging;

namespace HikShareGateway.Onvif.Snapshots;

/// <summary>
/// <see cref="IDevicePictures"/> over HTTP with the device's credentials (Digest, as the ISAPI and ONVIF clients answer it).
/// <para>
/// :: Step 1: the address. A device with an ISAPI base URL is asked at <c>/ISAPI/Streaming/channels/{ch}0{1|2}/picture</c>
///    (Hikvision: channel × 100 + 1 main, + 2 sub); else an ONVIF device's Media (or Media2) service is asked
///    <c>GetSnapshotUri</c> for the stream's profile once, and the answer kept until a fetch from it fails. The ONVIF
///    answer names the device by its own address, so it is rewritten to the host and port the gateway reaches the
///    device service at: the device's credentials are only ever sent to the device.
/// :: Step 2: one <c>GET</c>; a 401 takes the challenge (<see cref="HttpAuthSession"/>, kept per origin and login, so the
///    next fetch answers it at once) and retries once.
/// :: Step 3: the answer is checked where it arrives: 200, an image (or absent, or octet-stream) content type, a body no
///    longer than the bound (a declared length above it is refused before reading; an undeclared one is cut off at the
///    bound), and the JPEG magic <c>FF D8 FF</c>. Each failure is a <see cref="DeviceException"/>; the whole exchange runs
///    within the caller's time-out on the injected clock.
/// </para>
/// </summary>
public sealed partial class DevicePictureClient : IDevicePictures
{
    private readonly HttpClient _http;
    private readonly OnvifClientPool? _onvif;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<(string Origin, DeviceCredentials Login), HttpAuthSession> _auth = new();
    private readonly ConcurrentDictionary<(string DeviceId, string Profile), Uri> _onvifUris = new();

    public DevicePictureClient(HttpClient http, OnvifClientPool? onvif, TimeProvider time, ILogger<DevicePictureClient> logger)
    {
        _http = http;
        _onvif = onvif;
        _time = time;
        _logger = logger;
    }

    /// <summary>GetSnapshotUri calls made (tests: the answer is kept).</summary>
    public int SnapshotUriLookups => Volatile.Read(ref _lookups);
    private int _lookups;

    public bool Offers(DeviceInfo device, int channel, StreamKind kind) =>
        device.IsapiBase is not null || OnvifProfile(device, channel, kind) is not null;

    public async Task<DeviceJpeg> FetchAsync(DeviceInfo device, int channel, StreamKind kind, int maxBytes, TimeSpan timeout, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBytes, 4);
        using var deadline = new CancellationTokenSource(timeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token);
        try
        {
            if (device.IsapiBase is { } isapi)
            {
                var id = (channel * 100 + (kind == StreamKind.Sub ? 2 : 1)).ToString(CultureInfo.InvariantCulture);
                var uri = new Uri(isapi, isapi.AbsolutePath.TrimEnd('/') + "/ISAPI/Streaming/channels/" + id + "/picture");
                return new DeviceJpeg(await GetJpegAsync(uri, device.Credentials, maxBytes, linked.Token).ConfigureAwait(false), "isapi");
            }
            var profile = OnvifProfile(device, channel, kind)
                ?? throw new DeviceException(DeviceErrorKind.NotSupported, "the device offers no picture of its own (no ISAPI address, no ONVIF media profile).");
            var key = (device.DeviceId, profile);
            var snapshotUri = await SnapshotUriAsync(device, key, linked.Token).ConfigureAwait(false);
            try
            {
                return new DeviceJpeg(await GetJpegAsync(snapshotUri, device.Credentials, maxBytes, linked.Token).ConfigureAwait(false), "onvif");
            }
            catch (DeviceException)
            {
                // ONVIF lets a snapshot URI lapse (InvalidAfterReboot, InvalidAfterConnect): ask again next time.
                _onvifUris.TryRemove(key, out _);
                throw;
            }
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new DeviceException(DeviceErrorKind.Timeout, $"device picture: the device did not answer within {timeout.TotalSeconds:0.#} s.");
        }
        catch (HttpRequestException e)
        {
            var socketError = (e.InnerException as SocketException)?.SocketErrorCode.ToString();
            throw new DeviceException(DeviceErrorKind.Failed, $"device picture: cannot reach the device ({socketError ?? e.HttpRequestError.ToString()}).", e);
        }
        catch (IOException e)
        {
            throw new DeviceException(DeviceErrorKind.Failed, "device picture: the connection broke while reading the picture.", e);
        }
    }

    private static string? OnvifProfile(DeviceInfo device, int channel, StreamKind kind)
    {
        if (device.Onvif is not { } onvif || (onvif.Media is null && onvif.Media2 is null) || device.FindChannel(channel) is not { } c)
        {
            return null;
        }
        return kind == StreamKind.Sub ? c.SubProfileToken : c.MainProfileToken;
    }

    /// <summary>:: Step 1 (ONVIF): the kept answer, or one GetSnapshotUri on Media (Media2 where the device has only it).</summary>
    private async Task<Uri> SnapshotUriAsync(DeviceInfo device, (string DeviceId, string Profile) key, CancellationToken ct)
    {
        if (_onvifUris.TryGetValue(key, out var known))
        {
            return known;
        }
        if (_onvif is null)
        {
            throw new DeviceException(DeviceErrorKind.NotSupported, "device picture: ONVIF is not available on this gateway.");
        }
        var onvif = device.Onvif!;
        var client = _onvif.For(device);
        Interlocked.Increment(ref _lookups);
        var body = onvif.Media is { } media
            ? await client.CallAsync(media, OnvifRequests.GetSnapshotUri(key.Profile), "GetSnapshotUri", ct).ConfigureAwait(false)
            : await client.CallAsync(onvif.Media2!, OnvifRequests.GetSnapshotUri2(key.Profile), "GetSnapshotUri", ct).ConfigureAwait(false);
        var said = MediaParsers.ParseSnapshotUri(body);
        var reached = onvif.Device;
        var uri = new UriBuilder(said) { Scheme = reached.Scheme, Host = reached.Host, Port = reached.Port }.Uri;
        if (!string.Equals(said.Host, reached.Host, StringComparison.OrdinalIgnoreCase) || said.Port != reached.Port)
        {
            LogRewritten(_logger, device.DeviceId);
        }
        _onvifUris[key] = uri;
        return uri;
    }

    /// <summary>:: Steps 2 and 3.</summary>
    private async Task<byte[]> GetJpegAsync(Uri uri, DeviceCredentials login, int maxBytes, CancellationToken ct)
    {
        var auth = _auth.GetOrAdd((uri.GetLeftPart(UriPartial.Authority), login), k => new HttpAuthSession(k.Login));
        for (var attempt = 0; ; attempt++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, uri);
            request.Headers.Accept.ParseAdd("image/jpeg");
            if (auth.Authorization("GET", uri.PathAndQuery) is { } authorization)
            {
                request.Headers.TryAddWithoutValidation("Authorization", authorization);
            }
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
            if (response.StatusCode == HttpStatusCode.Unauthorized)
            {
                if (attempt == 0 && auth.TakeChallenge(response.Headers.WwwAuthenticate.Select(h => h.ToString())))
                {
                    continue;
                }
                throw new DeviceException(DeviceErrorKind.Unauthorized,
                    auth.HasCredentials ? "device picture: the device refused the gateway's credentials (401)." : "device picture: the device needs credentials (401) and none are configured.");
            }
            if (response.StatusCode != HttpStatusCode.OK)
            {
                throw new DeviceException(response.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.NotImplemented ? DeviceErrorKind.NotSupported : DeviceErrorKind.Failed,
                    $"device picture: the device answered {(int)response.StatusCode}.");
            }
            var type = response.Content.Headers.ContentType?.MediaType;
            if (type is not null && !type.StartsWith("image/", StringComparison.OrdinalIgnoreCase) && !type.Equals("application/octet-stream", StringComparison.OrdinalIgnoreCase))
            {
                // An error page or an ISAPI ResponseStatus document sent with 200: not a picture.
                throw new DeviceException(DeviceErrorKind.Failed, "device picture: the device sent no image (content type " + Printable(type) + ").");
            }
            if (response.Content.Headers.ContentLength is long declared && declared > maxBytes)
            {
                throw new DeviceException(DeviceErrorKind.Failed, $"device picture: the device's picture ({declared} bytes) is larger than the bound ({maxBytes}).");
            }
            var jpeg = await ReadBoundedAsync(response.Content, (int?)response.Content.Headers.ContentLength, maxBytes, ct).ConfigureAwait(false);
            if (jpeg.Length < 4 || jpeg[0] != 0xFF || jpeg[1] != 0xD8 || jpeg[2] != 0xFF)
            {
                throw new DeviceException(DeviceErrorKind.Failed, "device picture: the body is not a JPEG (no FF D8 FF start).");
            }
            return jpeg;
        }
    }

    /// <summary>The body into one exact array: read in place when its length is declared, else through a pooled buffer grown up to the bound.</summary>
    private static async Task<byte[]> ReadBoundedAsync(HttpContent content, int? declared, int maxBytes, CancellationToken ct)
    {
        await using var stream = await content.ReadAsStreamAsync(ct).ConfigureAwait(false);
        if (declared is int length)
        {
            var exact = new byte[length];
            await stream.ReadExactlyAsync(exact, ct).ConfigureAwait(false);
            return exact;
        }
        var buffer = ArrayPool<byte>.Shared.Rent(Math.Min(maxBytes + 1, 256 * 1024));
        var filled = 0;
        try
        {
            while (true)
            {
                if (filled == buffer.Length)
                {
                    var bigger = ArrayPool<byte>.Shared.Rent(Math.Min(maxBytes + 1, buffer.Length * 2));
                    buffer.AsSpan(0, filled).CopyTo(bigger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = bigger;
                }
                var n = await stream.ReadAsync(buffer.AsMemory(filled), ct).ConfigureAwait(false);
                if (n == 0)
                {
                    return buffer.AsSpan(0, filled).ToArray();
                }
                filled += n;
                if (filled > maxBytes)
                {
                    throw new DeviceException(DeviceErrorKind.Failed, $"device picture: the device's picture is larger than the bound ({maxBytes}); refused.");
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static string Printable(string s)
    {
        var t = s.Length > 64 ? s[..64] : s;
        return string.Create(t.Length, t, static (span, v) =>
        {
            for (var i = 0; i < v.Length; i++)
            {
                span[i] = char.IsControl(v[i]) ? '?' : v[i];
            }
        });
    }

    [LoggerMessage(EventId = 4901, Level = LogLevel.Debug, Message = "Device {DeviceId}: its ONVIF snapshot address names another host or port; asking the address the gateway reaches it at")]
    private static partial void LogRewritten(ILogger logger, string deviceId);
}
