using System.Globalization;

namespace HikShareGateway.Rtsp.Playback;

/// <summary>Times in playback URLs and ONVIF clock ranges: UTC, basic ISO 8601 (<c>20261125T100000Z</c>, optional fraction).</summary>
public static class PlaybackTime
{
    private static readonly string[] BasicFormats =
    [
        "yyyyMMdd'T'HHmmss'Z'", "yyyyMMdd'T'HHmmss.F'Z'", "yyyyMMdd'T'HHmmss.FF'Z'", "yyyyMMdd'T'HHmmss.FFF'Z'",
        "yyyyMMdd'T'HHmmss.FFFFFF'Z'", "yyyyMMdd'T'HHmmss.FFFFFFF'Z'",
    ];

    /// <summary>Basic ISO 8601 UTC as the contract writes it; extended ISO 8601 with Z or an offset is accepted too (API callers).</summary>
    public static bool TryParse(string? text, out DateTimeOffset time)
    {
        time = default;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }
        text = text.Trim();
        // RFC 2326 §3.7 allows up to 9 fraction digits; .NET parses 7.
        var dot = text.IndexOf('.');
        if (dot > 0 && text.EndsWith('Z') && text.Length - dot - 2 > 7)
        {
            text = text[..(dot + 8)] + "Z";
        }
        if (DateTimeOffset.TryParseExact(text, BasicFormats, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out time))
        {
            return true;
        }
        return text.Contains('-') && text.Contains('T') && (text.EndsWith('Z') || text.Contains('+') || text.LastIndexOf('-') > text.IndexOf('T'))
               && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal, out time);
    }

    /// <summary><c>20261125T100000Z</c>; a fraction only when there is one (milliseconds).</summary>
    public static string Format(DateTimeOffset time)
    {
        var utc = time.ToUniversalTime();
        return utc.Millisecond == 0
            ? utc.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture)
            : utc.ToString("yyyyMMdd'T'HHmmss.fff'Z'", CultureInfo.InvariantCulture);
    }
}

public enum RangeUnit { Npt, Clock }

/// <summary>
/// An RTSP <c>Range</c> (RFC 2326 §12.29, §3.6 npt, §3.7 clock). Open ends are null. <c>npt=now-</c> parses as an
/// npt range without start ("from where it is").
/// </summary>
public sealed record RtspRange(RangeUnit Unit, TimeSpan? NptStart = null, TimeSpan? NptEnd = null, DateTimeOffset? ClockStart = null, DateTimeOffset? ClockEnd = null)
{
    public bool HasStart => Unit == RangeUnit.Npt ? NptStart is not null : ClockStart is not null;

    public static bool TryParse(string? header, out RtspRange? range)
    {
        range = null;
        if (string.IsNullOrWhiteSpace(header))
        {
            return false;
        }
        var value = header.Trim();
        var semi = value.IndexOf(';'); // ";time=…" (when to act) is not supported and ignored
        if (semi >= 0)
        {
            value = value[..semi].Trim();
        }
        var eq = value.IndexOf('=');
        if (eq < 0)
        {
            return false;
        }
        var unit = value[..eq].Trim().ToLowerInvariant();
        var spec = value[(eq + 1)..].Trim();
        var dash = spec.IndexOf('-'); // basic ISO 8601 has no '-', so the first one separates start and end
        if (dash < 0)
        {
            return false;
        }
        var from = spec[..dash].Trim();
        var to = spec[(dash + 1)..].Trim();
        switch (unit)
        {
            case "npt":
                TimeSpan? s = null, e = null;
                if (from.Length > 0 && from != "now")
                {
                    if (!TryNpt(from, out var v))
                    {
                        return false;
                    }
                    s = v;
                }
                if (to.Length > 0)
                {
                    if (!TryNpt(to, out var v))
                    {
                        return false;
                    }
                    e = v;
                }
                range = new RtspRange(RangeUnit.Npt, NptStart: s, NptEnd: e);
                return true;
            case "clock":
                DateTimeOffset? cs = null, ce = null;
                if (from.Length > 0)
                {
                    if (!PlaybackTime.TryParse(from, out var v))
                    {
                        return false;
                    }
                    cs = v;
                }
                if (to.Length > 0)
                {
                    if (!PlaybackTime.TryParse(to, out var v))
                    {
                        return false;
                    }
                    ce = v;
                }
                range = new RtspRange(RangeUnit.Clock, ClockStart: cs, ClockEnd: ce);
                return true;
            default:
                return false; // smpte and others: not for recordings
        }
    }

