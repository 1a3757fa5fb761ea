using System.Text;
using HikShareGateway.Http;
using HikShareGateway.Testing;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Time.Testing;

namespace HikShareGateway.Tests.Http;

/// <summary>The one SSE writer of the alarm and device streams: framing, escaping, keep-alive on the injected clock, cancellation.</summary>
[Trait("Category", "Unit")]
public sealed class SseWriterTests
{
    [Fact]
    public void Format_OneLineData_IsIdEventDataAndABlankLine()
    {
        Assert.Equal("id: 3\nevent: devices\ndata: {\"a\":1}\n\n", SseWriter.Format(3, "devices", "{\"a\":1}"));
    }

    [Fact]
    public void Format_DataWithLineBreaks_BecomesOneDataLinePerLine_SoNoFieldCanBeForged()
    {
        var text = SseWriter.Format(1, "x", "a\nid: 99\r\nevent: evil\rb");
        Assert.Equal("id: 1\nevent: x\ndata: a\ndata: id: 99\ndata: event: evil\ndata: b\n\n", text);
    }

    [Fact]
    public void Format_EventNameWithCrOrLf_HasThemReplacedBySpaces()
    {
        Assert.Equal("id: 1\nevent: a b c\ndata: \n\n", SseWriter.Format(1, "a\rb\nc", ""));
    }

    [Fact]
    public void Start_SetsTheEventStreamHeaders()
    {
        var context = new DefaultHttpContext();
        SseWriter.Start(context, TimeSpan.FromSeconds(15), new FakeTimeProvider());
        Assert.Equal(200, context.Response.StatusCode);
        Assert.Equal("text/event-stream; charset=utf-8", context.Response.ContentType);
        Assert.Equal("no-cache", context.Response.Headers.CacheControl);
        Assert.Equal("no", context.Response.Headers["X-Accel-Buffering"]);
    }

    [Fact]
    public async Task KeepAliveUntilAsync_WritesACommentPerIntervalOnTheInjectedClock_UntilTheWakeCompletes()
    {
        var time = new FakeTimeProvider();
        var (context, body) = NewContext();
        var sse = SseWriter.Start(context, TimeSpan.FromSeconds(15), time);
        await sse.OpenAsync("test");
        var wake = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);

        var waiting = sse.KeepAliveUntilAsync(wake.Task);
        await Wait.UntilAsync(() => { time.Advance(TimeSpan.FromSeconds(15)); return Text(body).Contains(": keep-alive"); });
        Assert.False(waiting.IsCompleted);

        wake.SetResult(42);
        Assert.Equal(42, await await waiting);
        Assert.StartsWith(": hikshare-gateway test stream\nretry: 5000\n\n: keep-alive\n\n", Text(body));
    }

    [Fact]
    public async Task KeepAliveUntilAsync_ViewerGone_ThrowsOperationCanceled()
    {
        using var gone = new CancellationTokenSource();
        var (context, _) = NewContext();
        context.RequestAborted = gone.Token;
        var sse = SseWriter.Start(context, TimeSpan.FromSeconds(15), new FakeTimeProvider());
        var waiting = sse.KeepAliveUntilAsync(new TaskCompletionSource().Task);

        await gone.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
    }

    [Fact]
    public async Task WriteEventAsync_WritesTheFormattedEvent()
    {
        var (context, body) = NewContext();
        var sse = SseWriter.Start(context, TimeSpan.FromSeconds(15), new FakeTimeProvider());
        await sse.WriteEventAsync(5, "motion", "{}");
        Assert.Equal("id: 5\nevent: motion\ndata: {}\n\n", Text(body));
    }

    private static (DefaultHttpContext, Body) NewContext()
    {
        var body = new Body();
        var context = new DefaultHttpContext();
        context.Response.Body = body;
        return (context, body);
    }

    private static string Text(Body body) => body.Text;

    /// <summary>A response body the test reads while the writer may be writing on another thread.</summary>
    private sealed class Body : MemoryStream
    {
        private readonly Lock _gate = new();

        public string Text { get { lock (_gate) { return Encoding.UTF8.GetString(GetBuffer(), 0, (int)Length); } } }

        public override void Write(byte[] buffer, int offset, int count)
        {
            lock (_gate)
            {
                base.Write(buffer, offset, count);
            }
        }

        // MemoryStream's span overload calls back into the array one in a subclass: copy, then take that path once.
        public override void Write(ReadOnlySpan<byte> buffer) => Write(buffer.ToArray(), 0, buffer.Length);

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        {
            Write(buffer.AsSpan(offset, count));
            return Task.CompletedTask;
        }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Write(buffer.Span);
            return ValueTask.CompletedTask;
        }
    }
}
