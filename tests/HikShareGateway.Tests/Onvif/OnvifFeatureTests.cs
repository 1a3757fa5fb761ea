using HikShareGateway.Composition;
using HikShareGateway.Core.Devices;
using HikShareGateway.Core.Ptz;
using HikShareGateway.Onvif.Catalog;
using HikShareGateway.Onvif.Events;
using HikShareGateway.Tests.Infrastructure;
using HikShareGateway.Tests.Onvif.Simulator;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace HikShareGateway.Tests.Onvif;

/// <summary>The host wiring: the ONVIF catalog replaces the static one and fills from configuration.</summary>
[Trait("Category", "Unit")]
public sealed class OnvifFeatureTests
{
    private static (WebApplication? App, List<string> Errors) Build(Dictionary<string, string?> values)
    {
        var config = new ConfigurationBuilder().AddInMemoryCollection(values).Build();
        var errors = new List<string>();
        var app = Features.Build(config, new GatewayContext(false, CommandLine.Parse([]), DateTimeOffset.UnixEpoch), errors);
        return (app, errors);
    }

    [Fact]
    public void DeviceClients_ComeFromTheHttpClientFactory_WithOneSetUp_NoClientTimeout()
    {
        var (app, errors) = Build(new() { ["Gateway:Id"] = "gw-1", ["Discovery:Enabled"] = "false" });
        Assert.Empty(errors);
        var factory = app!.Services.GetRequiredService<IHttpClientFactory>();
        foreach (var name in new[] { HikShareGateway.Onvif.Client.DeviceHttp.OnvifClientName, HikShareGateway.Onvif.Client.DeviceHttp.IsapiClientName })
        {
            // Per-call timeouts run on the injected clock; the client's own would cut long PullMessages.
            Assert.Equal(Timeout.InfiniteTimeSpan, factory.CreateClient(name).Timeout);
        }
        // The pools are built on the factory's clients.
        var pool = app.Services.GetRequiredService<HikShareGateway.Onvif.Client.OnvifClientPool>();
        Assert.NotNull(pool.Get(new Uri("http://127.0.0.1:1/onvif/device_service"), new DeviceCredentials("u", "p")));
        Assert.NotNull(app.Services.GetRequiredService<HikShareGateway.Onvif.Isapi.IsapiClientPool>());
    }

    [Fact]
    public void BadOnvifSection_EveryErrorNamesItsKey()
    {
        var (_, errors) = Build(new()
        {
            ["Gateway:Id"] = "gw-1",
            ["Onvif:RequestTimeoutSeconds"] = "0",
            ["Onvif:DiscoveryInterface"] = "eth0",
            ["Onvif:OfflineAfterFailures"] = "0",
        });
        Assert.Contains(errors, e => e.StartsWith("Onvif:RequestTimeoutSeconds 0 is out of range", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Onvif:DiscoveryInterface \"eth0\"", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Onvif:OfflineAfterFailures", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Daemon_ConfiguredOnvifDevice_AndStaticDevice_BothInTheCatalog_PtzIsOnvif()
    {
        await using var sim = new OnvifSimulator();
        var (app, errors) = Build(new()
        {
            ["Gateway:Id"] = "gw-1",
            ["Gateway:StateDirectory"] = Path.Combine(Path.GetTempPath(), "hsgw-onvif-" + Guid.NewGuid().ToString("N")),
            ["Http:Port"] = PortAllocator.GetFreeTcpPort().ToString(),
            ["Http:BindAddress"] = "127.0.0.1",
            ["Discovery:Enabled"] = "false",
            ["Devices:0:OnvifUrl"] = sim.DeviceServiceUri.ToString(),
            ["Devices:0:Username"] = sim.Device.Username,
            ["Devices:0:Password"] = sim.Device.Password,
            ["Devices:1:DeviceId"] = "cam-static",
            ["Devices:1:Channels:0:Channel"] = "1",
            ["Devices:1:Channels:0:Main"] = "rtsp://127.0.0.1:18554/Streaming/Channels/101",
        });
        Assert.Empty(errors);
        await using var appScope = app!;
        var catalog = app!.Services.GetRequiredService<IDeviceCatalog>();
        Assert.IsType<OnvifDeviceCatalog>(catalog);
        Assert.NotNull(app.Services.GetRequiredService<OnvifEventService>());
        // Only the ONVIF hosted services: starting the whole WebApplication is the HTTP feature's business
        // (the skeleton's empty builder maps /healthz without AddRouting).
        var mine = app.Services.GetServices<Microsoft.Extensions.Hosting.IHostedService>()
            .Where(h => h is OnvifDeviceManager or InventoryPublisher or OnvifEventService).ToList();
        Assert.Equal(3, mine.Count);
        foreach (var h in mine)
        {
            await h.StartAsync(default);
        }
        try
        {
            await Wait.UntilAsync(() => catalog.Devices.Count == 2, "both devices", 15_000);
            Assert.True(catalog.TryGetDevice(sim.Device.Serial, out var nvr));
            Assert.Equal(2, nvr.Channels.Count);
            Assert.True(catalog.TryGetDevice("cam-static", out _));
            var ptz = app.Services.GetRequiredService<IPtzService>();
            Assert.Equal(2, (await ptz.GetPresetsAsync(sim.Device.Serial, 1, default)).Count);
            await Wait.UntilAsync(() => sim.ActiveSubscriptions == 1, "the event subscription", 10_000);
        }
        finally
        {
            foreach (var h in Enumerable.Reverse(mine))
            {
                await h.StopAsync(default);
            }
        }
        Assert.Equal(1, sim.Unsubscribes);
    }
}
