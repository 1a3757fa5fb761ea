using HikShareGateway.Core.Access;
using HikShareGateway.Core.Devices;
using HikShareGateway.Core.Streaming;
using HikShareGateway.Mp4.Streaming;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace HikShareGateway.Tests.Mp4;

/// <summary>The per-account cap in front of the fMP4 streams gives every slot back, whatever way an open ends.</summary>
[Trait("Category", "Unit")]
public sealed class AccountCappedMp4StreamsTests
{
    private readonly AccountSessionLimiter _limits = new(1, new FakeTimeProvider(), NullLogger.Instance);

    private static Mp4LiveRequest Live(string account) => new(account, "dev", 1, StreamKind.Main, "127.0.0.1:1");

    [Fact]
    public async Task RefusedOpen_FailedOpen_ThrowingOpen_AndDisposedStream_AllGiveTheSlotBack()
    {
        var inner = new FakeStreams();
        var capped = new AccountCappedMp4Streams(inner, _limits);

        inner.Next = () => Task.FromResult(Mp4Open.Failed(Mp4OpenStatus.NotFound, "no such device"));
        Assert.Equal(Mp4OpenStatus.NotFound, (await capped.OpenLiveAsync(Live("bob"), default)).Status);
        Assert.Equal(0, _limits.Held("bob"));

        inner.Next = () => throw new InvalidOperationException("boom");
        await Assert.ThrowsAsync<InvalidOperationException>(() => capped.OpenLiveAsync(Live("bob"), default));
        Assert.Equal(0, _limits.Held("bob"));

        var stream = new FakeStream();
        inner.Next = () => Task.FromResult(new Mp4Open(Mp4OpenStatus.Ok, "streaming", stream));
        var open = await capped.OpenPlaybackAsync(new Mp4PlaybackRequest("bob", "dev", 1, DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch.AddMinutes(1), "127.0.0.1:1"), default);
        Assert.Equal(Mp4OpenStatus.Ok, open.Status);
        Assert.Equal(1, _limits.Held("bob"));
        var refused = await capped.OpenLiveAsync(Live("bob"), default);
        Assert.Equal(Mp4OpenStatus.Unavailable, refused.Status);
        Assert.Equal(3, inner.Calls); // failed, threw, ok: the refused open never reached the service

        await open.Stream!.DisposeAsync();
        Assert.True(stream.Disposed);
        Assert.Equal(0, _limits.Held("bob"));
    }

    private sealed class FakeStreams : IMp4Streams
    {
        public Func<Task<Mp4Open>> Next { get; set; } = () => Task.FromResult(Mp4Open.Failed(Mp4OpenStatus.NotFound, "-"));
        public int Calls { get; private set; }

        public Task<Mp4Open> OpenLiveAsync(Mp4LiveRequest request, CancellationToken ct)
        {
            Calls++;
            return Next();
        }

        public Task<Mp4Open> OpenPlaybackAsync(Mp4PlaybackRequest request, CancellationToken ct)
        {
            Calls++;
            return Next();
        }
    }

    private sealed class FakeStream : IMp4Stream
    {
        public bool Disposed { get; private set; }

        public Task<Mp4StreamEnd> CopyToAsync(Stream output, Action<string> onStart, CancellationToken ct) => Task.FromResult(new Mp4StreamEnd(false, "ended"));

        public ValueTask DisposeAsync()
        {
            Disposed = true;
            return ValueTask.CompletedTask;
        }
    }
}
