using HikShareGateway.Core.Devices;
using HikShareGateway.Onvif.Client;
using HikShareGateway.Tests.Onvif.Simulator;

namespace HikShareGateway.Tests.Onvif;

internal static class OnvifTestKit
{
    public static OnvifOptions Options(int timeoutSeconds = 5) => new() { RequestTimeoutSeconds = timeoutSeconds, MaxResponseBytes = 1024 * 1024 };

    public static OnvifSoapClient Client(OnvifSimulator sim, HttpClient http, string? password = null, OnvifOptions? options = null) =>
        new(http, sim.DeviceServiceUri, new DeviceCredentials(sim.Device.Username, password ?? sim.Device.Password), TimeProvider.System, options ?? Options());
}
