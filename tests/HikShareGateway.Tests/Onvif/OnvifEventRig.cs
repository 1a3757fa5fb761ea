using HikShareGateway.Core.Alarms;
using HikShareGateway.Core.Devices;
using HikShareGateway.Onvif.Catalog;
using HikShareGateway.Onvif.Client;
using HikShareGateway.Onvif.Events;
using HikShareGateway.Tests.Infrastructure;
using HikShareGateway.Tests.Onvif.Simulator;
using Microsoft.Extensions.Logging.Abstractions;

namespace HikShareGateway.Tests.Onvif;

/// <summary>
/// The ONVIF event service against one simulated device, as the event tests set it up: a client pool, a catalog that
/// holds the device (read from the simulator), an access policy whose channel 1 goes to the given recipients, and the
/// router to a recording cloud publisher and an alarm feed. Not started: the test calls <c>Service.StartAsync</c>.
/// </summary>
internal sealed class OnvifEventRig : IAsyncDisposable
{
    private OnvifEventRig(OnvifSimulator sim, OnvifClientPool pool, OnvifDeviceCatalog catalog, PullPointTiming timing)
    {
        Sim = sim;
        Pool = pool;
        Catalog = catalog;
        Service = new OnvifEventService(catalog, pool, new AlarmRouter(Policy, Cloud, Feed, NullLogger<AlarmRouter>.Instance), TimeProvider.System,
            NullLogger<OnvifEventService>.Instance, timing);
    }

    public OnvifSimulator Sim { get; }
    public OnvifClientPool Pool { get; }
    public OnvifDeviceCatalog Catalog { get; }
    public RecordingCloudPublisher Cloud { get; } = new();
    public FakeAccessPolicy Policy { get; } = new();
    public AlarmFeed Feed { get; } = new();
    public OnvifEventService Service { get; }

    /// <param name="device">The simulated device; null: the simulator's default camera.</param>
    /// <param name="recipients">Who receives the alarms of channel 1.</param>
    public static async Task<OnvifEventRig> CreateAsync(SimDevice? device, PullPointTiming timing, params string[] recipients)
    {
        var sim = device is null ? new OnvifSimulator() : new OnvifSimulator(device);
        var pool = new OnvifClientPool(OnvifTestKit.Options(), TimeProvider.System, NullLoggerFactory.Instance);
        var catalog = new OnvifDeviceCatalog([]);
        await OnvifTestKit.AddDeviceAsync(catalog, pool, sim);
        var rig = new OnvifEventRig(sim, pool, catalog, timing);
        rig.Policy.Recipients[(sim.Device.Serial, 1)] = recipients;
        return rig;
    }

    public async ValueTask DisposeAsync()
    {
        await Service.StopAsync(default);
        Service.Dispose();
        Pool.Dispose();
        await Sim.DisposeAsync();
    }
}
