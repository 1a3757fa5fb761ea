using System.Text.Json;
using System.Text.Json.Serialization;
using HikShareCloud.Service.Accounts;
using HikShareCloud.Service.Gateways;
using HikShareCloud.Service.Grants;
using HikShareCloud.Service.Shares;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace HikShareCloud.Service.Http;

public sealed record SignUpBody(string? Address, string? Password);
/// <param name="Cookie">true: a portal session in an HttpOnly cookie with CSRF tokens instead of a Bearer token.</param>
public sealed record SignInBody(string? Address, string? Password, bool Cookie = false);
public sealed record VerifyBody(string? Address, string? Code);
public sealed record AddressBody(string? Address);
public sealed record BindBody(string? Code);

/// <summary><c>{"name":"…"}</c>; null or blank goes back to the name the gateway reports.</summary>
public sealed record NameBody(string? Name);
public sealed record VersionBody(long? Version);
public sealed record EditBody(long? Version, IReadOnlyList<ShareDeviceRequest>? Devices, string? Remark, DateTimeOffset? ExpiresAt);
public sealed record TokenBody(string? GatewayId);

/// <summary>
/// The sharing service's JSON API under <c>/api/v1</c>: Bearer session tokens, every refusal an RFC 9457
/// <c>application/problem+json</c> with a <c>urn:hikshare:problem:*</c> type. The endpoints only
/// translate; the services decide and keep the invariants.
/// </summary>
public static partial class SharingApi
{
    public const string ProblemContentType = "application/problem+json";

    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { DefaultIgnoreCondition = JsonIgnoreCondition.Never };

