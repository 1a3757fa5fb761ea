using System.Globalization;
using System.Text;
using HikShareGateway.Media;

namespace HikShareGateway.Rtsp.Protocol;


/// <summary>One <c>m=</c> section of an SDP (RFC 8866), as far as a relay needs it.</summary>
public sealed class SdpMedia
{
    public required string Type { get; init; }
    public required string Protocol { get; init; }
    /// <summary>Payload type numbers (or formats) of the <c>m=</c> line.</summary>
    public required IReadOnlyList<string> Formats { get; init; }
    public List<string> Bandwidths { get; } = [];
    /// <summary><c>a=</c> lines as (name, value or null), in order.</summary>
    public List<KeyValuePair<string, string?>> Attributes { get; } = [];

    public string? Attribute(string name)
    {
        foreach (var a in Attributes)
        {
            if (string.Equals(a.Key, name, StringComparison.OrdinalIgnoreCase))
            {
                return a.Value;
            }
        }
        return null;
    }

    public bool HasAttribute(string name) => Attributes.Exists(a => string.Equals(a.Key, name, StringComparison.OrdinalIgnoreCase));

    public string? Control => Attribute("control");

    /// <summary><c>sendonly</c>, <c>recvonly</c>, <c>sendrecv</c> or <c>inactive</c>; null when not given.</summary>
    public string? Direction => Attributes.Find(a => a.Value is null && a.Key is "sendonly" or "recvonly" or "sendrecv" or "inactive").Key;

    /// <summary>The encoding name of <c>a=rtpmap</c> for the first format (e.g. <c>H264</c>), upper case, or null.</summary>
    public string? EncodingName
    {
        get
        {
            var fmt = Formats.Count > 0 ? Formats[0] : null;
            foreach (var a in Attributes)
            {
                if (a.Key.Equals("rtpmap", StringComparison.OrdinalIgnoreCase) && a.Value is { } v)
                {
                    var sp = v.IndexOf(' ');
                    if (sp > 0 && v.AsSpan(0, sp).Trim().SequenceEqual(fmt))
                    {
                        var enc = v[(sp + 1)..].Trim();
                        var slash = enc.IndexOf('/');
                        return (slash < 0 ? enc : enc[..slash]).ToUpperInvariant();
                    }
                }
            }
            return fmt switch { "0" => "PCMU", "8" => "PCMA", "26" => "JPEG", _ => null };
        }
    }

    public VideoCodec VideoCodec => Type != "video" ? VideoCodec.None : EncodingName switch
    {
        "H264" => VideoCodec.H264,
        "H265" or "HEVC" => VideoCodec.H265,
        _ => VideoCodec.Other,
    };

    /// <summary>The RTP clock rate from <c>a=rtpmap</c> (e.g. <c>96 H264/90000</c>), 8000 for static PCMU/PCMA, else 0.</summary>
    public int ClockRate
    {
        get
        {
            var rtpmap = Attribute("rtpmap");
            var slash = rtpmap?.IndexOf('/') ?? -1;
            if (slash < 0)
            {
                return Formats.Count > 0 && Formats[0] is "0" or "8" ? 8000 : 0;
            }
            var rest = rtpmap![(slash + 1)..];
            var end = rest.IndexOf('/');
            return int.TryParse(end < 0 ? rest : rest[..end], out var rate) ? rate : 0;
        }
    }

    /// <summary>
    /// This section as the media core's neutral <see cref="MediaTrack"/>: only what a player needs (rtpmap, fmtp,
    /// frame size and rate, ptime, rtcp-fb; AS/TIAS bandwidths); nothing of the camera's address, credentials, upstream
    /// paths or vendor attributes (contract §6), so no output can leak them.
    /// </summary>
    public MediaTrack ToMediaTrack()
    {
        var attributes = new List<KeyValuePair<string, string>>();
        foreach (var (name, value) in Attributes)
        {
            if (SdpBuilder.PassedAttributes.Contains(name) && value is not null && !value.Contains("://", StringComparison.Ordinal))
            {
                attributes.Add(new(name, value));
            }
        }
        var bandwidths = new List<string>();
        foreach (var b in Bandwidths)
        {
            if (b.StartsWith("AS:", StringComparison.OrdinalIgnoreCase) || b.StartsWith("TIAS:", StringComparison.OrdinalIgnoreCase))
            {
                bandwidths.Add(b);
            }
        }
        var fmtp = Attribute("fmtp");
        var first = Formats.Count > 0 ? Formats[0] : null;
        var space = fmtp?.IndexOf(' ') ?? -1;
        return new MediaTrack
        {
            Type = Type,
            EncodingName = EncodingName,
            ClockRate = ClockRate,
            PayloadType = int.TryParse(first, NumberStyles.None, CultureInfo.InvariantCulture, out var pt) && pt <= 127 ? pt : -1,
            Formats = Formats,
            FormatParameters = space > 0 && fmtp!.AsSpan(0, space).SequenceEqual(first) ? fmtp![(space + 1)..].Trim() : null,
            Attributes = attributes,
            Bandwidths = bandwidths,
        };
    }
}

/// <summary>A parsed session description. Parsing never throws: odd lines are skipped (real cameras send them).</summary>
public sealed class SessionDescription
{
    public List<KeyValuePair<string, string?>> SessionAttributes { get; } = [];
    public List<SdpMedia> Media { get; } = [];
    public string? SessionName { get; set; }

