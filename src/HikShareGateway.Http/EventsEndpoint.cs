using System.Text;
using System.Text.Json;
using HikShareGateway.Core.Alarms;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace HikShareGateway.Http;

/// <summary>
/// <c>GET /api/v1/events</c>: Server-Sent Events (WHATWG HTML §9.2) of the alarms routed to the caller.
/// Event name = alarm kind, data = the alarm JSON of contract §7 with <c>recipients</c> reduced to the
/// caller (the other recipients are other people's accounts). A comment line keeps idle connections alive.
/// </summary>
public static partial class EventsEndpoint
{
    public static async Task StreamAsync(HttpContext context)
    {
        var account = BearerAuthentication.Account(context);
        var services = context.RequestServices;
        var feed = services.GetRequiredService<AlarmFeed>();
        var time = services.GetRequiredService<TimeProvider>();
        var logger = services.GetRequiredService<ILoggerFactory>().CreateLogger("HikShareGateway.Http.Events");
        var remote = BearerAuthentication.Remote(context);
        var ct = context.RequestAborted;
        var keepAlive = services.GetService<EventsOptions>()?.KeepAlive ?? TimeSpan.FromSeconds(15);

        var response = context.Response;
        response.StatusCode = 200;
        response.ContentType = "text/event-stream; charset=utf-8";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
        context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpResponseBodyFeature>()?.DisableBuffering();

        LogOpened(logger, account, remote);
        long id = 0;
        using var subscription = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var alarms = feed.SubscribeAsync(account, subscription.Token).GetAsyncEnumerator(subscription.Token);
        Task<bool>? next = null;
        try
        {
            // The retry field tells browsers' EventSource how long to wait before reconnecting.
            await response.WriteAsync(": hikshare-gateway alarm stream\nretry: 5000\n\n", ct).ConfigureAwait(false);
            await response.Body.FlushAsync(ct).ConfigureAwait(false);
            next = alarms.MoveNextAsync().AsTask();
            while (true)
            {
                using var tick = CancellationTokenSource.CreateLinkedTokenSource(ct);
                var delay = Task.Delay(keepAlive, time, tick.Token);
                var done = await Task.WhenAny(next, delay).ConfigureAwait(false);
                if (done == next)
                {
                    tick.Cancel();
                    if (!await next.ConfigureAwait(false))
                    {
                        break;
                    }
                    var a = alarms.Current;
                    await response.WriteAsync(Format(++id, a, account), ct).ConfigureAwait(false);
                    await response.Body.FlushAsync(ct).ConfigureAwait(false);
                    next = alarms.MoveNextAsync().AsTask();
                }
                else
                {
                    ct.ThrowIfCancellationRequested();
                    await response.WriteAsync(": keep-alive\n\n", ct).ConfigureAwait(false);
                    await response.Body.FlushAsync(ct).ConfigureAwait(false);
                }
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
    public static string Format(long id, AlarmEvent alarm, string account)
    {
        var json = JsonSerializer.Serialize(new AlarmPayload(alarm.DeviceId, alarm.Channel, alarm.Kind, alarm.State, alarm.At, alarm.Id, alarm.Snapshot, [account]), ApiJsonContext.Default.AlarmPayload);
        var kind = SanitizeField(alarm.Kind);
        return new StringBuilder(json.Length + 64)
            .Append("id: ").Append(id).Append('\n')
            .Append("event: ").Append(kind).Append('\n')
            .Append("data: ").Append(json).Append("\n\n")
            .ToString();
    }

    // A field value may not contain CR or LF (it would end the field).
    private static string SanitizeField(string value) => value.Replace('\r', ' ').Replace('\n', ' ');

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
