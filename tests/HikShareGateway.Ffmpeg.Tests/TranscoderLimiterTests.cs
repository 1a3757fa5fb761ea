namespace HikShareGateway.Ffmpeg.Tests;

[Trait("Category", "Unit")]
public sealed class TranscoderLimiterTests
{
    private static readonly FfmpegAvailability On = new(true, "test", []);

    [Fact]
    public void TryAcquire_BeyondMaxTranscoders_RefusesNamingTheKeyUntilALeaseIsDisposed()
    {
        var limiter = new TranscoderLimiter(new MediaTranscodingOptions { MaxTranscoders = 2 }, On);

        Assert.True(limiter.TryAcquire(out var a, out _));
        Assert.True(limiter.TryAcquire(out var b, out _));
        Assert.False(limiter.TryAcquire(out var c, out var reason));
        Assert.Null(c);
        Assert.Equal("all 2 transcoders are in use (Media:MaxTranscoders = 2)", reason);

        a!.Dispose();
        a.Dispose();   // a second dispose gives back nothing more
        Assert.Equal(1, limiter.Active);
        Assert.True(limiter.TryAcquire(out var d, out _));
        Assert.False(limiter.TryAcquire(out _, out _));
        b!.Dispose();
        d!.Dispose();
        Assert.Equal(0, limiter.Active);
    }

    [Fact]
    public void TryAcquire_FfmpegOff_RefusesWithTheOffMessage()
    {
        var limiter = new TranscoderLimiter(new MediaTranscodingOptions(), new FfmpegAvailability(false, "libavcodec.so.59 not found", []));

        Assert.False(limiter.TryAcquire(out _, out var reason));
        Assert.Equal("FFmpeg 5.1 libraries not found: snapshots and transcoding are off (libavcodec.so.59 not found)", reason);
    }

    [Fact]
    public void TryAcquire_MaxZero_SaysTranscodingIsOff()
    {
        var limiter = new TranscoderLimiter(new MediaTranscodingOptions { MaxTranscoders = 0 }, On);

        Assert.False(limiter.TryAcquire(out _, out var reason));
        Assert.Equal("transcoding is off (Media:MaxTranscoders = 0)", reason);
    }

    [Fact]
    public async Task TryAcquire_ManyThreadsRacing_NeverMoreThanMaxAtOnce()
    {
        var limiter = new TranscoderLimiter(new MediaTranscodingOptions { MaxTranscoders = 3 }, On);
        int inside = 0, peak = 0, granted = 0;

        await Task.WhenAll(Enumerable.Range(0, 8).Select(worker => Task.Run(() =>
        {
            for (int i = 0; i < 20_000; i++)
            {
                if (limiter.TryAcquire(out var lease, out _))
                {
                    int now = Interlocked.Increment(ref inside);
                    InterlockedMax(ref peak, now);
                    Interlocked.Increment(ref granted);
                    Interlocked.Decrement(ref inside);
                    lease!.Dispose();
                }
            }
        })));

        Assert.InRange(peak, 1, 3);
        Assert.True(granted > 0);
        Assert.Equal(0, limiter.Active);
    }

    [Fact]
    public void Validate_BadMediaKeys_ReportsEveryOneWithItsKey()
    {
        var errors = new List<string>();
        new MediaTranscodingOptions { MaxTranscoders = -1, TranscodeMaxWidth = 8, TranscodeBitrateKbps = 0 }.Validate(errors);

        Assert.Equal(3, errors.Count);
        Assert.StartsWith("Media:MaxTranscoders -1 is out of range", errors[0]);
        Assert.StartsWith("Media:TranscodeMaxWidth must be", errors[1]);
        Assert.StartsWith("Media:TranscodeBitrateKbps must be", errors[2]);
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int current;
        while ((current = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, current) != current)
        {
        }
    }
}
