using HikShareGateway.Core.Configuration;
using HikShareGateway.Http;
using HikShareGateway.Http.Admin;
using HikShareGateway.Http.Metrics;

namespace HikShareGateway.Composition;

/// <summary>
/// The HTTP API (contract §5), health, metrics and the loopback admin endpoint behind <c>hikshare-gateway status</c>.
/// Sections: <c>Http</c> (Core), <c>Http:Ptz</c>, <c>Admin</c>.
/// </summary>
public static class HttpFeature
{
    public static void Register(WebApplicationBuilder builder, GatewayContext context, List<string> errors)
    {
        var configuration = builder.Configuration;
        var gateway = Features.Bind<GatewayOptions>(configuration, GatewayOptions.Section, []);
        var http = Features.Bind<HttpOptions>(configuration, HttpOptions.Section, []);
        var ptz = Features.Bind<PtzApiOptions>(configuration, PtzApiOptions.Section, errors);
        var admin = Features.Bind<AdminOptions>(configuration, AdminOptions.Section, errors);
        if (http.BindAddress is not ("*" or "") && !System.Net.IPAddress.TryParse(http.BindAddress, out _))
        {
            errors.Add($"Http:BindAddress \"{http.BindAddress}\" is not an IP address: use * (default, every interface), 0.0.0.0, :: or one address of this machine.");
        }
        if (http.Port == 0 && admin.Port == 0)
        {
            // Kestrel without any endpoint would fall back to localhost:5000.
            errors.Add("Http:Port and Admin:Port are both 0: keep at least the loopback admin endpoint (Admin:Port, default 8081).");
        }
        if (http.Port > 0 && http.Port == admin.Port)
        {
            errors.Add($"Admin:Port {admin.Port} is the same as Http:Port: give the admin endpoint its own port (default 8081).");
        }

        builder.Services.AddSingleton(Features.Bind<MetricsOptions>(configuration, MetricsOptions.Section, errors));
        builder.Services.AddHttpApi(ptz, admin, admin.ResolveTokenFile(gateway));
        builder.Services.AddSingleton(new AdminInfo(GatewayRunner.SoftwareVersion, context.StartedAt));
        builder.WebHost.UseKestrel(k => HttpApi.Listen(k, http, admin));
    }

    public static void Map(WebApplication app) => app.MapHttpApi();
}