    public static void MapSharingApi(this WebApplication app)
    {
        app.Use(ProblemsMiddleware);
        app.MapGet("/healthz", () => Results.Text("ok\n"));

        var api = app.MapGroup("/api/v1");
        // :: Accounts and sessions (no session needed).
        api.MapPost("/accounts", async (SignUpBody body, AccountService accounts, CancellationToken ct) =>
        {
            await accounts.SignUpAsync(body.Address, body.Password, ct);
            return Results.Json(new { verification = "sent" }, Json, statusCode: 202);
        });
        api.MapPost("/accounts/verify", async (VerifyBody body, AccountService accounts, CancellationToken ct) =>
        {
            await accounts.VerifyAsync(body.Address, body.Code, ct);
            return Results.NoContent();
        });
        api.MapPost("/accounts/resend", async (AddressBody body, AccountService accounts, CancellationToken ct) =>
        {
            await accounts.ResendCodeAsync(body.Address, ct);
            return Results.Json(new { verification = "sent" }, Json, statusCode: 202);
        });
        api.MapPost("/sessions", async (SignInBody body, AccountService accounts, ServiceOptions options, HttpContext context, CancellationToken ct) =>
        {
            var remote = context.Connection.RemoteIpAddress?.ToString() ?? "unknown";
            if (!body.Cookie)
            {
                var (account, token) = await accounts.SignInAsync(body.Address, body.Password, remote, AccountService.SessionKindApi, ct);
                return Results.Json(new { token, account = account.Address }, Json, statusCode: 201);
            }
            var (who, session) = await accounts.SignInAsync(body.Address, body.Password, remote, AccountService.SessionKindCookie, ct);
            context.Response.Cookies.Append(SessionCookie, session, new CookieOptions
            {
                HttpOnly = true,
                Secure = context.Request.IsHttps,
                SameSite = SameSiteMode.Strict,
                Path = "/",
                MaxAge = TimeSpan.FromHours(options.SessionHours),
            });
            return Results.Json(new { account = who.Address, csrfToken = await accounts.RotateCsrfAsync(session, null, ct) }, Json, statusCode: 201);
        });
        api.MapDelete("/sessions/current", async (HttpContext context, AccountService accounts, CancellationToken ct) =>
        {
            await RequireAccountAsync(context);
            await accounts.SignOutAsync(BearerToken(context) ?? context.Request.Cookies[SessionCookie]!, ct);
            context.Response.Cookies.Delete(SessionCookie);
            return Results.NoContent();
        });
        // Two parameters: a lambda of HttpContext alone is taken as a RequestDelegate and its result is never written.
        api.MapGet("/me", async (HttpContext context, CancellationToken ct) => Results.Json(new { account = (await RequireAccountAsync(context)).Address }, Json));
        api.MapGet("/keys", (SigningKeys keys) => Results.Text($"{{\"keys\":[{string.Join(',', keys.All.Select(k => k.Public.ToJson()))}]}}", "application/json"));

        // :: Gateways and devices of the owner.
        api.MapGet("/gateways", async (HttpContext context, GatewayService gateways, CancellationToken ct) =>
            Results.Json(await gateways.ListAsync(await RequireAccountAsync(context), ct), Json));
        api.MapPost("/gateways/{gatewayId}/bind", async (string gatewayId, BindBody body, HttpContext context, GatewayService gateways, CancellationToken ct) =>
        {
            await gateways.BindToOwnerAsync(await RequireAccountAsync(context), gatewayId, body.Code, ct);
            return Results.NoContent();
        });

        api.MapPut("/devices/{deviceId}/name", async (string deviceId, NameBody body, HttpContext context, GatewayService gateways, CancellationToken ct) =>
        {
            await gateways.RenameAsync(await RequireAccountAsync(context), deviceId, null, body.Name, ct);
            return Results.NoContent();
        });
        api.MapPut("/devices/{deviceId}/channels/{channel:int}/name", async (string deviceId, int channel, NameBody body, HttpContext context, GatewayService gateways, CancellationToken ct) =>
        {
            await gateways.RenameAsync(await RequireAccountAsync(context), deviceId, channel, body.Name, ct);
            return Results.NoContent();
        });

        // :: Shares.
        api.MapPost("/shares", async (ShareRequest body, HttpContext context, ShareService shares, CancellationToken ct) =>
        {
            var share = await shares.CreateAsync(await RequireAccountAsync(context), body, ct);
            return Results.Json(share, Json, statusCode: 201);
        });
        api.MapGet("/shares/outgoing", async (HttpContext context, ShareService shares, CancellationToken ct) =>
            Results.Json(await shares.OutgoingAsync(await RequireAccountAsync(context), ct), Json));
        api.MapGet("/shares/incoming", async (HttpContext context, ShareService shares, CancellationToken ct) =>
            Results.Json(await shares.IncomingAsync(await RequireAccountAsync(context), ct), Json));
        api.MapGet("/shares/history", async (HttpContext context, ShareService shares, CancellationToken ct) =>
            Results.Json(await shares.HistoryAsync(await RequireAccountAsync(context), ct), Json));
        api.MapPut("/shares/{shareId}", async (string shareId, EditBody body, HttpContext context, ShareService shares, CancellationToken ct) =>
        {
            var account = await RequireAccountAsync(context);
            var version = body.Version ?? throw ServiceException.BadRequest("version-required", "send the share's version as read (optimistic concurrency)");
            return Results.Json(await shares.EditAsync(account, shareId, version, new ShareRequest(null, body.Devices, body.Remark, body.ExpiresAt), ct), Json);
        });
        api.MapPost("/shares/{shareId}/accept", async (string shareId, HttpContext context, ShareService shares, CancellationToken ct) =>
            Results.Json(await shares.AcceptAsync(await RequireAccountAsync(context), shareId, await OptionalVersionAsync(context), ct), Json));
        api.MapPost("/shares/{shareId}/reject", async (string shareId, HttpContext context, ShareService shares, CancellationToken ct) =>
            Results.Json(await shares.RejectAsync(await RequireAccountAsync(context), shareId, await OptionalVersionAsync(context), ct), Json));
        api.MapDelete("/shares/{shareId}", async (string shareId, HttpContext context, ShareService shares, CancellationToken ct) =>
            Results.Json(await shares.DeleteAsync(await RequireAccountAsync(context), shareId, null, ct), Json));

        // :: Audit (contract §8): what the owner's gateways reported, newest first.
        api.MapGet("/audit", async (HttpContext context, Audit.AuditService audit, int? limit, DateTimeOffset? before, string? account, string? deviceId, CancellationToken ct) =>
            Results.Json(await audit.ForOwnerAsync(await RequireAccountAsync(context), limit ?? 200, before,
                account is null ? null : AccountService.Normalize(account), deviceId, ct), Json));

        // :: Viewer tokens (contract §4).
        api.MapPost("/viewer-tokens", async (TokenBody body, HttpContext context, ViewerTokenService tokens, CancellationToken ct) =>
        {
            var account = await RequireAccountAsync(context);
            var gatewayId = body.GatewayId is { Length: > 0 } g && GatewayIds.IsValid(g) ? g : throw ServiceException.BadRequest("bad-gateway", "gatewayId is required");
            return Results.Json(await tokens.IssueAsync(account, gatewayId, ct), Json, statusCode: 201);
        });
    }

    public const string SessionCookie = "hikshare_session";
    public const string CsrfHeader = "X-CSRF-Token";

