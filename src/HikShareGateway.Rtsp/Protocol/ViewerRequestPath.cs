using System.Globalization;

namespace HikShareGateway.Rtsp.Protocol;

public enum ViewerPathKind { Live, Playback }

/// <summary>
/// A viewer's request URI (contract §5): <c>/live/{deviceId}/{channel}[/{main|sub}]</c> or
/// <c>/playback/{deviceId}/{channel}?start=…&amp;end=…</c>, optionally followed by a track control
/// <c>/trackID=N</c>, with the viewer token in the query.
/// </summary>
public sealed record ViewerRequestPath
{
    public required ViewerPathKind Kind { get; init; }
    public required string DeviceId { get; init; }
    public required int Channel { get; init; }
    public bool Sub { get; init; }
    /// <summary>The track of a SETUP URL (<c>trackID=N</c>), or null for the whole stream.</summary>
    public int? Track { get; init; }
    public string? Token { get; init; }
    public IReadOnlyDictionary<string, string> Query { get; init; } = new Dictionary<string, string>();

    /// <summary>A key that identifies the stream regardless of track and query (<c>live/dev/1/main</c>).</summary>
    public string StreamKey => Kind == ViewerPathKind.Live ? $"live/{DeviceId}/{Channel}/{(Sub ? "sub" : "main")}" : $"playback/{DeviceId}/{Channel}";

    /// <summary>
    /// Parses an absolute (<c>rtsp://host:port/path</c>) or absolute-path request URI. Players differ in
    /// where they put the track control when the URL has a query: ffmpeg and live555 append it after the
    /// query (<c>…/main?token=X/trackID=0</c>), GStreamer inserts it before (<c>…/main/trackID=0?token=X</c>);
    /// both are accepted. A JWT never contains '/', so the split is unambiguous.
    /// </summary>
    public static bool TryParse(string uri, out ViewerRequestPath? path)
    {
        path = null;
        var rest = uri;
        if (rest.StartsWith("rtsp://", StringComparison.OrdinalIgnoreCase) || rest.StartsWith("rtsps://", StringComparison.OrdinalIgnoreCase))
        {
            var afterScheme = rest.IndexOf("://", StringComparison.Ordinal) + 3;
            var slash = rest.IndexOf('/', afterScheme);
            rest = slash < 0 ? "/" : rest[slash..];
        }
        if (!rest.StartsWith('/'))
        {
            return false;
        }
        string? query = null;
        string? trailingControl = null;
        var q = rest.IndexOf('?');
        if (q >= 0)
        {
            query = rest[(q + 1)..];
            rest = rest[..q];
            var qs = query.IndexOf('/');
            if (qs >= 0)
            {
                trailingControl = query[(qs + 1)..];
                query = query[..qs];
            }
        }
        var segments = rest.Split('/', StringSplitOptions.RemoveEmptyEntries).Select(Uri.UnescapeDataString).ToList();
        int? track = null;
        if (trailingControl is not null)
        {
            if (!TryTrack(trailingControl, out var t))
            {
                return false;
            }
            track = t;
        }
        else if (segments.Count > 0 && segments[^1].StartsWith("trackID=", StringComparison.OrdinalIgnoreCase))
        {
            if (!TryTrack(segments[^1], out var t))
            {
                return false;
            }
            track = t;
            segments.RemoveAt(segments.Count - 1);
        }
        if (segments.Count < 3)
        {
            return false;
        }
        var kind = segments[0] switch { "live" => ViewerPathKind.Live, "playback" => ViewerPathKind.Playback, _ => (ViewerPathKind?)null };
        if (kind is null || segments[1].Length == 0
            || !int.TryParse(segments[2], NumberStyles.None, CultureInfo.InvariantCulture, out var channel) || channel < 1)
        {
            return false;
        }
        var sub = false;
        if (kind == ViewerPathKind.Live)
        {
            if (segments.Count > 4)
            {
                return false;
            }
            if (segments.Count == 4)
            {
                if (segments[3] == "sub")
                {
                    sub = true;
                }
                else if (segments[3] != "main")
                {
                    return false;
                }
            }
        }
        else if (segments.Count > 3)
        {
            return false;
        }
        var parameters = ParseQuery(query);
        parameters.TryGetValue("token", out var token);
        path = new ViewerRequestPath { Kind = kind.Value, DeviceId = segments[1], Channel = channel, Sub = sub, Track = track, Token = token, Query = parameters };
        return true;
    }

    private static bool TryTrack(string control, out int track)
    {
        track = 0;
        return control.StartsWith("trackID=", StringComparison.OrdinalIgnoreCase)
               && int.TryParse(control.AsSpan(8).TrimEnd('/'), NumberStyles.None, CultureInfo.InvariantCulture, out track);
    }

    public static Dictionary<string, string> ParseQuery(string? query)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        if (string.IsNullOrEmpty(query))
        {
            return result;
        }
        foreach (var pair in query.Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = pair.IndexOf('=');
            var name = Uri.UnescapeDataString(eq < 0 ? pair : pair[..eq]);
            var value = eq < 0 ? "" : Uri.UnescapeDataString(pair[(eq + 1)..].Replace('+', ' '));
            result.TryAdd(name, value);
        }
        return result;
    }
}
