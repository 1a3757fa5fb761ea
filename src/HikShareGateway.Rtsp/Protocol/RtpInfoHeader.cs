namespace HikShareGateway.Rtsp.Protocol;

/// <summary>One entry of an <c>RTP-Info</c> header: the stream's url and its <c>;seq=</c>/<c>;rtptime=</c> parameters as sent.</summary>
public sealed record RtpInfoEntry(string? Url, string Parameters);

/// <summary>
/// The RTSP <c>RTP-Info</c> header (RFC 2326 §12.33): comma-separated entries of <c>url=…;seq=…;rtptime=…</c>.
/// Other parameters are dropped; a quoted url is unquoted.
/// </summary>
public static class RtpInfoHeader
{
    public static IReadOnlyList<RtpInfoEntry> Parse(string? header)
    {
        if (string.IsNullOrWhiteSpace(header))
        {
            return [];
        }
        var entries = new List<RtpInfoEntry>();
        foreach (var entry in header.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            string? url = null;
            var parameters = "";
            foreach (var part in entry.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                if (part.StartsWith("url=", StringComparison.OrdinalIgnoreCase))
                {
                    url = part[4..].Trim('"');
                }
                else if (part.StartsWith("seq=", StringComparison.OrdinalIgnoreCase) || part.StartsWith("rtptime=", StringComparison.OrdinalIgnoreCase))
                {
                    parameters += ";" + part;
                }
            }
            entries.Add(new RtpInfoEntry(url, parameters));
        }
        return entries;
    }

    /// <summary>Entries as an <c>RTP-Info</c> value; null when there are none.</summary>
    public static string? Format(IReadOnlyList<RtpInfoEntry> entries)
        => entries.Count == 0 ? null : string.Join(",", entries.Select(e => "url=" + e.Url + e.Parameters));
}
