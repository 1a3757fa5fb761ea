using HikShareGateway.Core.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace HikShareGateway.Http.Metrics;

/// <summary>
/// Records <c>hikshare_http_request_duration_seconds{method,route,status}</c> for every request of both listeners.
/// <c>route</c> is the endpoint's route template (<c>/api/v1/devices/{deviceId}/ptz/move</c>), never the raw path,
/// so device ids and typos do not create series; a request no endpoint matched is <c>route="unmatched"</c>.
/// </summary>
public static class RequestDurationMiddleware
{
    public const string Unmatched = "unmatched";

    private static readonly string[] StatusTexts = CreateStatusTexts();

    public static async Task InvokeAsync(HttpContext context, RequestDelegate next, GatewayMetrics metrics, TimeProvider time)
    {
        var started = time.GetTimestamp();
        try
        {
            await next(context).ConfigureAwait(false);
        }
        finally
        {
            var route = (context.GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText ?? Unmatched;
            metrics.HttpRequestDuration.Record(time.GetElapsedTime(started).TotalSeconds,
                new KeyValuePair<string, object?>("method", Method(context.Request.Method)),
                new KeyValuePair<string, object?>("route", route),
                new KeyValuePair<string, object?>("status", Status(context.Response.StatusCode)));
        }
    }

    /// <summary>The known methods as interned strings; anything else is <c>other</c> (a client must not create series).</summary>
    public static string Method(string method) => method switch
    {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "PATCH" => "PATCH",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    };

    private static string Status(int code) => code is >= 100 and < 600 ? StatusTexts[code - 100] : "other";

    private static string[] CreateStatusTexts()
    {
        var texts = new string[500];
        for (var i = 0; i < texts.Length; i++)
        {
            texts[i] = (i + 100).ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        return texts;
    }
}
