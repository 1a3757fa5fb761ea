using HikShareGateway.Core.Devices;
using HikShareGateway.Onvif.Catalog;
using HikShareGateway.Onvif.Client;
using HikShareGateway.Tests.Onvif.Simulator;

namespace HikShareGateway.Tests.Onvif;

internal static class OnvifTestKit
{
    public static OnvifOptions Options(int timeoutSeconds = 5) => new() { RequestTimeoutSeconds = timeoutSeconds, MaxResponseBytes = 1024 * 1024 };

    public static OnvifSoapClient Client(OnvifSimulator sim, HttpClient http, string? password = null, OnvifOptions? options = null) =>
        new(http, sim.DeviceServiceUri, new DeviceCredentials(sim.Device.Username, password ?? sim.Device.Password), TimeProvider.System, options ?? Options());

    /// <summary>Reads <paramref name="sim"/>'s device through <paramref name="pool"/> and puts it in <paramref name="catalog"/>, as configuration would.</summary>
    public static async Task AddDeviceAsync(OnvifDeviceCatalog catalog, OnvifClientPool pool, OnvifSimulator sim)
    {
        var creds = new DeviceCredentials(sim.Device.Username, sim.Device.Password);
        catalog.Upsert(await OnvifDeviceReader.ReadAsync(pool.Get(sim.DeviceServiceUri, creds), TimeProvider.System, default), creds, DeviceSource.Configuration);
    }
}
