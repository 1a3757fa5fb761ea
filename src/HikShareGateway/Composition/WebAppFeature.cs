using HikShareGateway.Http.WebApp;

namespace HikShareGateway.Composition;

/// <summary>
/// The web viewer (contract §5.4) at <c>/</c> on the HTTP port: embedded files of <c>HikShareGateway.Http</c>
/// (<see cref="WebAppEndpoints"/>). It uses only the public API, so it needs no services of its own.
/// </summary>
public static class WebAppFeature
{
    public static void Register(WebApplicationBuilder builder, GatewayContext context, List<string> errors)
    {
    }

    public static void Map(WebApplication app) => app.MapWebApp();
}
