using System.Collections.Concurrent;
using HikShareGateway.Core.Devices;
using Microsoft.Extensions.Logging;

namespace HikShareGateway.Onvif.Client;

/// <summary>
/// One <see cref="OnvifSoapClient"/> per (device URL, credentials), so that what a client learnt (HTTP Digest needed,
/// clock offset) is kept across refreshes, events and PTZ. Owns the shared HttpClient.
/// </summary>
public sealed class OnvifClientPool : IDisposable
{
    private readonly ConcurrentDictionary<(Uri, DeviceCredentials), OnvifSoapClient> _clients = new();
    private readonly HttpClient _http;
    private readonly TimeProvider _time;
    private readonly OnvifOptions _options;
    private readonly ILoggerFactory _loggers;

    public OnvifClientPool(OnvifOptions options, TimeProvider time, ILoggerFactory loggers, HttpMessageHandler? handler = null)
    {
        _options = options;
        _time = time;
        _loggers = loggers;
        // Timeouts are per call (CancellationToken); the HttpClient's own one is off so long pulls work.
        _http = new HttpClient(handler ?? new SocketsHttpHandler
        {
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            ConnectTimeout = options.RequestTimeout,
            AllowAutoRedirect = false,
            UseCookies = false,
        }, disposeHandler: true) { Timeout = Timeout.InfiniteTimeSpan };
    }

    public OnvifOptions Options => _options;

    public OnvifSoapClient Get(Uri deviceService, DeviceCredentials credentials) =>
        _clients.GetOrAdd((deviceService, credentials), k => new OnvifSoapClient(_http, k.Item1, k.Item2, _time, _options, _loggers.CreateLogger<OnvifSoapClient>()));

    /// <summary>The client of a catalogued ONVIF device; NotSupported for devices given by explicit channels.</summary>
    public OnvifSoapClient For(DeviceInfo device)
    {
        if (device.Onvif is null)
        {
            throw new DeviceException(DeviceErrorKind.NotSupported, $"device {device.DeviceId} is not an ONVIF device (configured with explicit channels).");
        }
        var client = Get(device.Onvif.Device, device.Credentials);
        if (client.ClockOffset == TimeSpan.Zero)
        {
            client.ClockOffset = device.Onvif.ClockOffset;
        }
        return client;
    }

    public void Dispose() => _http.Dispose();
}
