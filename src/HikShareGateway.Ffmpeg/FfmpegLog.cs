using Microsoft.Extensions.Logging;

namespace HikShareGateway.Ffmpeg;

/// <summary>The project's log lines (event ids 7000-7099). The host calls <see cref="LogAvailability"/> once at start, with <see cref="FfmpegLibraries.Probe"/>.</summary>
public static partial class FfmpegLog
{
    /// <summary>One line saying whether snapshots and transcoding are on, and if not why (the gateway serves RTSP either way).</summary>
    public static void LogAvailability(this ILogger logger, FfmpegAvailability availability)
    {
        if (!availability.IsAvailable)
        {
            FfmpegOff(logger, availability.Description);
            return;
        }
        FfmpegOn(logger, availability.Description);
        if (availability.MissingCodecs.Count > 0)
        {
            CodecsMissing(logger, string.Join(", ", availability.MissingCodecs));
        }
    }

    [LoggerMessage(EventId = 7800, Level = LogLevel.Warning, Message = FfmpegAvailability.OffMessage + " ({Reason})")]
    private static partial void FfmpegOff(ILogger logger, string reason);

    [LoggerMessage(EventId = 7801, Level = LogLevel.Information, Message = "FFmpeg found ({Versions}): snapshots and transcoding available, the libraries loaded on first use")]
    private static partial void FfmpegOn(ILogger logger, string versions);

    [LoggerMessage(EventId = 7802, Level = LogLevel.Warning, Message = "FFmpeg lacks {Codecs}: what needs them is off")]
    private static partial void CodecsMissing(ILogger logger, string codecs);
}