    /// <summary>
    /// Bearer first (API clients; no CSRF risk: a browser never adds it by itself), else the portal's
    /// session cookie, which for anything but GET/HEAD also needs the current one-time CSRF token; the
    /// next one comes back in the <c>X-CSRF-Token</c> response header.
    /// </summary>
    internal static async Task<AccountRef> RequireAccountAsync(HttpContext context)
    {
        var accounts = context.RequestServices.GetRequiredService<AccountService>();
        if (BearerToken(context) is { } bearer)
        {
            return await accounts.AuthenticateAsync(bearer, context.RequestAborted)
                ?? throw ServiceException.Unauthorized("the session token is unknown or expired; sign in again");
        }
        var cookie = context.Request.Cookies[SessionCookie]
            ?? throw ServiceException.Unauthorized("send the session token as \"Authorization: Bearer <token>\" (POST /api/v1/sessions gives one)");
        var account = await accounts.AuthenticateAsync(cookie, context.RequestAborted)
            ?? throw ServiceException.Unauthorized("the session is unknown or expired; sign in again");
        if (!HttpMethods.IsGet(context.Request.Method) && !HttpMethods.IsHead(context.Request.Method))
        {
            var presented = context.Request.Headers[CsrfHeader].ToString();
            context.Response.Headers[CsrfHeader] = await accounts.RotateCsrfAsync(cookie, presented.Length == 0 ? "-" : presented, context.RequestAborted);
        }
        return account;
    }

    private static string? BearerToken(HttpContext context)
    {
        var h = context.Request.Headers.Authorization.ToString();
        return h.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) && h.Length > 7 ? h[7..].Trim() : null;
    }

    /// <summary>An optional <c>{"version":N}</c> body: when given, the change applies only to that version.</summary>
    private static async Task<long?> OptionalVersionAsync(HttpContext context)
    {
        if (context.Request.ContentLength is null or 0)
        {
            return null;
        }
        return (await context.Request.ReadFromJsonAsync<VersionBody>(Json, context.RequestAborted))?.Version;
    }

    /// <summary>Every refusal as RFC 9457 problem JSON, also the framework's (bad JSON, unknown path, wrong method).</summary>
    private static async Task ProblemsMiddleware(HttpContext context, RequestDelegate next)
    {
        try
        {
            await next(context);
            var r = context.Response;
            if (!r.HasStarted && r.StatusCode is 404 or 405 && r.ContentType is null)
            {
                await WriteProblemAsync(context, r.StatusCode == 404
                    ? new ServiceException(404, "not-found", "no such resource; the API is under /api/v1")
                    : new ServiceException(405, "method-not-allowed", "this resource does not accept " + context.Request.Method));
            }
        }
        catch (ServiceException e) when (!context.Response.HasStarted)
        {
            await WriteProblemAsync(context, e);
        }
        catch (Exception e) when (e is BadHttpRequestException or JsonException && !context.Response.HasStarted)
        {
            await WriteProblemAsync(context, ServiceException.BadRequest("bad-request", "the request body is not the JSON this endpoint takes"));
        }
        catch (Exception e) when (e is System.Data.Common.DbException && !context.Response.HasStarted)
        {
            // A database failure (unreachable, deadlock victim, …): the transaction rolled back; nothing changed.
            context.RequestServices.GetRequiredService<Microsoft.Extensions.Logging.ILoggerFactory>().CreateLogger("HikShareCloud.Service.Http")
                .LogDatabaseFailure(e.GetType().Name, LogText.Escape(e.Message));
            await WriteProblemAsync(context, new ServiceException(503, "database", "the database did not complete the request; nothing changed, try again"));
        }
    }

    private static Task WriteProblemAsync(HttpContext context, ServiceException e)
    {
        var r = context.Response;
        var csrf = r.Headers[CsrfHeader]; // the successor of a consumed CSRF token must reach the client even when the change is refused
        r.Clear();
        if (csrf.Count > 0)
        {
            r.Headers[CsrfHeader] = csrf;
        }
        r.StatusCode = e.Status;
        r.Headers.CacheControl = "no-store";
        if (e.Status == 401)
        {
            r.Headers.WWWAuthenticate = "Bearer realm=\"HikShareCloud\"";
        }
        if (e.Status == 429)
        {
            r.Headers.RetryAfter = "60";
        }
        return r.WriteAsJsonAsync(new { type = e.Type, title = Title(e.Status), status = e.Status, detail = e.Message }, Json, ProblemContentType, context.RequestAborted);
    }

    [Microsoft.Extensions.Logging.LoggerMessage(EventId = 7030, Level = Microsoft.Extensions.Logging.LogLevel.Error, Message = "Request failed in the database ({Error}: {Message}); rolled back")]
    private static partial void LogDatabaseFailure(this Microsoft.Extensions.Logging.ILogger logger, string error, string message);

    private static string Title(int status) => status switch
    {
        400 => "Bad request",
        401 => "Authentication required",
        403 => "Not permitted",
        404 => "Not found",
        405 => "Method not allowed",
        409 => "Conflict",
        503 => "Service unavailable",
        429 => "Too many requests",
        _ => "Error",
    };
}
