using HikShareGateway.Core.Access;
using HikShareGateway.Core.Alarms;
using HikShareGateway.Core.Audio;
using HikShareGateway.Core.Cloud;
using HikShareGateway.Core.Configuration;
using HikShareGateway.Core.Devices;
using HikShareGateway.Core.Diagnostics;
using HikShareGateway.Core.Playback;
using HikShareGateway.Core.Ptz;
using HikShareGateway.Core.Snapshots;
using HikShareGateway.Onvif.Catalog;
using HikShareGateway.Onvif.Client;
using HikShareGateway.Onvif.Events;
using HikShareGateway.Onvif.Isapi;
using HikShareGateway.Onvif.Ptz;
using HikShareGateway.Onvif.Recordings;
using HikShareGateway.Onvif.Snapshots;

namespace HikShareGateway.Composition;

/// <summary>
/// ONVIF: the device catalog (replaces the static one), discovery and refresh, the inventory publisher, PullPoint
/// events → alarms, and PTZ. Section <c>Onvif</c> (see <see cref="OnvifOptions"/>) plus the Core <c>Discovery</c>
/// and <c>Devices</c> sections.
/// </summary>
public static class OnvifFeature
{
    public static void Register(WebApplicationBuilder builder, GatewayContext context, List<string> errors)
    {
        var options = Features.Bind<OnvifOptions>(builder.Configuration, OnvifOptions.Section, errors);
        var services = builder.Services;
        services.AddSingleton(options);
        // One HTTP set-up for the device APIs (IHttpClientFactory, named clients "onvif" and "isapi").
        services.AddDeviceHttpClients(options);
        services.AddSingleton(sp => new OnvifClientPool(options, sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILoggerFactory>(),
            sp.GetRequiredService<IHttpClientFactory>()));
        services.AddSingleton(sp => new OnvifDeviceCatalog(StaticDeviceCatalog.FromOptions(sp.GetRequiredService<IReadOnlyList<DeviceOptions>>())));
        services.AddSingleton<IDeviceCatalog>(sp => sp.GetRequiredService<OnvifDeviceCatalog>());
        // PTZ: ONVIF where the channel has it, Hikvision ISAPI where the device has an IsapiUrl and no ONVIF PTZ.
        services.AddSingleton(sp => new IsapiClientPool(options, sp.GetRequiredService<IHttpClientFactory>(), sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<OnvifPtzService>();
        services.AddSingleton<IsapiPtzService>();
        services.AddSingleton<IPtzService, DevicePtzService>();
        services.AddSingleton<IRecordingService, OnvifRecordingService>();
        // The devices' own JPEGs (ISAPI picture, ONVIF GetSnapshotUri) for the snapshot service.
        services.AddSingleton<IDevicePictures>(sp => new DevicePictureClient(sp.GetRequiredService<IHttpClientFactory>().CreateClient(DeviceHttp.IsapiClientName),
            sp.GetRequiredService<OnvifClientPool>(), sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<DevicePictureClient>>()));
        // Two-way audio for devices without an ONVIF backchannel (the RTSP feature tries the backchannel first).
        services.AddSingleton<IDeviceTalkback, IsapiTalkback>();
        services.AddSingleton(sp => new AlarmRouter(sp.GetRequiredService<IAccessPolicy>(), sp.GetRequiredService<ICloudPublisher>(),
            sp.GetRequiredService<AlarmFeed>(), sp.GetRequiredService<ILogger<AlarmRouter>>(), sp.GetRequiredService<GatewayMetrics>(),
            sp.GetService<IAlarmSnapshots>()));
        services.AddSingleton<OnvifDeviceManager>();
        services.AddHostedService(sp => sp.GetRequiredService<OnvifDeviceManager>());
        services.AddSingleton(sp => new InventoryPublisher(sp.GetRequiredService<IDeviceCatalog>(), sp.GetRequiredService<ICloudPublisher>(),
            sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<InventoryPublisher>>()));
        services.AddHostedService(sp => sp.GetRequiredService<InventoryPublisher>());
        if (options.Events)
        {
            services.AddSingleton(sp => new OnvifEventService(sp.GetRequiredService<OnvifDeviceCatalog>(), sp.GetRequiredService<OnvifClientPool>(),
                sp.GetRequiredService<AlarmRouter>(), sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<OnvifEventService>>()));
            services.AddHostedService(sp => sp.GetRequiredService<OnvifEventService>());
        }
    }
}
