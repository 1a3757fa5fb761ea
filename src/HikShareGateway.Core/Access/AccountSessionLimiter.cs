using System.Collections.Concurrent;
using HikShareGateway.Core.Diagnostics;
using Microsoft.Extensions.Logging;

namespace HikShareGateway.Core.Access;

/// <summary>
/// The per-account cap on viewing sessions held at once (<c>Limits:SessionsPerAccount</c>), one counter shared by the
/// RTSP server and the fMP4 endpoints, so that one account (one leaked token, one runaway recorder) cannot take the
/// gateway's capacity from the others. A refusal is counted (<c>hikshare_sessions_refused{reason="account-cap"}</c>)
/// and reported as one Warning per <see cref="ReportInterval"/> with the count and the account refused most, not one
/// line per refusal. WebRTC keeps its own cap (<c>WebRtc:MaxSessionsPerAccount</c>).
/// </summary>
public sealed partial class AccountSessionLimiter
{
    private readonly ConcurrentDictionary<string, int> _held = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly GatewayMetrics? _metrics;
    private readonly Lock _reportLock = new();
    private readonly Dictionary<string, int> _refusedSinceReport = new(StringComparer.Ordinal);
    private long _lastReport = long.MinValue;
    private long _refused;

    public AccountSessionLimiter(int perAccount, TimeProvider time, ILogger logger, GatewayMetrics? metrics = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(perAccount, 1);
        PerAccount = perAccount;
        _time = time;
        _logger = logger;
        _metrics = metrics;
    }

    /// <summary>A limiter that never refuses (tests and tools that build a server by hand).</summary>
    public static AccountSessionLimiter Unlimited { get; } = new(int.MaxValue, TimeProvider.System, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);

    public int PerAccount { get; }

    /// <summary>How often refusals are reported. Default 10 s.</summary>
    public TimeSpan ReportInterval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Refusals since the start.</summary>
    public long Refused => Interlocked.Read(ref _refused);

    /// <summary>Sessions <paramref name="account"/> holds now.</summary>
    public int Held(string account) => _held.TryGetValue(account, out var n) ? n : 0;

    /// <summary>
    /// Takes one of <paramref name="account"/>'s slots; dispose the lease when the session ends (once; a second dispose
    /// does nothing). False, and a counted refusal, when the account holds <see cref="PerAccount"/> already.
    /// </summary>
    public bool TryAcquire(string account, string protocol, out IDisposable? lease)
    {
        var taken = false;
        lease = null;
        while (true)
        {
            if (!_held.TryGetValue(account, out var n))
            {
                if (_held.TryAdd(account, 1))
                {
                    taken = true;
                    break;
                }
                continue;
            }
            if (n >= PerAccount)
            {
                break;
            }
            if (_held.TryUpdate(account, n + 1, n))
            {
                taken = true;
                break;
            }
        }
        if (taken)
        {
            lease = new Lease(this, account);
            return true;
        }
        Interlocked.Increment(ref _refused);
        _metrics?.SessionsRefused.Add(1, new KeyValuePair<string, object?>("reason", "account-cap"), new KeyValuePair<string, object?>("protocol", protocol));
        Report(account);
        return false;
    }

    private void Release(string account)
    {
        while (_held.TryGetValue(account, out var n))
        {
            if (n <= 1 ? _held.TryRemove(new KeyValuePair<string, int>(account, n)) : _held.TryUpdate(account, n - 1, n))
            {
                return;
            }
        }
    }

    private void Report(string account)
    {
        lock (_reportLock)
        {
            _refusedSinceReport[account] = _refusedSinceReport.GetValueOrDefault(account) + 1;
            var now = _time.GetTimestamp();
            if (_lastReport != long.MinValue && _time.GetElapsedTime(_lastReport, now) < ReportInterval)
            {
                return;
            }
            var total = 0;
            var top = "";
            var topCount = 0;
            foreach (var (a, c) in _refusedSinceReport)
            {
                total += c;
                if (c > topCount)
                {
                    (top, topCount) = (a, c);
                }
            }
            LogRefused(_logger, total, _lastReport == long.MinValue ? 0 : _time.GetElapsedTime(_lastReport, now).TotalSeconds, PerAccount,
                _refusedSinceReport.Count, top, topCount);
            _refusedSinceReport.Clear();
            _lastReport = now;
        }
    }

    private sealed class Lease(AccountSessionLimiter owner, string account) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                owner.Release(account);
            }
        }
    }

    [LoggerMessage(EventId = 1100, Level = LogLevel.Warning,
        Message = "Refused {Count} viewing session(s) over the last {Seconds:F0} s at the cap of {PerAccount} per account (Limits:SessionsPerAccount), from {Accounts} account(s); most from {TopAccount} ({TopCount})")]
    private static partial void LogRefused(ILogger logger, int count, double seconds, int perAccount, int accounts, string topAccount, int topCount);
}
