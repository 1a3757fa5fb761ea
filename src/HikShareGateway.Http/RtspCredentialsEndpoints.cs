using System.Text.Json;
using System.Text.Json.Serialization;
using HikShareGateway.Core.Access;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace HikShareGateway.Http;

public sealed record RtspCredentialCreated(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("username")] string Username,
    [property: JsonPropertyName("password")] string Password,
    [property: JsonPropertyName("expiresAt")] DateTimeOffset ExpiresAt);

public sealed record RtspCredentialListed(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("username")] string Username,
    [property: JsonPropertyName("createdAt")] DateTimeOffset CreatedAt,
    [property: JsonPropertyName("expiresAt")] DateTimeOffset ExpiresAt);

public sealed record RtspCredentialList([property: JsonPropertyName("credentials")] IReadOnlyList<RtspCredentialListed> Credentials);

/// <summary>
/// <c>/api/v1/rtsp-credentials</c> (contract §4.1): a viewer exchanges its token for RTSP credentials that players with
/// short password fields can carry. <c>POST</c> (optional body <c>{"ttlSeconds":N}</c>) → 201 with the password, the
/// only time it is shown; <c>GET</c> lists the caller's live ones without passwords; <c>DELETE …/{id}</c> revokes one of
/// the caller's (404 for anything else). 16 live per account: the 17th is 409. Passwords are never logged.
/// </summary>
public static partial class RtspCredentialsEndpoints
{
    public const int MaxBodyBytes = 1024;
    public const int MaxTtlSeconds = 30 * 24 * 3600;

    public static void Map(RouteGroupBuilder api)
    {
        // Typed as a Func: a method group of HttpContext → Task would bind as a RequestDelegate and drop the IResult.
        api.MapPost("/rtsp-credentials", (Func<HttpContext, Task<IResult>>)CreateAsync);
        api.MapGet("/rtsp-credentials", List);
        api.MapDelete("/rtsp-credentials/{id}", Delete);
    }

    private static async Task<IResult> CreateAsync(HttpContext context)
    {
        var account = BearerAuthentication.Account(context);
        if (BearerAuthentication.ExpiresAt(context) is not { } tokenExpires)
        {
            return Problems.Create(409, "token-without-expiry", "Cannot issue", "The token carries no expiry to bound the credentials by.");
        }
        TimeSpan? ttl = null;
        var body = await ReadBodyAsync(context).ConfigureAwait(false);
        if (body is null)
        {
            return Problems.BadRequest($"The body is larger than {MaxBodyBytes} bytes.");
        }
        if (body.Length > 0 && !TryParseTtl(body, out ttl, out var error))
        {
            return Problems.BadRequest(error);
        }
        var store = context.RequestServices.GetRequiredService<IRtspCredentials>();
        switch (store.TryIssue(account, tokenExpires, ttl, out var issued))
        {
            case RtspCredentialIssue.TooMany:
                return Problems.Create(409, "too-many-credentials", "Too many RTSP credentials",
                    "This account already holds 16 live RTSP credentials; revoke one (DELETE /api/v1/rtsp-credentials/{id}) first.");
            case RtspCredentialIssue.TokenExpired:
                return Problems.Unauthorized("The token has expired.", invalidToken: true);
        }
        Log.Issued(context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("HikShareGateway.Http.RtspCredentials"),
            issued!.Info.Id, account, issued.Info.ExpiresAt, BearerAuthentication.Remote(context));
        return Results.Created($"/api/v1/rtsp-credentials/{issued.Info.Id}",
            new RtspCredentialCreated(issued.Info.Id, issued.Info.Username, issued.Password, issued.Info.ExpiresAt));
    }

    private static IResult List(HttpContext context)
    {
        var account = BearerAuthentication.Account(context);
        var store = context.RequestServices.GetRequiredService<IRtspCredentials>();
        return Results.Json(new RtspCredentialList([.. store.List(account).Select(c => new RtspCredentialListed(c.Id, c.Username, c.CreatedAt, c.ExpiresAt))]), ApiJsonContext.Default.RtspCredentialList);
    }

    private static IResult Delete(HttpContext context, string id)
    {
        var account = BearerAuthentication.Account(context);
        var store = context.RequestServices.GetRequiredService<IRtspCredentials>();
        return store.Revoke(account, id)
            ? Results.NoContent()
            : Problems.Create(404, "not-found", "No such credential", "The caller holds no RTSP credential with this id.");
    }

    /// <summary>The optional body: <c>{"ttlSeconds": 1..2592000}</c> and nothing else.</summary>
    internal static bool TryParseTtl(ReadOnlySpan<byte> body, out TimeSpan? ttl, out string error)
    {
        ttl = null;
        error = "";
        if (!System.Text.Unicode.Utf8.IsValid(body))
        {
            error = "The body is not UTF-8 JSON.";
            return false;
        }
        try
        {
            var reader = new Utf8JsonReader(body, new JsonReaderOptions { MaxDepth = 4 });
            using var doc = JsonDocument.ParseValue(ref reader);
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                error = "The body must be a JSON object such as {\"ttlSeconds\":3600}.";
                return false;
            }
            foreach (var p in doc.RootElement.EnumerateObject())
            {
                if (p.Name != "ttlSeconds")
                {
                    error = $"Unknown field \"{p.Name}\": the body takes only ttlSeconds.";
                    return false;
                }
                if (p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetInt32(out var s) || s < 1 || s > MaxTtlSeconds)
                {
                    error = $"\"ttlSeconds\" must be a whole number of seconds between 1 and {MaxTtlSeconds}.";
                    return false;
                }
                ttl = TimeSpan.FromSeconds(s);
            }
            return true;
        }
        catch (JsonException e)
        {
            error = $"The body is not valid JSON (byte {e.BytePositionInLine + 1}).";
            return false;
        }
    }

    private static async Task<byte[]?> ReadBodyAsync(HttpContext context)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[512];
        int n;
        while ((n = await context.Request.Body.ReadAsync(chunk, context.RequestAborted).ConfigureAwait(false)) > 0)
        {
            if (buffer.Length + n > MaxBodyBytes)
            {
                return null;
            }
            buffer.Write(chunk, 0, n);
        }
        return buffer.ToArray();
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 5310, Level = LogLevel.Information, Message = "RTSP credential {Id} issued to {Account} until {ExpiresAt:u} from {Remote}")]
        public static partial void Issued(ILogger logger, string id, string account, DateTimeOffset expiresAt, string remote);
    }
}
