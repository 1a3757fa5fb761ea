using System.Text.Json.Serialization;
using HikShareGateway.Core.Devices;

namespace HikShareGateway.Http;

/// <summary>An RFC 9457 problem details object. <c>type</c> is a URN naming the problem; <c>detail</c> never holds a secret.</summary>
public sealed record ProblemDocument(
    [property: JsonPropertyName("type")] string Type,
    [property: JsonPropertyName("title")] string Title,
    [property: JsonPropertyName("status")] int Status,
    [property: JsonPropertyName("detail")] string Detail);

/// <summary>The API's error answers, all <c>application/problem+json</c> (RFC 9457 §3).</summary>
public static class Problems
{
    public const string ContentType = "application/problem+json";

    public static IResult Create(int status, string slug, string title, string detail) =>
        new ProblemResult(new ProblemDocument("urn:hikshare:problem:" + slug, title, status, detail), null);

    /// <summary>401 with an RFC 6750 §3 challenge; <paramref name="invalidToken"/> adds <c>error="invalid_token"</c>.</summary>
    public static IResult Unauthorized(string detail, bool invalidToken) =>
        new ProblemResult(
            new ProblemDocument("urn:hikshare:problem:unauthorized", "Authentication required", 401, detail),
            invalidToken ? "Bearer realm=\"HikShareGateway\", error=\"invalid_token\"" : "Bearer realm=\"HikShareGateway\"");

    /// <summary>403 for "not permitted" and "no such device" alike (contract §5: never reveal whether a device exists).</summary>
    public static IResult Forbidden() =>
        Create(403, "forbidden", "Not permitted", "Your account has no grant for this operation on this device and channel.");

    public static IResult BadRequest(string detail) => Create(400, "bad-request", "Malformed request", detail);

    /// <summary>
    /// The one device-error → problem mapping (contract §5): not supported → 409 (<paramref name="notSupported"/>: what
    /// the operation calls it), timeout → 504, anything else → 502, the device refusing the gateway's own login saying so.
    /// Messages of <see cref="DeviceException"/> are not shown (they may name device details the viewer need not see).
    /// </summary>
    public static IResult FromDevice(DeviceException e, Func<IResult> notSupported) => e.Kind switch
    {
        DeviceErrorKind.NotSupported => notSupported(),
        DeviceErrorKind.Timeout => DeviceTimeout(),
        DeviceErrorKind.Unauthorized => Create(502, "device-error", "Device error", "The device refused the gateway's credentials; the installer must check the device login."),
        _ => Create(502, "device-error", "Device error", "The device answered with an error."),
    };

    /// <summary>Whether the failure is the installer's or the device's to look into (logged), rather than a plain "cannot" or "too slow".</summary>
    public static bool IsDeviceFault(DeviceException e) => e.Kind is not (DeviceErrorKind.NotSupported or DeviceErrorKind.Timeout);

    public static IResult DeviceTimeout() => Create(504, "device-timeout", "Device timeout", "The device did not answer in time.");

    public static IResult TooManyRequests(int retryAfterSeconds) =>
        new ProblemResult(
            new ProblemDocument("urn:hikshare:problem:rate-limited", "Too many requests", 429,
                $"Too many PTZ commands from this account; retry in {retryAfterSeconds} s."),
            null,
            retryAfterSeconds);

    private sealed class ProblemResult(ProblemDocument problem, string? challenge, int? retryAfter = null) : IResult, IStatusCodeHttpResult
    {
        public int? StatusCode => problem.Status;

        public async Task ExecuteAsync(HttpContext httpContext)
        {
            var response = httpContext.Response;
            response.StatusCode = problem.Status;
            response.Headers.CacheControl = "no-store";
            if (challenge is not null)
            {
                response.Headers.WWWAuthenticate = challenge;
            }
            if (retryAfter is { } r)
            {
                response.Headers.RetryAfter = r.ToString(System.Globalization.CultureInfo.InvariantCulture);
            }
            await response.WriteAsJsonAsync(problem, ApiJsonContext.Default.ProblemDocument, ContentType, httpContext.RequestAborted).ConfigureAwait(false);
        }
    }
}

internal static class ApiJson
{
    /// <summary>
    /// Reflection-based (not for NativeAOT: the endpoints here use <see cref="ApiJsonContext"/>, the same settings
    /// through source generation). Kept for code that has not moved to the context yet.
    /// </summary>
    public static readonly System.Text.Json.JsonSerializerOptions Options = new(System.Text.Json.JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };
}
