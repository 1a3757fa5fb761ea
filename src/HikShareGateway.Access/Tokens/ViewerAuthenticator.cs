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
/// <c>?token=</c> query, then Digest or Basic with an RTSP credential (contract §4.1), then Basic (password = token, user
/// must equal <c>sub</c> after normalisation).
/// Failures are counted per remote address in a sliding window; beyond the limit a failure from the address is answered
/// <see cref="AuthStatus.RateLimited"/> ("too many failures"), but every token is checked and a valid one is always
/// accepted: one guesser behind an office's or a carrier's NAT does not lock its neighbours out. Tokens are never logged.
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
        // An issued RTSP credential as Digest (contract §4.1): the protocol checked realm and nonce, this the response.
        if (credentials is { BearerToken: null, QueryToken: null, Digest: { } digest })
        {
            if (_credentials is not null && AccountName.Normalize(digest.Username) is { } name
                && _credentials.VerifyDigest(digest, credentials.DigestMethod ?? "", name) is { } issued)
            {
                return AuthResult.Success(issued.Username, issued.ExpiresAt);
            }
            return Failed(AuthResult.Fail("unknown-rtsp-credential"), remote);
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

    /// <summary>
    /// Counts a failure of <paramref name="remote"/>. Past the limit the answer says so (<see cref="AuthStatus.RateLimited"/>,
    /// "too many failures"), so that a viewer behind the same address as a guesser learns why, while a valid token from
    /// that address is still accepted: the limit names the problem and slows nobody honest down. Logged without
    /// flooding: the first failure of an address in a window at Information, the one that reaches the limit at Warning
    /// with the count, the others at Debug.
    /// </summary>
    private AuthResult Failed(AuthResult result, IPAddress? remote)
    {
        var inWindow = remote is null ? 1 : _limiter.RecordFailure(remote);
        var limited = inWindow > _limiter.Limit;
        _metrics.AuthenticationFailures.Add(1, new KeyValuePair<string, object?>("reason", limited ? "rate-limited" : result.Reason));
        var where = remote?.ToString() ?? "(unknown)";
        if (inWindow == 1)
        {
            LogFailed(where, result.Reason!);
        }
        else if (inWindow == _limiter.Limit)
        {
            LogRateLimited(where, inWindow, (int)_limiter.Window.TotalSeconds);
        }
        else
        {
            LogFailedAgain(where, result.Reason!, inWindow);
        }
        return limited
            ? new AuthResult(AuthStatus.RateLimited, null, "too many failed authentications from this address; a valid token is still accepted")
            : result;
    }

    [LoggerMessage(EventId = 3200, Level = LogLevel.Information, Message = "Viewer authentication failed from {Remote}: {Reason} (further failures from it are counted, not each logged)")]
    private partial void LogFailed(string remote, string reason);

    [LoggerMessage(EventId = 3201, Level = LogLevel.Warning, Message = "{Count} failed viewer authentications from {Remote} within {WindowSeconds} s: its further failures are answered as rate-limited (valid tokens are still accepted)")]
    private partial void LogRateLimited(string remote, int count, int windowSeconds);

    [LoggerMessage(EventId = 3202, Level = LogLevel.Debug, Message = "Viewer authentication failed from {Remote}: {Reason} ({Count} in the window)")]
    private partial void LogFailedAgain(string remote, string reason, int count);
}

/// <summary>Counts failures per address over a sliding window (timestamps kept per address, at most <c>limit</c>).</summary>
public sealed class FailureRateLimiter(int limit, TimeSpan window, TimeProvider time)
{
    private const int SweepThreshold = 10_000;
    private readonly ConcurrentDictionary<IPAddress, Queue<long>> _failures = new();

    public int Limit => limit;
    public TimeSpan Window => window;

    /// <summary>Records a failure; returns how many the address has in the window, this one included (at most limit + 1).</summary>
    public int RecordFailure(IPAddress address)
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
            while (q.Count > limit + 1)
            {
                q.Dequeue();
            }
            return q.Count;
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
