using HikShareGateway.Ffmpeg.Video;

namespace HikShareGateway.Ffmpeg.Snapshots;

/// <summary>
/// The parameter sets a source announced out of band, from its format parameters (SDP <c>a=fmtp</c>): H.264
/// <c>sprop-parameter-sets</c> (RFC 6184 §8.1, base64 NAL units separated by commas), H.265 <c>sprop-vps</c>,
/// <c>sprop-sps</c>, <c>sprop-pps</c> (RFC 7798 §7.1). Pure; a malformed value is skipped, never thrown.
/// </summary>
public static class SpropParameterSets
{
    public static IReadOnlyList<ReadOnlyMemory<byte>> Parse(VideoCodec codec, string? formatParameters)
    {
        var result = new List<ReadOnlyMemory<byte>>();
        if (string.IsNullOrEmpty(formatParameters))
        {
            return result;
        }
        // H.265: VPS, SPS, PPS in that order, whatever order the source wrote them in.
        string[] keys = codec == VideoCodec.H264 ? ["sprop-parameter-sets"] : ["sprop-vps", "sprop-sps", "sprop-pps"];
        foreach (var key in keys)
        {
            foreach (var part in formatParameters.Split(';', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                int eq = part.IndexOf('=');
                if (eq <= 0 || !part.AsSpan(0, eq).Trim().Equals(key, StringComparison.OrdinalIgnoreCase))
                {
                    continue;
                }
                foreach (var b64 in part[(eq + 1)..].Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
                {
                    var bytes = new byte[b64.Length];
                    if (Convert.TryFromBase64String(b64, bytes, out int n) && n > 0)
                    {
                        result.Add(bytes.AsMemory(0, n));
                    }
                }
            }
        }
        return result;
    }
}
