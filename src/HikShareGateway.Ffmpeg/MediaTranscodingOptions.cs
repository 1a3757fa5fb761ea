using HikShareGateway.Core.Configuration;
using HikShareGateway.Core.Snapshots;
using HikShareGateway.Ffmpeg.Snapshots;
using HikShareGateway.Ffmpeg.Video;

namespace HikShareGateway.Ffmpeg;

/// <summary>
/// Section <c>Media</c>, the keys of snapshots and transcoding. (Other <c>Media</c> keys belong to the media core;
/// the host binds both from the same section.)
/// </summary>
public sealed class MediaTranscodingOptions : IValidatableOptions
{
    public const string Section = "Media";

    /// <summary>Transcoders (video or audio) running at once; the next one is refused with a reason. Default 2 (a
    /// 1080p25 H.265 → H.264 transcoder takes most of one core of a small box). 0 disables transcoding.</summary>
    public int MaxTranscoders { get; set; } = 2;

    /// <summary>Width cap of transcoded H.264. Default 1280.</summary>
    public int TranscodeMaxWidth { get; set; } = 1280;

    /// <summary>Bitrate cap of transcoded H.264 in kbit/s. Default 2000.</summary>
    public int TranscodeBitrateKbps { get; set; } = 2000;

    /// <summary>Frames between keyframes of transcoded H.264. Default 50 (2 s at 25 fps).</summary>
    public int TranscodeKeyframeInterval { get; set; } = 50;

    /// <summary>Folder to load the FFmpeg 5.1 libraries from instead of the system's library path. Default empty (the
    /// system's: Debian's packages). A folder without them turns snapshots and transcoding off, as on a box without them.</summary>
    public string FfmpegLibraryDirectory { get; set; } = "";

    /// <summary>A snapshot picture is reused for this long, so a stream is decoded at most once per window. Default 1000.</summary>
    public int SnapshotCacheMilliseconds { get; set; } = 1000;

    /// <summary>Bound on the stream starting and on its next keyframe when a snapshot finds none cached. Default 10.</summary>
    public int SnapshotTimeoutSeconds { get; set; } = 10;

    /// <summary>Snapshot decodes running at once over all streams. Default 2.</summary>
    public int MaxConcurrentSnapshots { get; set; } = 2;

    /// <summary>Where snapshots come from: <c>auto</c> (the device's own JPEG when no stream of the channel runs, else
    /// the running stream), <c>decode</c> (always the stream) or <c>device</c> (the device's JPEG first). A failing device
    /// picture falls back to the stream. Per device: <c>Devices[].SnapshotSource</c>. Default <c>auto</c>.</summary>
    public string SnapshotSource { get; set; } = "auto";

    /// <summary>Bound on fetching a device's own picture, in ms; past it the stream is decoded. Default 3000.</summary>
    public int SnapshotDeviceTimeoutMilliseconds { get; set; } = 3000;

    /// <summary>Largest device picture taken, in bytes. Default 4194304 (4 MiB).</summary>
    public int SnapshotDeviceMaxBytes { get; set; } = 4 * 1024 * 1024;

    public void Validate(ICollection<string> errors)
    {
        if (!SnapshotSources.TryParse(SnapshotSource, Core.Snapshots.SnapshotSource.Auto, out _))
        {
            errors.Add($"Media:SnapshotSource \"{SnapshotSource}\" is not one of auto, decode, device (default auto).");
        }
        if (SnapshotDeviceTimeoutMilliseconds is < 100 or > 60_000)
        {
            errors.Add($"Media:SnapshotDeviceTimeoutMilliseconds {SnapshotDeviceTimeoutMilliseconds} is out of range: use 100-60000 (default 3000).");
        }
        if (SnapshotDeviceMaxBytes is < 16 * 1024 or > 64 * 1024 * 1024)
        {
            errors.Add($"Media:SnapshotDeviceMaxBytes {SnapshotDeviceMaxBytes} is out of range: use 16384-67108864 (default 4194304).");
        }
        if (!string.IsNullOrWhiteSpace(FfmpegLibraryDirectory) && !Directory.Exists(FfmpegLibraryDirectory))
        {
            errors.Add($"Media:FfmpegLibraryDirectory \"{FfmpegLibraryDirectory}\" is not a folder: leave it empty to use the system's FFmpeg libraries.");
        }
        if (SnapshotCacheMilliseconds is < 100 or > 60_000)
        {
            errors.Add($"Media:SnapshotCacheMilliseconds {SnapshotCacheMilliseconds} is out of range: use 100-60000 (default 1000).");
        }
        if (SnapshotTimeoutSeconds is < 1 or > 120)
        {
            errors.Add($"Media:SnapshotTimeoutSeconds {SnapshotTimeoutSeconds} is out of range: use 1-120 (default 10).");
        }
        if (MaxConcurrentSnapshots is < 1 or > 64)
        {
            errors.Add($"Media:MaxConcurrentSnapshots {MaxConcurrentSnapshots} is out of range: use 1-64 (default 2).");
        }
        if (MaxTranscoders is < 0 or > 64)
        {
            errors.Add($"Media:MaxTranscoders {MaxTranscoders} is out of range: use 0-64 (default 2; 0 turns transcoding off).");
        }
        foreach (var e in ToVideoOptions().Validate())
        {
            errors.Add("Media:Transcode" + e);
        }
    }

    /// <summary>The snapshot settings these keys give; <paramref name="devices"/> add their own <c>SnapshotSource</c>.</summary>
    public SnapshotOptions ToSnapshotOptions(IEnumerable<DeviceOptions>? devices = null) => new()
    {
        Source = SnapshotSources.TryParse(SnapshotSource, Core.Snapshots.SnapshotSource.Auto, out var source) ? source : Core.Snapshots.SnapshotSource.Auto,
        SourceByDevice = BySource(devices),
        DeviceTimeout = TimeSpan.FromMilliseconds(SnapshotDeviceTimeoutMilliseconds),
        DeviceMaxBytes = SnapshotDeviceMaxBytes,
        CacheWindow = TimeSpan.FromMilliseconds(SnapshotCacheMilliseconds),
        ReadyTimeout = TimeSpan.FromSeconds(SnapshotTimeoutSeconds),
        KeyframeTimeout = TimeSpan.FromSeconds(SnapshotTimeoutSeconds),
        MaxConcurrentDecodes = MaxConcurrentSnapshots,
    };

    private static Dictionary<string, SnapshotSource> BySource(IEnumerable<DeviceOptions>? devices)
    {
        var map = new Dictionary<string, SnapshotSource>(StringComparer.Ordinal);
        foreach (var d in devices ?? [])
        {
            if (!string.IsNullOrWhiteSpace(d.DeviceId) && !string.IsNullOrWhiteSpace(d.SnapshotSource)
                && SnapshotSources.TryParse(d.SnapshotSource, Core.Snapshots.SnapshotSource.Auto, out var s))
            {
                map[d.DeviceId] = s;
            }
        }
        return map;
    }

    /// <summary>The H.265 → H.264 settings these keys give.</summary>
    public VideoTranscoderOptions ToVideoOptions() => new()
    {
        MaxWidth = TranscodeMaxWidth,
        BitrateKbps = TranscodeBitrateKbps,
        KeyframeInterval = TranscodeKeyframeInterval,
    };
}
