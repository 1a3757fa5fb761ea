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
/// <para>
/// <see cref="Probe"/> answers "would FFmpeg work" without keeping it: libavcodec pulls in ~400 mappings of codec
/// libraries (x265, librsvg, glib…), ~12 MB of resident memory and ~17 ms of CPU, which a gateway that never makes a
/// snapshot or a transcoder should not carry (issue 16: idle RSS). The libraries are loaded for good by the first
/// <see cref="Availability"/>, i.e. the first snapshot, transcoder or talk session.
/// </para>
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
    private static readonly Lazy<FfmpegAvailability> Probed = new(ProbeAndUnload, LazyThreadSafetyMode.ExecutionAndPublication);
    private static Dictionary<string, nint>? _handles;
    private static string? _directory;

    /// <summary>
    /// Loads the libraries from <paramref name="directory"/> instead of the system's search path
    /// (<c>Media:FfmpegLibraryDirectory</c>). Must be called before the first <see cref="Availability"/>; later calls
    /// change nothing (the libraries are loaded once per process) and return false; so does a call after the first <see cref="Probe"/>.
    /// </summary>
    public static bool UseDirectory(string? directory)
    {
        if (Loaded.IsValueCreated || Probed.IsValueCreated)
        {
            return false;
        }
        _directory = string.IsNullOrWhiteSpace(directory) ? null : directory;
        return true;
    }

    /// <summary>Loads the libraries on first use; the same result afterwards.</summary>
    public static FfmpegAvailability Availability => Loaded.Value;

    /// <summary>
    /// What <see cref="Availability"/> would give, found by loading the libraries, checking versions and codecs through
    /// their exports only (no [LibraryImport] binds to them) and unloading them again; once per process, the same result
    /// afterwards. When the libraries are already loaded for use, their <see cref="Availability"/>.
    /// </summary>
    public static FfmpegAvailability Probe() => Loaded.IsValueCreated ? Loaded.Value : Probed.Value;

    /// <summary>Runs <see cref="Probe"/> on the thread pool, so that whoever asks next (the start log, WHEP's codec
    /// choice) does not wait on the start path.</summary>
    public static void ProbeInBackground() =>
        ThreadPool.UnsafeQueueUserWorkItem(static _ => Probe(), (object?)null, preferLocal: false);

    /// <summary>Throws <see cref="MediaProcessingException"/> with <see cref="FfmpegAvailability.OffMessage"/> when FFmpeg is off.</summary>
    internal static void EnsureAvailable()
    {
        var a = Availability;
        if (!a.IsAvailable)
        {
            throw new MediaProcessingException(MediaError.Unavailable, $"{FfmpegAvailability.OffMessage} ({a.Description})");
        }
    }

    private static (string Logical, string Soname, string VersionFunction, uint Major)[] Libraries() => _directory is null
        ? Expected
        : [.. Expected.Select(e => e with { Soname = Path.Combine(_directory, e.Soname) })];

    internal static unsafe FfmpegAvailability ProbeAndUnload()
    {
        var result = TryLoad(Libraries(), out var handles);
        if (!result.IsAvailable)
        {
            return result;
        }
        try
        {
            var avcodec = handles[AvCodec.Lib];
            if (!NativeLibrary.TryGetExport(avcodec, "avcodec_find_decoder_by_name", out var findDecoder)
                || !NativeLibrary.TryGetExport(avcodec, "avcodec_find_encoder_by_name", out var findEncoder))
            {
                return new FfmpegAvailability(false, "libavcodec has no avcodec_find_decoder_by_name/avcodec_find_encoder_by_name", []);
            }
            var decoder = (delegate* unmanaged<byte*, nint>)findDecoder;
            var encoder = (delegate* unmanaged<byte*, nint>)findEncoder;
            return result with { MissingCodecs = MissingCodecs(name => Find(decoder, name), name => Find(encoder, name)) };
        }
        finally
        {
            // Unload in the reverse order of loading (dependents first); what is marked NODELETE (x265, glib) stays.
            for (var i = Expected.Length - 1; i >= 0; i--)
            {
                NativeLibrary.Free(handles[Expected[i].Logical]);
            }
        }

        static bool Find(delegate* unmanaged<byte*, nint> find, string name)
        {
            Span<byte> utf8 = stackalloc byte[64];
            var n = System.Text.Encoding.UTF8.GetBytes(name, utf8[..^1]);
            utf8[n] = 0;
            fixed (byte* p = utf8)
            {
                return find(p) != 0;
            }
        }
    }

    private static List<string> MissingCodecs(Func<string, bool> hasDecoder, Func<string, bool> hasEncoder)
    {
        var missing = new List<string>();
        foreach (var name in WantedDecoders)
        {
            if (!hasDecoder(name)) missing.Add(name + " (decoder)");
        }
        foreach (var name in WantedEncoders)
        {
            if (!hasEncoder(name)) missing.Add(name + " (encoder)");
        }
        return missing;
    }

    private static FfmpegAvailability LoadProcessWide()
    {
        var result = TryLoad(Libraries(), out var handles);
        if (!result.IsAvailable)
        {
            return result;
        }
        _handles = handles;
        NativeLibrary.SetDllImportResolver(typeof(FfmpegLibraries).Assembly, Resolve);
        // FFmpeg writes its own log to stderr, a line per damaged packet at level error: a camera with packet loss would
        // flood the journal. Decode failures come back to us as results (counted by the decoders), so only fatal ones.
        AvUtil.av_log_set_level(AvUtil.AV_LOG_FATAL);
        var missing = MissingCodecs(name => AvCodec.avcodec_find_decoder_by_name(name) != 0, name => AvCodec.avcodec_find_encoder_by_name(name) != 0);
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
