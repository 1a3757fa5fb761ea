using System.Collections.Concurrent;
using System.Net;
using HikShareGateway.Access.Accounts;
using HikShareGateway.Access.Credentials;
using HikShareGateway.Access.Jose;
using HikShareGateway.Core.Access;
using HikShareGateway.Core.Diagnostics;
using Microsoft.Extensions.Logging;

namespace HikShareGateway.Access.Tokens;

/// <summary>
/// <see cref="IViewerAuthenticator"/> over viewer tokens (contract §4). Precedence: Bearer, then the
/// <c>?token=</c> query, then Basic (password = token, user must equal <c>sub</c> after normalisation).
/// Failures are counted per remote address in a sliding window; beyond the limit the address gets
/// <see cref="AuthStatus.RateLimited"/> without the token being checked. Tokens are never logged.
/// </summary>
public sealed partial class ViewerAuthenticator : IViewerAuthenticator
{
    private readonly TrustedKeySet _keys;
    private readonly string _gatewayId;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly GatewayMetrics _metrics;
    private readonly FailureRateLimiter _limiter;
    private readonly RtspCredentialStore? _credentials;

    /// <param name="credentials">RTSP credentials (contract §4.1) accepted as Basic user/password; null: tokens only.</param>
    public ViewerAuthenticator(TrustedKeySet keys, string gatewayId, AccessOptions options, TimeProvider time, ILogger<ViewerAuthenticator> logger, GatewayMetrics? metrics = null,
        RtspCredentialStore? credentials = null)
    {
        _credentials = credentials;
        _metrics = metrics ?? GatewayMetrics.Unexported;
        _keys = keys;
        _gatewayId = gatewayId;
        _time = time;
        _logger = logger;
        _limiter = new FailureRateLimiter(options.AuthFailureLimit, TimeSpan.FromSeconds(options.AuthFailureWindowSeconds), time);
    }

    public AuthResult Authenticate(in ViewerCredentials credentials, IPAddress? remote)
    {
        if (credentials.IsEmpty)
        {
            return AuthResult.Missing;
        }
        // A dual-stack listener reports IPv4 viewers as ::ffff:a.b.c.d; count them as the IPv4 address.
        if (remote is { IsIPv4MappedToIPv6: true })
        {
            remote = remote.MapToIPv4();
        }
        if (remote is not null && _limiter.IsLimited(remote))
        {
            _metrics.AuthenticationFailures.Add(1, new KeyValuePair<string, object?>("reason", "rate-limited"));
            LogRateLimited(remote);
            return new AuthResult(AuthStatus.RateLimited, null, "too many failed authentications from this address; try later");
        }

        // An issued RTSP credential (24 alphanumerics, never a token's shape) as the Basic password.
        if (_credentials is not null && credentials is { BearerToken: null, QueryToken: null, BasicUser: { } user, BasicPassword: { } password }
            && RtspCredentialStore.LooksIssued(password))
        {
            if (AccountName.Normalize(user) is { } name && _credentials.VerifyBasic(name, password) is { } issued)
            {
                return AuthResult.Success(issued.Username, issued.ExpiresAt);
            }
            return Failed(AuthResult.Fail("unknown-rtsp-credential"), remote);
        }

        var token = credentials.BearerToken ?? credentials.QueryToken ?? credentials.BasicPassword;
        AuthResult result;
        if (string.IsNullOrEmpty(token))
        {
            // A Basic user without a password is not a token: ask again.
            result = AuthResult.Fail("no token (give it as the Basic password, ?token= or Bearer)");
        }
        else
        {
            var error = ViewerTokens.Validate(token, _keys, _gatewayId, _time.GetUtcNow(), out var account, out var expiresAt);
            if (error != TokenError.None)
            {
                result = AuthResult.Fail(error.ReasonName());
            }
            else if (credentials.BearerToken is null && credentials.QueryToken is null && credentials.BasicUser is not null
                     && !string.Equals(AccountName.Normalize(credentials.BasicUser), account, StringComparison.Ordinal))
            {
                result = AuthResult.Fail("Basic user is not the token's sub");
            }
            else
            {
                return AuthResult.Success(account!, expiresAt);
            }
        }
        return Failed(result, remote);
    }

    private AuthResult Failed(AuthResult result, IPAddress? remote)
    {
        _metrics.AuthenticationFailures.Add(1, new KeyValuePair<string, object?>("reason", result.Reason));
        if (remote is not null)
        {
            _limiter.RecordFailure(remote);
        }
        LogFailed(remote?.ToString() ?? "(unknown)", result.Reason!);
        return result;
    }

    [LoggerMessage(EventId = 3200, Level = LogLevel.Information, Message = "Viewer authentication failed from {Remote}: {Reason}")]
    private partial void LogFailed(string remote, string reason);

    [LoggerMessage(EventId = 3201, Level = LogLevel.Warning, Message = "Viewer authentication refused for {Remote}: too many failures recently")]
    private partial void LogRateLimited(IPAddress remote);
}

/// <summary>Counts failures per address over a sliding window (timestamps kept per address, at most <c>limit</c>).</summary>
public sealed class FailureRateLimiter(int limit, TimeSpan window, TimeProvider time)
{
    private const int SweepThreshold = 10_000;
    private readonly ConcurrentDictionary<IPAddress, Queue<long>> _failures = new();

    public bool IsLimited(IPAddress address)
    {
        if (!_failures.TryGetValue(address, out var q))
        {
            return false;
        }
        lock (q)
        {
            Trim(q, time.GetTimestamp());
            return q.Count >= limit;
        }
    }

    public void RecordFailure(IPAddress address)
    {
        if (_failures.Count > SweepThreshold)
        {
            Sweep();
        }
        var q = _failures.GetOrAdd(address, _ => new Queue<long>());
        lock (q)
        {
            var now = time.GetTimestamp();
            Trim(q, now);
            q.Enqueue(now);
            while (q.Count > limit)
            {
                q.Dequeue();
            }
        }
    }

    private void Trim(Queue<long> q, long now)
    {
        while (q.Count > 0 && time.GetElapsedTime(q.Peek(), now) >= window)
        {
            q.Dequeue();
        }
    }

    /// <summary>Bounds memory under a spray of addresses: forget those with no failure in the window.</summary>
    private void Sweep()
    {
        var now = time.GetTimestamp();
        foreach (var (addr, q) in _failures)
        {
            lock (q)
            {
                Trim(q, now);
                if (q.Count == 0)
                {
                    _failures.TryRemove(addr, out _);
                }
            }
        }
    }
}
