using System.Globalization;

namespace HikShareGateway.Mp4.Rtp;

/// <summary>
/// An RFC 3640 AAC stream's fmtp (<c>mode=AAC-hbr;config=1408;sizelength=13;indexlength=3;indexdeltalength=3</c>):
/// the AudioSpecificConfig (hex) and the AU-header layout. Pure; false for other modes or a missing/odd config.
/// </summary>
public static class SdpAacFormat
{
    public static bool TryParse(string? formatParameters, out byte[] config, out AacAuLayout layout)
    {
        config = [];
        layout = default;
        if (string.IsNullOrEmpty(formatParameters))
        {
            return false;
        }
        string? mode = null;
        string? hex = null;
        int size = 0, index = 0, delta = 0;
        foreach (var part in formatParameters.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var eq = part.IndexOf('=');
            if (eq <= 0)
            {
                continue;
            }
            var name = part[..eq].Trim().ToLowerInvariant();
            var value = part[(eq + 1)..].Trim();
            switch (name)
            {
                case "mode": mode = value; break;
                case "config": hex = value; break;
                case "sizelength": int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out size); break;
                case "indexlength": int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out index); break;
                case "indexdeltalength": int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out delta); break;
            }
        }
        if (mode is null || !(mode.Equals("AAC-hbr", StringComparison.OrdinalIgnoreCase) || mode.Equals("AAC-lbr", StringComparison.OrdinalIgnoreCase))
            || hex is null || hex.Length is 0 or > 128 || hex.Length % 2 != 0)
        {
            return false;
        }
        try
        {
            config = Convert.FromHexString(hex);
        }
        catch (FormatException)
        {
            return false;
        }
        layout = new AacAuLayout(size, index, delta);
        return layout.IsValid && Codecs.AudioSpecificConfig.TryParse(config, out _);
    }
}
