using System.Text;

namespace HikShareCloud.Service;

/// <summary>Values from the network made safe for a log line: control characters (CR, LF, …) escaped, length capped.</summary>
public static class LogText
{
    public static string Escape(string? value, int max = 200)
    {
        if (value is null)
        {
            return "";
        }
        var sb = new StringBuilder(Math.Min(value.Length, max) + 8);
        foreach (var c in value.Length > max ? value[..max] : value)
        {
            if (char.IsControl(c))
            {
                sb.Append("\\u").Append(((int)c).ToString("x4", System.Globalization.CultureInfo.InvariantCulture));
            }
            else
            {
                sb.Append(c);
            }
        }
        return value.Length > max ? sb.Append('…').ToString() : sb.ToString();
    }
}
