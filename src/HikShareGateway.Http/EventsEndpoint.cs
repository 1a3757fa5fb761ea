using System.Text.Json;
using HikShareGateway.Core.Alarms;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace HikShareGateway.Http;

/// <summary>At most so many alarm streams (<c>GET /api/v1/events</c>) per account at once; one more is <c>429</c>.</summary>
public sealed class AlarmEventsLimiter(int perAccount) : StreamsPerAccount(perAccount)
{
    /// <summary>8: a few apps or integrations of one account, each with a reconnect overlapping its old stream.</summary>
    public const int DefaultPerAccount = 8;
}

/// <summary>
/// <c>GET /api/v1/events</c>: Server-Sent Events (WHATWG HTML §9.2) of the alarms routed to the caller, at most
/// <see cref="AlarmEventsLimiter.DefaultPerAccount"/> streams per account (<c>429</c> past it).
/// Event name = alarm kind, data = the alarm JSON of contract §7 with <c>recipients</c> reduced to the
/// caller (the other recipients are other people's accounts). A comment line keeps idle connections alive.
/// </summary>
public static partial class EventsEndpoint
{
    public static async Task StreamAsync(HttpContext context)
    {
        var account = BearerAuthentication.Account(context);
        var services = context.RequestServices;
        var limiter = services.GetRequiredService<AlarmEventsLimiter>();
        if (!limiter.TryEnter(account))
        {
            context.Response.Headers.RetryAfter = "10";
            await Problems.Create(429, "too-many-streams", "Too many alarm streams",
                $"At most {limiter.PerAccount} alarm streams per account at once; close one first.").ExecuteAsync(context).ConfigureAwait(false);
            return;
        }
        try
        {
            await StreamAsync(context, account, services).ConfigureAwait(false);
        }
        finally
        {
            limiter.Leave(account);
        }
    }

    private static async Task StreamAsync(HttpContext context, string account, IServiceProvider services)
    {
        var feed = services.GetRequiredService<AlarmFeed>();
        var time = services.GetRequiredService<TimeProvider>();
        var logger = services.GetRequiredService<ILoggerFactory>().CreateLogger("HikShareGateway.Http.Events");
        var remote = BearerAuthentication.Remote(context);
        var ct = context.RequestAborted;
        var keepAlive = services.GetService<EventsOptions>()?.KeepAlive ?? TimeSpan.FromSeconds(15);

        var sse = SseWriter.Start(context, keepAlive, time);
        LogOpened(logger, account, remote);
        long id = 0;
        using var subscription = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var alarms = feed.SubscribeAsync(account, subscription.Token).GetAsyncEnumerator(subscription.Token);
        Task<bool>? next = null;
        try
        {
            await sse.OpenAsync("alarm").ConfigureAwait(false);
            next = alarms.MoveNextAsync().AsTask();
            while (await await sse.KeepAliveUntilAsync(next).ConfigureAwait(false))
            {
                var a = alarms.Current;
                await sse.WriteEventAsync(++id, a.Kind, Json(a, account)).ConfigureAwait(false);
                next = alarms.MoveNextAsync().AsTask();
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // The viewer went away.
        }
        catch (IOException)
        {
            // Connection reset while writing.
        }
        finally
        {
            // Unsubscribe: cancel the pending read, let it finish, then dispose the enumerator.
            await subscription.CancelAsync().ConfigureAwait(false);
            try
            {
                if (next is not null)
                {
                    await next.ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException)
            {
            }
            await alarms.DisposeAsync().ConfigureAwait(false);
            LogClosed(logger, account, remote, id);
        }
    }

    /// <summary>One SSE event: <c>id</c>, <c>event</c> = kind, <c>data</c> = one line of JSON.</summary>
    public static string Format(long id, AlarmEvent alarm, string account) => SseWriter.Format(id, alarm.Kind, Json(alarm, account));

    private static string Json(AlarmEvent alarm, string account) =>
        JsonSerializer.Serialize(new AlarmPayload(alarm.DeviceId, alarm.Channel, alarm.Kind, alarm.State, alarm.At, alarm.Id, alarm.Snapshot, [account]), ApiJsonContext.Default.AlarmPayload);

    internal sealed record AlarmPayload(string DeviceId, int Channel, string Kind, string State, DateTimeOffset At,
        [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] string? Id,
        [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] string? Snapshot,
        IReadOnlyList<string> Recipients);

    [LoggerMessage(EventId = 5201, Level = LogLevel.Information, Message = "Alarm stream opened for {Account} from {Remote}")]
    private static partial void LogOpened(ILogger logger, string account, string remote);

    [LoggerMessage(EventId = 5202, Level = LogLevel.Information, Message = "Alarm stream closed for {Account} from {Remote} after {Count} alarm(s)")]
    private static partial void LogClosed(ILogger logger, string account, string remote, long count);
}

/// <summary>Settings of the alarm stream (keep-alive interval, default 15 s).</summary>
public sealed class EventsOptions
{
    public TimeSpan KeepAlive { get; set; } = TimeSpan.FromSeconds(15);
}
