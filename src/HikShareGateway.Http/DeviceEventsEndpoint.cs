using System.Collections.Concurrent;
using System.Text.Json;
using HikShareGateway.Core.Access;
using HikShareGateway.Core.Devices;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace HikShareGateway.Http;

/// <summary>At most so many device-change streams per account at once (a browser tab each).</summary>
public sealed class DeviceEventsLimiter(int perAccount) : StreamsPerAccount(perAccount)
{
    public const int DefaultPerAccount = 4;
}

/// <summary>At most so many long-lived streams (SSE) of one kind per account at once, so that one account cannot hold
/// the server's connections (issue 17 point 4); a subclass per kind, so that each has its own count.</summary>
public abstract class StreamsPerAccount(int perAccount)
{
    private readonly ConcurrentDictionary<string, int> _open = new(StringComparer.OrdinalIgnoreCase);

    public int PerAccount => perAccount;

    public bool TryEnter(string account)
    {
        while (true)
        {
            var n = _open.GetOrAdd(account, 0);
            if (n >= perAccount)
            {
                return false;
            }
            if (_open.TryUpdate(account, n + 1, n))
            {
                return true;
            }
        }
    }

    public void Leave(string account)
    {
        while (_open.TryGetValue(account, out var n))
        {
            if (n <= 1 ? _open.TryRemove(new KeyValuePair<string, int>(account, n)) : _open.TryUpdate(account, n - 1, n))
            {
                return;
            }
        }
    }
}

/// <summary>
/// <c>GET /api/v1/devices/events</c> (Bearer): Server-Sent Events of the caller's device list, so that a device whose
/// share is deleted (or expires, or loses its last privilege) disappears from the web viewer without a reload.
/// <para>
/// Each event is <c>event: devices</c>, <c>id: N</c>, <c>data:</c> the same JSON as <c>GET /api/v1/devices</c> on one line
/// (<c>{"devices":[…],"version":N}</c>): the whole list, to replace the one shown. The first comes at once; the next
/// whenever the grants or the device catalog changed and the caller's list differs from the last one sent. A comment
/// line every keep-alive interval (15 s) keeps proxies from closing it. At most
/// <see cref="DeviceEventsLimiter.PerAccount"/> streams per account (4): one more is <c>429</c>. Browsers read it with
/// <c>fetch()</c> (EventSource cannot send the Authorization header).
/// </para>
/// </summary>
public static partial class DeviceEventsEndpoint
{
    public static void Map(RouteGroupBuilder api) => api.MapGet("/devices/events", async (HttpContext context) =>
    {
        await StreamAsync(context).ConfigureAwait(false);
        return Results.Empty;
    });

    public static async Task StreamAsync(HttpContext context)
    {
        var account = BearerAuthentication.Account(context);
        var services = context.RequestServices;
        var limiter = services.GetRequiredService<DeviceEventsLimiter>();
        if (!limiter.TryEnter(account))
        {
            context.Response.Headers.RetryAfter = "10";
            await Problems.Create(429, "too-many-streams", "Too many device streams",
                $"At most {limiter.PerAccount} device change streams per account at once; close one first.").ExecuteAsync(context).ConfigureAwait(false);
            return;
        }
        var policy = services.GetRequiredService<IAccessPolicy>();
        var catalog = services.GetRequiredService<IDeviceCatalog>();
        var time = services.GetRequiredService<TimeProvider>();
        var keepAlive = services.GetService<EventsOptions>()?.KeepAlive ?? TimeSpan.FromSeconds(15);
        var logger = services.GetRequiredService<ILoggerFactory>().CreateLogger("HikShareGateway.Http.DeviceEvents");
        var remote = BearerAuthentication.Remote(context);
        var ct = context.RequestAborted;
        // One pending wake-up at most: a burst of changes is one rebuild.
        using var changed = new SemaphoreSlim(0, 1);
        void OnChanged()
        {
            try
            {
                if (changed.CurrentCount == 0)
                {
                    changed.Release();
                }
            }
            catch (Exception e) when (e is SemaphoreFullException or ObjectDisposedException)
            {
            }
        }
        policy.Changed += OnChanged;
        catalog.Changed += OnChanged;
        long sent = 0;
        try
        {
            var sse = SseWriter.Start(context, keepAlive, time);
            LogOpened(logger, account, remote);
            await sse.OpenAsync("device").ConfigureAwait(false);
            string? last = null;
            while (true)
            {
                var list = DevicesEndpoint.Build(account, policy, catalog);
                // Compared without the grants version: another account's change bumps it, and is no update for this
                // caller (nor a hint to them that someone else's grants changed).
                var devices = JsonSerializer.Serialize(list with { Version = 0 }, ApiJsonContext.Default.DeviceList);
                if (!string.Equals(devices, last, StringComparison.Ordinal))
                {
                    last = devices;
                    await sse.WriteEventAsync(++sent, "devices", JsonSerializer.Serialize(list, ApiJsonContext.Default.DeviceList)).ConfigureAwait(false);
                }
                await await sse.KeepAliveUntilAsync(changed.WaitAsync(ct)).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // The viewer went away.
        }
        catch (IOException)
        {
        }
        finally
        {
            policy.Changed -= OnChanged;
            catalog.Changed -= OnChanged;
            limiter.Leave(account);
            LogClosed(logger, account, remote, sent);
        }
    }

    /// <summary>One SSE event of this stream (the JSON is compact: one data line).</summary>
    public static string Format(long id, string json) => SseWriter.Format(id, "devices", json);

    [LoggerMessage(EventId = 5211, Level = LogLevel.Information, Message = "Device stream opened for {Account} from {Remote}")]
    private static partial void LogOpened(ILogger logger, string account, string remote);

    [LoggerMessage(EventId = 5212, Level = LogLevel.Information, Message = "Device stream closed for {Account} from {Remote} after {Count} update(s)")]
    private static partial void LogClosed(ILogger logger, string account, string remote, long count);
}
