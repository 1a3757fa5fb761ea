using Microsoft.Extensions.Logging;

namespace HikShareGateway.Ffmpeg.Tests;

[Trait("Category", "Unit")]
public sealed class FfmpegLogTests
{
    private sealed class Recorder : ILogger
    {
        public readonly List<(LogLevel Level, int Id, string Message)> Lines = [];
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Lines.Add((logLevel, eventId.Id, formatter(state, exception)));
    }

    [Fact]
    public void LogAvailability_FfmpegOff_OneWarningThatSnapshotsAndTranscodingAreOff()
    {
        var log = new Recorder();

        log.LogAvailability(new FfmpegAvailability(false, "libavcodec.so.59 not found", []));

        var line = Assert.Single(log.Lines);
        Assert.Equal((LogLevel.Warning, 7800), (line.Level, line.Id));
        Assert.Equal("FFmpeg 5.1 libraries not found: snapshots and transcoding are off (libavcodec.so.59 not found)", line.Message);
    }

    [Fact]
    public void LogAvailability_OnWithMissingEncoder_InformationThenWarningNamingIt()
    {
        var log = new Recorder();

        log.LogAvailability(new FfmpegAvailability(true, "libavcodec 59.37.100", ["libx264 (encoder)"]));

        Assert.Equal([LogLevel.Information, LogLevel.Warning], log.Lines.Select(l => l.Level));
        Assert.Equal("FFmpeg lacks libx264 (encoder): what needs them is off", log.Lines[1].Message);
    }
}