    public string? SessionControl => SessionAttributes.Find(a => a.Key.Equals("control", StringComparison.OrdinalIgnoreCase)).Value;

    /// <summary>
    /// Parses leniently: LF or CRLF line ends, unknown or malformed lines ignored (Hikvision's
    /// <c>a=Media_header:…</c>, the "HIK Media Server" <c>c=IN c=IN IP4 0.0.0.0</c>), an <c>m=</c> line
    /// without formats accepted.
    /// </summary>
    public static SessionDescription Parse(string text)
    {
        var sdp = new SessionDescription();
        SdpMedia? current = null;
        var skippingMedia = false; // inside the section of a broken m= line
        foreach (var rawLine in text.Split('\n'))
        {
            var line = rawLine.TrimEnd('\r', ' ', '\t');
            if (line.Length < 2 || line[1] != '=')
            {
                continue;
            }
            var value = line[2..];
            switch (line[0])
            {
                case 's' when current is null:
                    sdp.SessionName = value;
                    break;
                case 'm':
                    var parts = value.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    if (parts.Length < 3)
                    {
                        current = null; // a broken m= line: ignore it and its attributes
                        skippingMedia = true;
                        continue;
                    }
                    skippingMedia = false;
                    current = new SdpMedia { Type = parts[0].ToLowerInvariant(), Protocol = parts[2], Formats = parts[3..] };
                    sdp.Media.Add(current);
                    break;
                case 'b' when current is not null:
                    current.Bandwidths.Add(value);
                    break;
                case 'a' when !skippingMedia:
                    var colon = value.IndexOf(':');
                    var attr = colon < 0 ? new KeyValuePair<string, string?>(value.Trim(), null) : new(value[..colon].Trim(), value[(colon + 1)..].Trim());
                    if (current is null)
                    {
                        sdp.SessionAttributes.Add(attr);
                    }
                    else
                    {
                        current.Attributes.Add(attr);
                    }
                    break;
            }
        }
        return sdp;
    }
}

/// <summary>
/// The SDP the gateway sends to viewers, rebuilt from scratch: only what a player needs (rtpmap, fmtp,
/// frame size and rate, direction) and the gateway's own track controls. Nothing of the camera's
/// address, credentials, upstream paths or vendor attributes passes (contract §6).
/// </summary>
public static class SdpBuilder
{
    internal static readonly HashSet<string> PassedAttributes = new(StringComparer.OrdinalIgnoreCase)
    {
        "rtpmap", "fmtp", "framerate", "x-framerate", "x-dimensions", "framesize", "ptime", "maxptime", "rtcp-fb",
    };

    /// <param name="tracks">The upstream media to offer, in the order of their track ids.</param>
    /// <param name="direction">Direction attribute per track (<c>recvonly</c> for what the viewer receives).</param>
    public static string Build(string sessionName, long sessionId, IReadOnlyList<SdpMedia> tracks, Func<int, string>? direction = null, string? range = "npt=0-")
        => Build(sessionName, sessionId, [.. tracks.Select(t => t.ToMediaTrack())], direction, range);

    /// <param name="tracks">The media core's tracks to offer (already filtered, see <see cref="SdpMedia.ToMediaTrack"/>), in the order of their track ids.</param>
    /// <param name="direction">Direction attribute per track (<c>recvonly</c> for what the viewer receives).</param>
    public static string Build(string sessionName, long sessionId, IReadOnlyList<MediaTrack> tracks, Func<int, string>? direction = null, string? range = "npt=0-")
    {
        var sb = new StringBuilder(512);
        sb.Append("v=0\r\n");
        sb.Append("o=- ").Append(sessionId.ToString(CultureInfo.InvariantCulture)).Append(" 1 IN IP4 0.0.0.0\r\n");
        sb.Append("s=").Append(Sanitize(sessionName)).Append("\r\n");
        sb.Append("c=IN IP4 0.0.0.0\r\n");
        sb.Append("t=0 0\r\n");
        sb.Append("a=tool:HikShareGateway\r\n");
        if (range is not null)
        {
            sb.Append("a=range:").Append(range).Append("\r\n");
        }
        sb.Append("a=control:*\r\n");
        for (var i = 0; i < tracks.Count; i++)
        {
            var m = tracks[i];
            sb.Append("m=").Append(m.Type is "video" or "audio" or "application" ? m.Type : "application").Append(" 0 RTP/AVP");
            foreach (var f in m.Formats)
            {
                // RTP/AVP formats are payload type numbers; anything else (an address, a URL) is not passed on.
                if (f.Length is > 0 and <= 3 && f.All(char.IsAsciiDigit))
                {
                    sb.Append(' ').Append(f);
                }
            }
            sb.Append("\r\n");
            foreach (var b in m.Bandwidths)
            {
                sb.Append("b=").Append(Sanitize(b)).Append("\r\n");
            }
            foreach (var (name, value) in m.Attributes)
            {
                sb.Append("a=").Append(name).Append(':').Append(Sanitize(value)).Append("\r\n");
            }
            sb.Append("a=").Append(direction?.Invoke(i) ?? "recvonly").Append("\r\n");
            sb.Append("a=control:trackID=").Append(i.ToString(CultureInfo.InvariantCulture)).Append("\r\n");
        }
        return sb.ToString();
    }

    private static string Sanitize(string s) => s.Replace("\r", "", StringComparison.Ordinal).Replace("\n", "", StringComparison.Ordinal);
}
