using System.Collections.Frozen;
using System.Reflection;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace HikShareGateway.Http.WebApp;

/// <summary>One file of the web viewer, read once from the assembly.</summary>
public sealed record WebAppFile(string Path, string ContentType, byte[] Content, string ETag);

/// <summary>
/// The web viewer (contract §5.4): <c>GET /</c> and <c>GET /app/…</c> from resources embedded in this assembly
/// (<c>WebApp/wwwroot</c>), so it works offline on the LAN and needs no files on disk. Every answer carries the
/// security headers of <see cref="SecurityHeaders"/>; the API it calls is the one of contract §5 (Bearer).
/// </summary>
public static class WebAppEndpoints
{
    private const string ResourcePrefix = "webapp/";

    /// <summary>
    /// Only our own files: no inline script or style, media from <c>blob:</c> (MSE), pictures from <c>blob:</c> (snapshots
    /// are fetched with the Authorization header, never with the token in a URL), no framing, no form posts elsewhere.
    /// </summary>
    public const string ContentSecurityPolicy = WebAppHeaders.ContentSecurityPolicy;

    private static readonly Lazy<FrozenDictionary<string, WebAppFile>> Files = new(Load);

    /// <summary>Every file of the app by its URL path (<c>/</c> is <c>index.html</c>).</summary>
    public static IReadOnlyDictionary<string, WebAppFile> All => Files.Value;

    public static void MapWebApp(this IEndpointRouteBuilder app)
    {
        app.MapGet("/", (HttpContext context) => Serve(context, "/index.html"));
        app.MapGet("/app/config.json", (HttpContext context) =>
        {
            SecurityHeaders(context.Response);
            context.Response.Headers.CacheControl = "no-cache";
            return Results.Json(WebAppConfig.From(context.RequestServices.GetRequiredService<EndpointDataSource>()), ApiJsonContext.Default.WebAppConfig);
        });
        app.MapGet("/app/{**path}", (HttpContext context, string path) => Serve(context, "/app/" + path));
    }

    /// <summary>Headers on every answer of the app, the 404 included.</summary>
    public static void SecurityHeaders(HttpResponse response) => WebAppHeaders.Apply(response);

    private static IResult Serve(HttpContext context, string path)
    {
        SecurityHeaders(context.Response);
        if (!Files.Value.TryGetValue(path, out var file))
        {
            return Problems.Create(404, "not-found", "Not found", "The web viewer has no such file.");
        }
        // Revalidated every time (no-cache) so that an upgraded gateway serves its new app at once; the ETag
        // makes that a 304 without a body.
        context.Response.Headers.CacheControl = "no-cache";
        context.Response.Headers.ETag = file.ETag;
        if (context.Request.Headers.IfNoneMatch.Contains(file.ETag))
        {
            return Results.StatusCode(StatusCodes.Status304NotModified);
        }
        return Results.Bytes(file.Content, file.ContentType);
    }

    private static FrozenDictionary<string, WebAppFile> Load()
    {
        var assembly = typeof(WebAppEndpoints).Assembly;
        var files = new Dictionary<string, WebAppFile>(StringComparer.Ordinal);
        foreach (var name in assembly.GetManifestResourceNames())
        {
            if (!name.StartsWith(ResourcePrefix, StringComparison.Ordinal))
            {
                continue;
            }
            var relative = name[ResourcePrefix.Length..].Replace('\\', '/');
            var path = relative == "index.html" ? "/index.html" : "/app/" + relative;
            var content = Read(assembly, name);
            var etag = "\"" + Convert.ToHexStringLower(SHA256.HashData(content), 0, 8) + "\"";
            files[path] = new WebAppFile(path, ContentTypeOf(relative), content, etag);
        }
        return files.ToFrozenDictionary(StringComparer.Ordinal);
    }

    private static byte[] Read(Assembly assembly, string name)
    {
        using var stream = assembly.GetManifestResourceStream(name)!;
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }

    internal static string ContentTypeOf(string path) => System.IO.Path.GetExtension(path) switch
    {
        ".html" => "text/html; charset=utf-8",
        ".js" => "text/javascript; charset=utf-8",
        ".css" => "text/css; charset=utf-8",
        ".svg" => "image/svg+xml",
        ".json" or ".webmanifest" => "application/manifest+json",
        ".png" => "image/png",
        _ => "application/octet-stream",
    };
}
