using HikShareGateway.Cloud;
using HikShareGateway.Core.Access;
using HikShareGateway.Core.Cloud;
using HikShareGateway.Core.Configuration;

namespace HikShareGateway.Composition;

/// <summary>
/// The MQTT link to the cloud (contract §3): binds the link's keys of <c>Cloud</c> (<see cref="CloudLinkOptions"/>),
/// registers <see cref="MqttCloudClient"/> as the <see cref="ICloudPublisher"/>, the <see cref="IBrokerStatus"/> and
/// a hosted service when a broker is configured; it delivers grant messages to Core's <see cref="IGrantsInbox"/>.
/// In the demo with no broker, the demo's cloud is prepared here (its key registered as an
/// <see cref="ExtraTrustedKey"/>) and an embedded broker is started first (see <see cref="DemoCloud"/>). Without a
/// broker and outside the demo, nothing is registered and the Core fallbacks (no publishing, never connected)
/// apply; the gateway then enforces the grants from its state directory. Independent of feature order.
/// </summary>
public static class CloudFeature
{
    public static void Register(WebApplicationBuilder b, GatewayContext ctx, List<string> errors)
    {
        var configuration = b.Configuration;
        var gateway = configuration.GetSection(GatewayOptions.Section).Get<GatewayOptions>() ?? new GatewayOptions();
        var cloud = Features.Bind<CloudLinkOptions>(configuration, CloudLinkOptions.Section, errors);
        b.Services.AddSingleton(cloud);
        if (ctx.Demo && !cloud.HasBroker)
        {
            // The demo is its own cloud: a key kept in the state directory, trusted by the grants store.
            if (errors.Count > 0)
            {
                return; // Do not create the demo's key for a configuration that will not start.
            }
            var demo = DemoCloud.Prepare(cloud, gateway, configuration, errors);
            if (demo is null)
            {
                return; // DemoCloud.Prepare reported why.
            }
            b.Services.AddSingleton(demo);
            b.Services.AddSingleton(new ExtraTrustedKey(demo.Key.Public));
            b.Services.AddSingleton<EmbeddedBroker>();
            b.Services.AddHostedService<DemoCloud.Service>();
            cloud.Broker = $"mqtt://127.0.0.1:{demo.BrokerPort}";
        }
        var brokers = cloud.BrokerAddresses();
        if (brokers.Count == 0)
        {
            return; // No broker (or an invalid one, reported above).
        }
        var settings = CloudClientSettings.From(cloud, gateway.Id, brokers, "hikshare-gateway/" + GatewayRunner.SoftwareVersion, ctx.StartedAt);
        b.Services.AddSingleton(settings);
        // The status object stands alone: the grants store reads it, and the client (which needs the store) writes it.
        var status = new BrokerLinkStatus();
        b.Services.AddSingleton<IBrokerStatus>(status);
        b.Services.AddSingleton(sp => new MqttCloudClient(settings, sp.GetRequiredService<IGrantsInbox>(),
            sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<MqttCloudClient>>(), status, [.. sp.GetServices<ICloudInbound>()]));
        b.Services.AddSingleton<ICloudPublisher>(sp => sp.GetRequiredService<MqttCloudClient>());
        b.Services.AddHostedService(sp => sp.GetRequiredService<MqttCloudClient>());
    }
}
