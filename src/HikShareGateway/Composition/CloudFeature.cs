using HikShareGateway.Access;
using HikShareGateway.Access.Grants;
using HikShareGateway.Cloud;
using HikShareGateway.Core.Cloud;
using HikShareGateway.Core.Configuration;

namespace HikShareGateway.Composition;

/// <summary>
/// The MQTT link to the cloud (contract §3): registers <see cref="MqttCloudClient"/> as the
/// <see cref="ICloudPublisher"/> and as a hosted service when a broker is configured. In the demo with
/// no broker, an embedded broker is started first (see <see cref="DemoCloud"/>). Without a broker and
/// outside the demo, nothing is registered and the Core fallback (no publishing) applies; the gateway
/// then enforces the grants from its state directory.
/// </summary>
public static class CloudFeature
{
    public static void Register(WebApplicationBuilder b, GatewayContext ctx, List<string> errors)
    {
        var configuration = b.Configuration;
        var gateway = configuration.GetSection(GatewayOptions.Section).Get<GatewayOptions>() ?? new GatewayOptions();
        // Bound and validated by AccessFeature (same section); read again quietly here.
        var cloud = new CloudOptions();
        configuration.GetSection(CloudOptions.Section).Bind(cloud);
        var embedded = ctx.Demo && cloud.Broker is null;
        if (embedded)
        {
            // Prepared by AccessFeature (which trusts its key); absent when that failed and said why.
            var demo = b.Services.FirstOrDefault(d => d.ServiceType == typeof(DemoCloud))?.ImplementationInstance as DemoCloud;
            if (demo is null)
            {
                return; // DemoCloud.Prepare reported why.
            }
            b.Services.AddSingleton<EmbeddedBroker>();
            b.Services.AddHostedService<DemoCloud.Service>();
            cloud.Broker = $"mqtt://127.0.0.1:{demo.BrokerPort}";
        }
        if (cloud.Broker is null || !BrokerAddress.TryParse(cloud.Broker, out var broker, out _))
        {
            return; // No broker (or an invalid one, already reported by AccessFeature).
        }
        var settings = CloudClientSettings.From(cloud, gateway.Id, broker!, "hikshare-gateway/" + GatewayRunner.SoftwareVersion, ctx.StartedAt);
        b.Services.AddSingleton(settings);
        b.Services.AddSingleton(sp => new MqttCloudClient(settings, sp.GetRequiredService<GrantsStore>(),
            sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<MqttCloudClient>>()));
        b.Services.AddSingleton<ICloudPublisher>(sp => sp.GetRequiredService<MqttCloudClient>());
        b.Services.AddHostedService(sp => sp.GetRequiredService<MqttCloudClient>());
    }
}
