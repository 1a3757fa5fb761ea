namespace HikShareCloud.Service.Tests.Infrastructure;

/// <summary>The polling helper of this test project (as tests/HikShareGateway.Tests' Wait): a bounded poll, never a fixed sleep.</summary>
public static class Wait
{
    public static async Task UntilAsync(Func<bool> condition, string what, int timeoutMs = 10_000)
    {
        var deadline = DateTime.UtcNow.AddMilliseconds(timeoutMs);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"timed out after {timeoutMs} ms waiting for {what}");
            }
            await Task.Delay(20);
        }
    }

    public static async Task UntilAsync(Func<Task<bool>> condition, string what, int timeoutMs = 10_000)
    {
        var deadline = DateTime.UtcNow.AddMilliseconds(timeoutMs);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"timed out after {timeoutMs} ms waiting for {what}");
            }
            await Task.Delay(20);
        }
    }
}
