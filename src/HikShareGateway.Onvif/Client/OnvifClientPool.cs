using System.Collections.Concurrent;
using HikShareGateway.Core.Devices;
using Microsoft.Extensions.Logging;

namespace HikShareGateway.Onvif.Client;

/// <summary>
/// One <see cref="OnvifSoapClient"/> per (device URL, credentials), so that what a client learnt (HTTP Digest needed,
/// clock offset) is kept across refreshes, events and PTZ. Shares one HttpClient (<see cref="DeviceHttp"/>).
/// </summary>
public sealed class OnvifClientPool : IDisposable
{
    private readonly ConcurrentDictionary<(Uri, DeviceCredentials), OnvifSoapClient> _clients = new();
    private readonly HttpClient _http;
    private readonly TimeProvider _time;
    private readonly OnvifOptions _options;
    private readonly ILoggerFactory _loggers;

    private readonly bool _ownsHttp;

    /// <summary>Without a container: a client of <see cref="DeviceHttp"/>'s set-up over <paramref name="handler"/> (or the standard one), owned here.</summary>
    public OnvifClientPool(OnvifOptions options, TimeProvider time, ILoggerFactory loggers, HttpMessageHandler? handler = null)
        : this(options, time, loggers, DeviceHttp.CreateClient(options, handler), ownsHttp: true)
    {
    }

    /// <summary>In the host: the named client <see cref="DeviceHttp.OnvifClientName"/> of the factory.</summary>
    public OnvifClientPool(OnvifOptions options, TimeProvider time, ILoggerFactory loggers, IHttpClientFactory http)
        : this(options, time, loggers, http.CreateClient(DeviceHttp.OnvifClientName), ownsHttp: false)
    {
    }

    private OnvifClientPool(OnvifOptions options, TimeProvider time, ILoggerFactory loggers, HttpClient http, bool ownsHttp)
    {
        _options = options;
        _time = time;
        _loggers = loggers;
        _http = http;
        _ownsHttp = ownsHttp;
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

    public void Dispose()
    {
        if (_ownsHttp)
        {
            _http.Dispose();
        }
    }
}
