namespace HikShareGateway.Mp4.Streaming;

/// <summary>
/// The out-of-band parameter sets of an SDP fmtp line, for streams whose keyframes carry none in band:
/// H.264 <c>sprop-parameter-sets</c> (RFC 6184 §8.1, comma-separated base64 NAL units), H.265 <c>sprop-vps</c>,
/// <c>sprop-sps</c>, <c>sprop-pps</c> (RFC 7798 §7.1). Pure; what does not decode is left out.
/// </summary>
public static class SdpParameterSets
{
    public static IReadOnlyList<byte[]> Parse(string? formatParameters)
    {
        var result = new List<byte[]>();
        if (string.IsNullOrEmpty(formatParameters))
        {
            return result;
        }
        foreach (var part in formatParameters.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var eq = part.IndexOf('=');
            if (eq <= 0)
            {
                continue;
            }
            var name = part[..eq].Trim();
            if (name.Equals("sprop-parameter-sets", StringComparison.OrdinalIgnoreCase)
                || name.Equals("sprop-vps", StringComparison.OrdinalIgnoreCase)
                || name.Equals("sprop-sps", StringComparison.OrdinalIgnoreCase)
                || name.Equals("sprop-pps", StringComparison.OrdinalIgnoreCase))
            {
                foreach (var item in part[(eq + 1)..].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                {
                    if (TryDecode(item, out var nal))
                    {
                        result.Add(nal);
                    }
                }
            }
        }
        return result;
    }

    private static bool TryDecode(string base64, out byte[] nal)
    {
        // Some cameras drop the padding.
        var padded = (base64.Length % 4) switch { 2 => base64 + "==", 3 => base64 + "=", _ => base64 };
        var buffer = new byte[padded.Length];
        if (Convert.TryFromBase64String(padded, buffer, out var written) && written is > 0 and <= Rtp.ParameterSet.MaxBytes)
        {
            nal = buffer[..written];
            return true;
        }
        nal = [];
        return false;
    }
}
