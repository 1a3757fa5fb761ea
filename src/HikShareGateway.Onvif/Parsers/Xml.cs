using System.Globalization;
using System.Xml;
using System.Xml.Linq;

namespace HikShareGateway.Onvif.Parsers;

/// <summary>
/// Lenient element lookup: devices disagree about which namespace children live in (tds: vs tt:), so
/// below the checked response element, children are matched by local name.
/// </summary>
internal static class Xml
{
    public static XElement? Child(this XElement? e, string localName)
    {
        if (e is null)
        {
            return null;
        }
        foreach (var c in e.Elements())
        {
            if (c.Name.LocalName == localName)
            {
                return c;
            }
        }
        return null;
    }

    public static IEnumerable<XElement> Children(this XElement? e, string localName) =>
        e is null ? [] : e.Elements().Where(c => c.Name.LocalName == localName);

    public static XElement? Path(this XElement? e, params string[] names)
    {
        foreach (var n in names)
        {
            e = e.Child(n);
        }
        return e;
    }

    public static string? Text(this XElement? e, params string[] names)
    {
        var v = e.Path(names)?.Value.Trim();
        return string.IsNullOrEmpty(v) ? null : v;
    }

    public static int Int(this XElement? e, params string[] names) =>
        int.TryParse(e.Text(names), NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : 0;

    public static double? Double(string? s) =>
        double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : null;

    public static bool Bool(string? s) => s is not null && (s.Equals("true", StringComparison.OrdinalIgnoreCase) || s == "1");

    public static string? Attr(this XElement? e, string name)
    {
        var v = e?.Attribute(name)?.Value;
        return string.IsNullOrEmpty(v) ? null : v;
    }

    public static DateTimeOffset? Time(string? s)
    {
        if (s is null)
        {
            return null;
        }
        try
        {
            return new DateTimeOffset(XmlConvert.ToDateTime(s, XmlDateTimeSerializationMode.Utc), TimeSpan.Zero);
        }
        catch (FormatException)
        {
            return null;
        }
    }

    public static Uri? AbsoluteUri(string? s) => s is not null && Uri.TryCreate(s.Trim(), UriKind.Absolute, out var u) ? u : null;
}
