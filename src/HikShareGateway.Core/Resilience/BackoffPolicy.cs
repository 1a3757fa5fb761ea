using Polly;
using Polly.Retry;

namespace HikShareGateway.Core.Resilience;

/// <summary>
/// The gateway's one retry/backoff policy: the delay before retry number <c>attempt</c> (0 = the first retry) is
/// <c>min(Max, First·2^attempt)</c> times a jitter factor drawn from [<see cref="JitterLow"/>, <see cref="JitterHigh"/>)
/// (1, 1 = no jitter). Jitter keeps many gateways, or many streams of one recorder, from retrying in lockstep.
/// Loops that retry one operation run it through <see cref="RetryForever"/> (Polly, on the injected
/// <see cref="TimeProvider"/>); schedulers that only need the next delay call <see cref="Delay"/>.
/// </summary>
public sealed record BackoffPolicy
{
    public BackoffPolicy(TimeSpan first, TimeSpan max, double jitterLow = 1, double jitterHigh = 1)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(first, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(max, TimeSpan.Zero); // below First: every delay is Max
        ArgumentOutOfRangeException.ThrowIfNegative(jitterLow);
        ArgumentOutOfRangeException.ThrowIfLessThan(jitterHigh, jitterLow);
        (First, Max, JitterLow, JitterHigh) = (first, max, jitterLow, jitterHigh);
    }

    /// <summary>±20 % jitter: factor in [0.8, 1.2).</summary>
    public static BackoffPolicy WithJitter(TimeSpan first, TimeSpan max) => new(first, max, 0.8, 1.2);

    public TimeSpan First { get; }
    public TimeSpan Max { get; }
    public double JitterLow { get; }
    public double JitterHigh { get; }

    /// <param name="attempt">0 for the first retry; negative counts as 0.</param>
    /// <param name="random01">A uniform draw in [0, 1) (tests pass fixed values).</param>
    public TimeSpan Delay(int attempt, double random01)
    {
        // Capped before the power so that 2^attempt cannot overflow.
        var seconds = Math.Min(Max.TotalSeconds, First.TotalSeconds * Math.Pow(2, Math.Clamp(attempt, 0, 62)));
        return TimeSpan.FromSeconds(seconds * (JitterLow + (JitterHigh - JitterLow) * random01));
    }

    /// <summary>The delay before retry <paramref name="attempt"/>, jittered with <see cref="Random.Shared"/>.</summary>
    public TimeSpan Delay(int attempt) => Delay(attempt, JitterHigh > JitterLow ? Random.Shared.NextDouble() : 0);

    /// <summary>
    /// A Polly pipeline that retries every failure <paramref name="shouldRetry"/> accepts, without limit, waiting
    /// <see cref="Delay(int)"/> on <paramref name="time"/> between attempts. Cancellation of the caller's token ends it
    /// (an <see cref="OperationCanceledException"/> then is never retried).
    /// </summary>
    /// <param name="onRetry">Called before each wait with the attempt number (0-based), the delay and the failure.</param>
    public ResiliencePipeline RetryForever(TimeProvider time, Func<Exception, bool> shouldRetry, Action<int, TimeSpan, Exception>? onRetry = null)
    {
        var options = new RetryStrategyOptions
        {
            ShouldHandle = args => ValueTask.FromResult(
                args.Outcome.Exception is { } e && !args.Context.CancellationToken.IsCancellationRequested && shouldRetry(e)),
            MaxRetryAttempts = int.MaxValue,
            DelayGenerator = args => ValueTask.FromResult<TimeSpan?>(Delay(args.AttemptNumber)),
            OnRetry = args =>
            {
                onRetry?.Invoke(args.AttemptNumber, args.RetryDelay, args.Outcome.Exception!);
                return default;
            },
        };
        return new ResiliencePipelineBuilder { TimeProvider = time }.AddRetry(options).Build();
    }
}
