using Microsoft.AspNetCore.Routing;

namespace HikShareGateway.Http.Whep;

/// <summary>
/// The minimal browser viewer the demo prints (<c>/webrtc-demo.html#token=…</c>): a static page, its script and style
/// from the assembly's resources. The token stays in the address's fragment, which browsers never send. A strict CSP:
/// no inline script, nothing from elsewhere. <c>/</c> is the web viewer's (contract §5.4), not this page's.
/// </summary>
public static class WebRtcDemoPage
{
    private const string Csp = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; media-src 'self' blob:; img-src 'self'; base-uri 'none'; frame-ancestors 'none'";

    public static void Map(IEndpointRouteBuilder app)
    {
        Serve(app, "/webrtc-demo.html", "webrtc-demo.html", "text/html; charset=utf-8");
        Serve(app, "/webrtc-demo.js", "webrtc-demo.js", "text/javascript; charset=utf-8");
        Serve(app, "/webrtc-demo.css", "webrtc-demo.css", "text/css; charset=utf-8");
    }

    private static void Serve(IEndpointRouteBuilder app, string route, string resource, string contentType)
    {
        byte[] content;
        using (var stream = typeof(WebRtcDemoPage).Assembly.GetManifestResourceStream("HikShareGateway.Http.Whep.Demo." + resource)
            ?? throw new InvalidOperationException("missing resource " + resource))
        using (var copy = new MemoryStream())
        {
            stream.CopyTo(copy);
            content = copy.ToArray();
        }
        app.MapGet(route, (HttpContext context) =>
        {
            var headers = context.Response.Headers;
            headers.ContentSecurityPolicy = Csp;
            headers.XContentTypeOptions = "nosniff";
            headers["Referrer-Policy"] = "no-referrer";
            headers.CacheControl = "no-cache";
            return Results.Bytes(content, contentType);
        });
    }
}
