using System.Text;
using Microsoft.AspNetCore.Http.Features;

namespace HikShareGateway.Http;

/// <summary>
/// One Server-Sent Events response (WHATWG HTML §9.2), for every event stream of the API (alarms, device changes):
/// the headers, the opening comment with the reconnect delay, events written and flushed one at a time, and the
/// keep-alive comment while nothing happens (proxies close idle connections). Cancellation is the request's: every
/// write and wait stops when the viewer goes away (an <see cref="OperationCanceledException"/> the endpoint catches).
/// </summary>
internal sealed class SseWriter
{
    /// <summary>What browsers' EventSource waits before reconnecting (the <c>retry</c> field, in ms).</summary>
    private const int RetryMilliseconds = 5000;

    private readonly HttpResponse _response;
    private readonly TimeSpan _keepAlive;
    private readonly TimeProvider _time;
    private readonly CancellationToken _ct;

    private SseWriter(HttpResponse response, TimeSpan keepAlive, TimeProvider time, CancellationToken ct)
    {
        _response = response;
        _keepAlive = keepAlive;
        _time = time;
        _ct = ct;
    }

    /// <summary>
    /// Starts the response: 200, <c>text/event-stream</c>, no caching and no proxy buffering (<c>X-Accel-Buffering</c>),
    /// Kestrel's response buffering off. Nothing is written until <see cref="OpenAsync"/>.
    /// </summary>
    public static SseWriter Start(HttpContext context, TimeSpan keepAlive, TimeProvider time)
    {
        var response = context.Response;
        response.StatusCode = 200;
        response.ContentType = "text/event-stream; charset=utf-8";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
        context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        return new SseWriter(response, keepAlive, time, context.RequestAborted);
    }

    /// <summary>The first bytes: a comment naming the stream and the <c>retry</c> field; flushed, so the client sees the stream open.</summary>
    public async Task OpenAsync(string stream)
    {
        await _response.WriteAsync($": hikshare-gateway {stream} stream\nretry: {RetryMilliseconds}\n\n", _ct).ConfigureAwait(false);
        await _response.Body.FlushAsync(_ct).ConfigureAwait(false);
    }

    /// <summary>Writes one event (see <see cref="Format"/>) and flushes it.</summary>
    public async Task WriteEventAsync(long id, string eventName, string data)
    {
        await _response.WriteAsync(Format(id, eventName, data), _ct).ConfigureAwait(false);
        await _response.Body.FlushAsync(_ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Waits for <paramref name="wake"/>, writing a keep-alive comment every keep-alive interval (on the injected
    /// <see cref="TimeProvider"/>) until it completes; returns it completed (await it for its result).
    /// </summary>
    public async Task<T> KeepAliveUntilAsync<T>(T wake) where T : Task
    {
        while (true)
        {
            using var tick = CancellationTokenSource.CreateLinkedTokenSource(_ct);
            if (await Task.WhenAny(wake, Task.Delay(_keepAlive, _time, tick.Token)).ConfigureAwait(false) == wake)
            {
                await tick.CancelAsync().ConfigureAwait(false);
                return wake;
            }
            _ct.ThrowIfCancellationRequested();
            await _response.WriteAsync(": keep-alive\n\n", _ct).ConfigureAwait(false);
            await _response.Body.FlushAsync(_ct).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// One event: <c>id</c>, <c>event</c> and one <c>data</c> line per line of <paramref name="data"/> (a client joins
    /// them back with LF). A field value cannot hold CR or LF (either ends the field), so the event name has them
    /// replaced by spaces and the data is cut at them: a value from the network never forges a field.
    /// </summary>
    public static string Format(long id, string eventName, string data)
    {
        var sb = new StringBuilder(data.Length + eventName.Length + 32)
            .Append("id: ").Append(id).Append('\n')
            .Append("event: ");
        foreach (var c in eventName)
        {
            sb.Append(c is '\r' or '\n' ? ' ' : c);
        }
        sb.Append('\n');
        var rest = data.AsSpan();
        while (true)
        {
            var end = rest.IndexOfAny('\r', '\n');
            sb.Append("data: ").Append(end < 0 ? rest : rest[..end]).Append('\n');
            if (end < 0)
            {
                break;
            }
            // CRLF is one line end (§9.2.5).
            var skip = rest[end] == '\r' && end + 1 < rest.Length && rest[end + 1] == '\n' ? 2 : 1;
            rest = rest[(end + skip)..];
        }
        return sb.Append('\n').ToString();
    }
}
