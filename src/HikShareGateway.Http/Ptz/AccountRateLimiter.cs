using System.Collections.Concurrent;

namespace HikShareGateway.Http.Ptz;

/// <summary>
/// A token bucket per account (burst <c>Burst</c>, refilled at <c>RatePerSecond</c>), on an injected
/// <see cref="TimeProvider"/>. A denied call costs nothing and says how long to wait (Retry-After, RFC 9110 §10.2.3).
/// </summary>
public sealed class AccountRateLimiter(double ratePerSecond, int burst, TimeProvider time)
{
    private const int PruneAbove = 4096;
    private readonly ConcurrentDictionary<string, Bucket> _buckets = new(StringComparer.Ordinal);

    public bool TryAcquire(string account, out int retryAfterSeconds)
    {
        var now = time.GetTimestamp();
        if (_buckets.Count > PruneAbove)
        {
            Prune(now);
        }
        var bucket = _buckets.GetOrAdd(account, _ => new Bucket(burst, now));
        lock (bucket)
        {
            Refill(bucket, now);
            if (bucket.Tokens >= 1)
            {
                bucket.Tokens -= 1;
                retryAfterSeconds = 0;
                return true;
            }
            retryAfterSeconds = Math.Max(1, (int)Math.Ceiling((1 - bucket.Tokens) / ratePerSecond));
            return false;
        }
    }

    private void Refill(Bucket bucket, long now)
    {
        var elapsed = time.GetElapsedTime(bucket.Stamp, now).TotalSeconds;
        bucket.Tokens = Math.Min(burst, bucket.Tokens + elapsed * ratePerSecond);
        bucket.Stamp = now;
    }

    /// <summary>Forgets accounts whose bucket is full again (they are indistinguishable from new ones).</summary>
    private void Prune(long now)
    {
        foreach (var (account, bucket) in _buckets)
        {
            lock (bucket)
            {
                Refill(bucket, now);
                if (bucket.Tokens >= burst)
                {
                    _buckets.TryRemove(account, out _);
                }
            }
        }
    }

    private sealed class Bucket(double tokens, long stamp)
    {
        public double Tokens = tokens;
        public long Stamp = stamp;
    }
}
