namespace HikShareGateway.WebRtc.Tests.Infrastructure;

/// <summary>
/// The polling helper of tests/HikShareGateway.Tests/Infrastructure (<c>Wait.UntilAsync</c>), same contract:
/// this project does not reference that one, which pulls in every feature project.
/// </summary>
public static class Wait
{
    /// <summary>Polls <paramref name="condition"/> until true or the timeout (then fails with <paramref name="what"/>).</summary>
    public static async Task UntilAsync(Func<bool> condition, string what, int timeoutMs = 10_000)
    {
        var deadline = DateTime.UtcNow.AddMilliseconds(timeoutMs);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"timed out after {timeoutMs} ms waiting for: {what}");
            }
            await Task.Delay(20);
        }
    }
}
