using System.Globalization;
using System.Text;

namespace HikShareGateway.Rtsp.Protocol;

/// <summary>One transport specification of an RTSP <c>Transport</c> header (RFC 2326 §12.39).</summary>
public sealed record TransportSpec
{
    /// <summary><c>RTP/AVP</c>, <c>RTP/AVPF</c>, <c>RTP/SAVP</c>…</summary>
    public string Profile { get; init; } = "RTP/AVP";
    /// <summary>True for <c>…/TCP</c> (interleaved on the RTSP connection).</summary>
    public bool Tcp { get; init; }
    public bool Multicast { get; init; }
    public (int Rtp, int Rtcp)? Interleaved { get; init; }
    public (int Rtp, int Rtcp)? ClientPort { get; init; }
    public (int Rtp, int Rtcp)? ServerPort { get; init; }
    public uint? Ssrc { get; init; }
    public string? Mode { get; init; }

    public override string ToString()
    {
        var sb = new StringBuilder(Profile);
        if (Tcp)
        {
            sb.Append("/TCP");
        }
        sb.Append(Multicast ? ";multicast" : ";unicast");
        if (Interleaved is { } i)
        {
            sb.Append(";interleaved=").Append(i.Rtp).Append('-').Append(i.Rtcp);
        }
        if (ClientPort is { } c)
        {
            sb.Append(";client_port=").Append(c.Rtp).Append('-').Append(c.Rtcp);
        }
        if (ServerPort is { } s)
        {
            sb.Append(";server_port=").Append(s.Rtp).Append('-').Append(s.Rtcp);
        }
        if (Ssrc is { } ssrc)
        {
            sb.Append(";ssrc=").Append(ssrc.ToString("X8", CultureInfo.InvariantCulture));
        }
        if (Mode is not null)
        {
            sb.Append(";mode=").Append(Mode);
        }
        return sb.ToString();
    }
}

public static class TransportHeader
{
    /// <summary>
    /// Parses the comma-separated alternatives. Lenient: spaces around parameters and values (Hikvision
    /// sends <c>ssrc= d6d6627</c>), quoted modes, unknown parameters ignored. Unparseable alternatives are skipped.
    /// </summary>
    public static List<TransportSpec> Parse(string? header)
    {
        var result = new List<TransportSpec>();
        if (string.IsNullOrWhiteSpace(header))
        {
            return result;
        }
        foreach (var alternative in header.Split(','))
        {
            var parts = alternative.Split(';');
            var proto = parts[0].Trim();
            if (!proto.StartsWith("RTP/", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }
            var protoParts = proto.Split('/');
            var spec = new TransportSpec
            {
                Profile = protoParts.Length >= 2 ? $"{protoParts[0]}/{protoParts[1]}".ToUpperInvariant() : "RTP/AVP",
                Tcp = protoParts.Length >= 3 && protoParts[2].Trim().Equals("TCP", StringComparison.OrdinalIgnoreCase),
            };
            foreach (var raw in parts.AsSpan(1))
            {
                var p = raw.Trim();
                var eq = p.IndexOf('=');
                var name = (eq < 0 ? p : p[..eq]).Trim().ToLowerInvariant();
                var value = eq < 0 ? "" : p[(eq + 1)..].Trim().Trim('"');
                switch (name)
                {
                    case "unicast": spec = spec with { Multicast = false }; break;
                    case "multicast": spec = spec with { Multicast = true }; break;
                    case "interleaved": spec = spec with { Interleaved = ParsePair(value) }; break;
                    case "client_port": spec = spec with { ClientPort = ParsePair(value) }; break;
                    case "server_port": spec = spec with { ServerPort = ParsePair(value) }; break;
                    case "ssrc":
                        if (uint.TryParse(value, NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var ssrc))
                        {
                            spec = spec with { Ssrc = ssrc };
                        }
                        break;
                    case "mode": spec = spec with { Mode = value.ToUpperInvariant() }; break;
                }
            }
            result.Add(spec);
        }
        return result;
    }

    /// <summary><c>a-b</c>, or a single <c>a</c> meaning <c>a-(a+1)</c>.</summary>
    private static (int, int)? ParsePair(string value)
    {
        var dash = value.IndexOf('-');
        if (dash < 0)
        {
            return int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var one) ? (one, one + 1) : null;
        }
        return int.TryParse(value.AsSpan(0, dash).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var a)
               && int.TryParse(value.AsSpan(dash + 1).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var b)
            ? (a, b)
            : null;
    }
}
