using Microsoft.Extensions.DependencyInjection;

namespace HikShareGateway.Onvif.Client;

/// <summary>
/// The one HTTP client set-up for device APIs (ONVIF SOAP and Hikvision ISAPI), registered with
/// <see cref="IHttpClientFactory"/> as two named clients. Timeouts are per call (a cancellation token on the injected
/// clock), so the client's own timeout is off and long PullMessages work; no redirects (a device does not move its
/// API, and a redirect could carry the credentials elsewhere), no cookies; the connect timeout is
/// <c>Onvif:RequestTimeoutSeconds</c>; pooled connections are renewed every 5 min so that a device's new address is seen.
/// </summary>
public static class DeviceHttp
{
    public const string OnvifClientName = "onvif";
    public const string IsapiClientName = "isapi";

    /// <summary>The primary handler every device client uses.</summary>
    public static SocketsHttpHandler CreateHandler(OnvifOptions options) => new()
    {
        PooledConnectionLifetime = TimeSpan.FromMinutes(5),
        ConnectTimeout = options.RequestTimeout,
        AllowAutoRedirect = false,
        UseCookies = false,
    };

    /// <summary>A client over <paramref name="handler"/> (or the standard one) for code that runs without a container (tests, <c>discover</c>).</summary>
    public static HttpClient CreateClient(OnvifOptions options, HttpMessageHandler? handler = null)
        => Configure(new HttpClient(handler ?? CreateHandler(options), disposeHandler: true));

    /// <summary>Registers the named clients <see cref="OnvifClientName"/> and <see cref="IsapiClientName"/>.</summary>
    public static IServiceCollection AddDeviceHttpClients(this IServiceCollection services, OnvifOptions options)
    {
        foreach (var name in new[] { OnvifClientName, IsapiClientName })
        {
            services.AddHttpClient(name, c => Configure(c))
                .ConfigurePrimaryHttpMessageHandler(() => CreateHandler(options))
                // The pools keep their client for the process's life; PooledConnectionLifetime renews connections instead.
                .SetHandlerLifetime(Timeout.InfiniteTimeSpan);
        }
        return services;
    }

    private static HttpClient Configure(HttpClient client)
    {
        client.Timeout = Timeout.InfiniteTimeSpan;
        return client;
    }
}
