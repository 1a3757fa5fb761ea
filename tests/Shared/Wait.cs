using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace HikShareGateway.Testing;

/// <summary>
/// The one polling helper of every test project (this file is linked into each, tests/Shared): waits for a
/// condition the test cannot get an event for, bounded, and fails naming what it waited for. A sleep is never a
/// substitute for it.
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
                throw new TimeoutException($"timed out after {timeoutMs} ms waiting for: {what ?? conditionText}");
            }
            await Task.Delay(PollInterval);
        }
    }

    /// <summary>The same for a condition that must do I/O to know (e.g. a peer's port accepting a connection).</summary>
    public static async Task UntilAsync(Func<Task<bool>> condition, string? what = null, int timeoutMs = 10_000,
        [CallerArgumentExpression(nameof(condition))] string conditionText = "")
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            if (clock.ElapsedMilliseconds > timeoutMs)
            {
                throw new TimeoutException($"timed out after {timeoutMs} ms waiting for: {what ?? conditionText}");
            }
            await Task.Delay(PollInterval);
        }
    }
}
