using System.Net;
using HikShareGateway.Core.Access;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace HikShareGateway.Http;

/// <summary>
/// <c>Authorization: Bearer &lt;jwt&gt;</c> (contract §4, RFC 6750 §2.1) turned into an account through
/// <see cref="IViewerAuthenticator"/>. The token is never logged, echoed or stored.
/// </summary>
public static partial class BearerAuthentication
{
    public const string AccountItem = "hikshare.account";
    public const string ExpiresItem = "hikshare.expires";

    /// <summary>The bearer token of the request, or null (scheme compared case-insensitively, RFC 9110 §11.1).</summary>
    public static string? ReadBearer(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        if (header.Length > 7 && header.AsSpan(0, 7).Equals("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            var token = header[7..].Trim();
            return token.Length == 0 ? null : token;
        }
        return null;
    }

    /// <summary>Authenticates the request: returns the account, or the 401 to answer.</summary>
    public static string? Authenticate(HttpContext context, out IResult? failure)
    {
        var token = ReadBearer(context.Request);
        var logger = context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("HikShareGateway.Http.Auth");
        var remote = Remote(context);
        if (token is null)
        {
            LogNoToken(logger, context.Request.Path, remote);
            failure = Problems.Unauthorized("Send the viewer token as \"Authorization: Bearer <token>\".", invalidToken: false);
            return null;
        }
        var authenticator = context.RequestServices.GetRequiredService<IViewerAuthenticator>();
        var result = authenticator.Authenticate(new ViewerCredentials(null, null, null, token), context.Connection.RemoteIpAddress);
        if (result.Status != AuthStatus.Ok || string.IsNullOrEmpty(result.Account))
        {
            var reason = result.Reason ?? result.Status.ToString();
            LogRejected(logger, context.Request.Path, remote, reason);
            failure = Problems.Unauthorized(
                result.Status == AuthStatus.RateLimited
                    ? "Too many failed authentications from this address (a valid token is still accepted)."
                    : "The token is not valid for this gateway: " + reason + ".",
                invalidToken: true);
            return null;
        }
        failure = null;
        context.Items[ExpiresItem] = result.ExpiresAt;
        return result.Account;
    }

    /// <summary>Endpoint filter for a route group: 401 problem+json unless a valid bearer token came with the request.</summary>
    public static async ValueTask<object?> Filter(EndpointFilterInvocationContext invocation, EndpointFilterDelegate next)
    {
        var account = Authenticate(invocation.HttpContext, out var failure);
        if (account is null)
        {
            return failure;
        }
        invocation.HttpContext.Items[AccountItem] = account;
        return await next(invocation).ConfigureAwait(false);
    }

    /// <summary>When the caller's token expires (null when the authenticator did not say).</summary>
    public static DateTimeOffset? ExpiresAt(HttpContext context) => context.Items[ExpiresItem] as DateTimeOffset?;

    /// <summary>The account the filter authenticated.</summary>
    public static string Account(HttpContext context) =>
        context.Items[AccountItem] as string ?? throw new InvalidOperationException("the endpoint is not behind BearerAuthentication.Filter");

    public static string Remote(HttpContext context) =>
        context.Connection.RemoteIpAddress is { } ip
            ? new IPEndPoint(ip.IsIPv4MappedToIPv6 ? ip.MapToIPv4() : ip, context.Connection.RemotePort).ToString()
            : "unknown";

    [LoggerMessage(EventId = 5001, Level = LogLevel.Information, Message = "HTTP {Path} from {Remote}: no bearer token (401)")]
    private static partial void LogNoToken(ILogger logger, string path, string remote);

    // Debug: the authenticator logs failures per address without flooding (first at Information, the limit at Warning).
    [LoggerMessage(EventId = 5002, Level = LogLevel.Debug, Message = "HTTP {Path} from {Remote}: token rejected: {Reason} (401)")]
    private static partial void LogRejected(ILogger logger, string path, string remote, string reason);
}
