using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace HikShareGateway.Tests.Infrastructure;

/// <summary>
/// The one polling helper of the test project: waits for a condition the test cannot get an event
/// for, bounded, and fails naming what it waited for. A sleep is never a substitute for it.
/// </summary>
public static class Wait
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(10);

    /// <summary>
    /// Polls <paramref name="condition"/> until it is true; after <paramref name="timeoutMs"/> throws a
    /// <see cref="TimeoutException"/> naming <paramref name="what"/> (default: the condition's source text).
    /// </summary>
    public static async Task UntilAsync(Func<bool> condition, string? what = null, int timeoutMs = 10_000,
        [CallerArgumentExpression(nameof(condition))] string conditionText = "")
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.ElapsedMilliseconds > timeoutMs)
            {
                // Evaluated once more: a description may interpolate the state it waited on.
                throw new TimeoutException($"timed out after {timeoutMs} ms waiting for: {what ?? conditionText}");
            }
            await Task.Delay(PollInterval);
        }
    }

    /// <summary>Polls <paramref name="probe"/> until it returns a value, and returns it (same timeout rule).</summary>
    public static async Task<T> ForAsync<T>(Func<T?> probe, string? what = null, int timeoutMs = 10_000,
        [CallerArgumentExpression(nameof(probe))] string probeText = "") where T : class
    {
        T? found = null;
        await UntilAsync(() => (found = probe()) is not null, what, timeoutMs, probeText);
        return found!;
    }
}
