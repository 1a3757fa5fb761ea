using System.Reflection;
using System.Runtime.InteropServices;
using HikShareGateway.Ffmpeg.Native;

namespace HikShareGateway.Ffmpeg;

/// <summary>What loading FFmpeg gave: available with versions and codecs, or off with the reason.</summary>
/// <param name="IsAvailable">true when the four libraries loaded at the expected major versions.</param>
/// <param name="Description">Versions ("libavcodec 59.37.100, ...") when available, else why not.</param>
/// <param name="MissingCodecs">Codecs the features want that this build lacks (e.g. libx264), empty when all are there.</param>
public sealed record FfmpegAvailability(bool IsAvailable, string Description, IReadOnlyList<string> MissingCodecs)
{
    /// <summary>The line the host logs as a warning when <see cref="IsAvailable"/> is false.</summary>
    public const string OffMessage = "FFmpeg 5.1 libraries not found: snapshots and transcoding are off";
}

/// <summary>
/// Loads Debian 12's FFmpeg 5.1 libraries by soname once per process and maps this assembly's [LibraryImport]
/// names to them. <see cref="Availability"/> never throws: a missing library or a wrong major version is a result.
/// Thread-safe (a lazy, run once).
/// </summary>
public static class FfmpegLibraries
{
    internal static readonly (string Logical, string Soname, string VersionFunction, uint Major)[] Expected =
    [
        (AvUtil.Lib, "libavutil.so.57", "avutil_version", 57),
        (AvCodec.Lib, "libavcodec.so.59", "avcodec_version", 59),
        (SwScale.Lib, "libswscale.so.6", "swscale_version", 6),
        (SwResample.Lib, "libswresample.so.4", "swresample_version", 4),
    ];

    /// <summary>Decoders and encoders the snapshot and transcoder features use.</summary>
    internal static readonly string[] WantedDecoders = ["h264", "hevc", "mjpeg", "libopus", "aac", "pcm_mulaw", "pcm_alaw"];
    internal static readonly string[] WantedEncoders = ["mjpeg", "libx264", "libopus", "aac", "pcm_mulaw", "pcm_alaw"];

    private static readonly Lazy<FfmpegAvailability> Loaded = new(LoadProcessWide, LazyThreadSafetyMode.ExecutionAndPublication);
    private static Dictionary<string, nint>? _handles;
    private static string? _directory;

    /// <summary>
    /// Loads the libraries from <paramref name="directory"/> instead of the system's search path
    /// (<c>Media:FfmpegLibraryDirectory</c>). Must be called before the first <see cref="Availability"/>; later calls
    /// change nothing (the libraries are loaded once per process) and return false.
    /// </summary>
    public static bool UseDirectory(string? directory)
    {
        if (Loaded.IsValueCreated)
        {
            return false;
        }
        _directory = string.IsNullOrWhiteSpace(directory) ? null : directory;
        return true;
    }

    /// <summary>Loads the libraries on first use; the same result afterwards.</summary>
    public static FfmpegAvailability Availability => Loaded.Value;

    /// <summary>Throws <see cref="MediaProcessingException"/> with <see cref="FfmpegAvailability.OffMessage"/> when FFmpeg is off.</summary>
    internal static void EnsureAvailable()
    {
        var a = Availability;
        if (!a.IsAvailable)
        {
            throw new MediaProcessingException(MediaError.Unavailable, $"{FfmpegAvailability.OffMessage} ({a.Description})");
        }
    }

    private static FfmpegAvailability LoadProcessWide()
    {
        var libraries = _directory is null
            ? Expected
            : [.. Expected.Select(e => e with { Soname = Path.Combine(_directory, e.Soname) })];
        var result = TryLoad(libraries, out var handles);
        if (!result.IsAvailable)
        {
            return result;
        }
        _handles = handles;
        NativeLibrary.SetDllImportResolver(typeof(FfmpegLibraries).Assembly, Resolve);
        // FFmpeg writes its own log to stderr, a line per damaged packet at level error: a camera with packet loss would
        // flood the journal. Decode failures come back to us as results (counted by the decoders), so only fatal ones.
        AvUtil.av_log_set_level(AvUtil.AV_LOG_FATAL);
        var missing = new List<string>();
        foreach (var name in WantedDecoders)
        {
            if (AvCodec.avcodec_find_decoder_by_name(name) == 0) missing.Add(name + " (decoder)");
        }
        foreach (var name in WantedEncoders)
        {
            if (AvCodec.avcodec_find_encoder_by_name(name) == 0) missing.Add(name + " (encoder)");
        }
        return result with { MissingCodecs = missing };
    }

    private static nint Resolve(string libraryName, Assembly assembly, DllImportSearchPath? searchPath) =>
        _handles is not null && _handles.TryGetValue(libraryName, out var h) ? h : 0;

    /// <summary>
    /// Loads each library by soname and checks its major version through its own *_version() export, without
    /// installing anything process-wide (tests call it with other names). Frees what it loaded when it refuses.
    /// </summary>
    internal static unsafe FfmpegAvailability TryLoad(
        IReadOnlyList<(string Logical, string Soname, string VersionFunction, uint Major)> libraries,
        out Dictionary<string, nint> handles)
    {
        handles = new Dictionary<string, nint>(StringComparer.Ordinal);
        var versions = new List<string>();
        string? failure = null;
        foreach (var (logical, soname, versionFunction, major) in libraries)
        {
            if (!NativeLibrary.TryLoad(soname, out var handle))
            {
                failure = $"{soname} not found (Debian 12: apt-get install libavcodec59 libavutil57 libswscale6 libswresample4)";
                break;
            }
            handles[logical] = handle;
            if (!NativeLibrary.TryGetExport(handle, versionFunction, out var fn))
            {
                failure = $"{soname} has no {versionFunction}";
                break;
            }
            uint v = ((delegate* unmanaged<uint>)fn)();
            uint found = v >> 16;
            if (found != major)
            {
                failure = $"{soname} is version {found}.{(v >> 8) & 0xff}.{v & 0xff}, expected major {major} (FFmpeg 5.1)";
                break;
            }
            versions.Add($"{Path.GetFileName(soname).Split('.')[0]} {found}.{(v >> 8) & 0xff}.{v & 0xff}");
        }
        if (failure is null)
        {
            return new FfmpegAvailability(true, string.Join(", ", versions), []);
        }
        foreach (var h in handles.Values)
        {
            NativeLibrary.Free(h);
        }
        handles.Clear();
        return new FfmpegAvailability(false, failure, []);
    }
}
