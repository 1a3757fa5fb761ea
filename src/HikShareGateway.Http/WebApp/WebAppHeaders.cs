using Microsoft.AspNetCore.Http;

namespace HikShareGateway.Http.WebApp;

/// <summary>
/// The web viewer's response headers, one source for both places that serve it: the gateway (<c>WebAppEndpoints</c>)
/// and the sharing service (<c>GatewayAppEndpoints</c>, which links this file as it links the app's files).
/// </summary>
internal static class WebAppHeaders
{
    /// <summary>Strict: only this origin's scripts, styles and API; media from <c>blob:</c> (MSE); no framing, no forms.</summary>
    public const string ContentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; media-src 'self' blob:; " +
        "connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

    /// <summary>Headers on every answer of the app, the 404 included.</summary>
    public static void Apply(HttpResponse response)
    {
        var h = response.Headers;
        h.ContentSecurityPolicy = ContentSecurityPolicy;
        h.XContentTypeOptions = "nosniff";
        h["Referrer-Policy"] = "no-referrer";
        h.XFrameOptions = "DENY";
        h["Cross-Origin-Opener-Policy"] = "same-origin";
        h["Cross-Origin-Resource-Policy"] = "same-origin";
        // The microphone only for push-to-talk, on this origin; nothing else.
        h["Permissions-Policy"] = "microphone=(self), camera=(), geolocation=(), payment=(), usb=()";
    }
}