    /// <summary>npt-sec (<c>12.5</c>) or npt-hhmmss (<c>0:00:12.5</c>), RFC 2326 §3.6.</summary>
    private static bool TryNpt(string text, out TimeSpan value)
    {
        value = default;
        var parts = text.Split(':');
        if (parts.Length is not (1 or 3))
        {
            return false;
        }
        double seconds = 0;
        foreach (var p in parts)
        {
            if (!double.TryParse(p, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var n) || n < 0)
            {
                return false;
            }
            seconds = seconds * 60 + n;
        }
        if (seconds > TimeSpan.MaxValue.TotalSeconds / 2)
        {
            return false;
        }
        value = TimeSpan.FromSeconds(seconds);
        return true;
    }

    public override string ToString() => Unit == RangeUnit.Npt
        ? "npt=" + (NptStart is { } s ? Seconds(s) : "") + "-" + (NptEnd is { } e ? Seconds(e) : "")
        : "clock=" + (ClockStart is { } cs ? PlaybackTime.Format(cs) : "") + "-" + (ClockEnd is { } ce ? PlaybackTime.Format(ce) : "");

    private static string Seconds(TimeSpan t) => Math.Max(0, t.TotalSeconds).ToString("0.###", CultureInfo.InvariantCulture);
}

/// <summary>
/// Where a playback session is on the recorder's clock, and how positions are spoken to each side.
/// <para>
/// The viewer speaks npt (0 = the <c>start</c> of its URL) or clock (UTC). A URL-template source (Hikvision tracks
/// URL, any RTSP server with the time in the URL) counts npt from the URL's start time, so it gets npt; an ONVIF
/// replay source (ONVIF Streaming §6.3) is addressed in clock time, so it gets clock.
/// </para>
/// </summary>
public sealed record PlaybackTimeline(DateTimeOffset Start, DateTimeOffset? End, bool SourceUsesClock)
{
    /// <summary>The Range of the first PLAY when the viewer gave none: the whole requested span.</summary>
    public string InitialUpstreamRange() => SourceUsesClock
        ? new RtspRange(RangeUnit.Clock, ClockStart: Start, ClockEnd: End).ToString()
        : new RtspRange(RangeUnit.Npt, NptStart: TimeSpan.Zero).ToString();

    /// <summary>The viewer's Range in the source's unit. An open end stays open for npt and becomes <see cref="End"/> for clock.</summary>
    public string ToUpstream(RtspRange viewer)
    {
        if (SourceUsesClock)
        {
            var start = viewer.Unit == RangeUnit.Clock ? viewer.ClockStart : viewer.NptStart is { } s ? Start + s : null;
            var end = viewer.Unit == RangeUnit.Clock ? viewer.ClockEnd : viewer.NptEnd is { } e ? Start + e : null;
            return new RtspRange(RangeUnit.Clock, ClockStart: start, ClockEnd: end ?? End).ToString();
        }
        var nptStart = viewer.Unit == RangeUnit.Npt ? viewer.NptStart : viewer.ClockStart is { } cs ? Clamp(cs - Start) : null;
        var nptEnd = viewer.Unit == RangeUnit.Npt ? viewer.NptEnd : viewer.ClockEnd is { } ce ? Clamp(ce - Start) : null;
        return new RtspRange(RangeUnit.Npt, NptStart: nptStart, NptEnd: nptEnd).ToString();
    }

    /// <summary>The device's answered Range in the unit the viewer used; null when the device gave none or it cannot be read.</summary>
    public string? ToViewer(string? upstreamRange, RangeUnit viewerUnit)
    {
        if (!RtspRange.TryParse(upstreamRange, out var r))
        {
            return null;
        }
        if (r!.Unit == viewerUnit)
        {
            return r.ToString();
        }
        if (viewerUnit == RangeUnit.Npt)
        {
            return new RtspRange(RangeUnit.Npt, NptStart: r.ClockStart is { } cs ? Clamp(cs - Start) : null, NptEnd: r.ClockEnd is { } ce ? Clamp(ce - Start) : null).ToString();
        }
        return new RtspRange(RangeUnit.Clock, ClockStart: r.NptStart is { } s ? Start + s : null, ClockEnd: r.NptEnd is { } e ? Start + e : null).ToString();
    }

    /// <summary>The <c>a=range</c> of the viewer's SDP: the device's npt range when it gave one, else the requested span.</summary>
    public string SdpRange(string? upstreamSdpRange)
    {
        if (!SourceUsesClock && RtspRange.TryParse(upstreamSdpRange, out var r) && r!.Unit == RangeUnit.Npt && r.NptEnd is not null)
        {
            return new RtspRange(RangeUnit.Npt, NptStart: TimeSpan.Zero, NptEnd: r.NptEnd).ToString();
        }
        return End is { } end && end > Start
            ? new RtspRange(RangeUnit.Npt, NptStart: TimeSpan.Zero, NptEnd: end - Start).ToString()
            : "npt=0-";
    }

    private static TimeSpan Clamp(TimeSpan t) => t < TimeSpan.Zero ? TimeSpan.Zero : t;
}
