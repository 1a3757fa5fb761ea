using System.Globalization;
using System.Text;

namespace HikShareGateway.Http.Metrics;

/// <summary>
/// The Prometheus text exposition format 0.0.4 (https://prometheus.io/docs/instrumenting/exposition_formats/):
/// <c># HELP</c> and <c># TYPE</c> once per family, then <c>name{label="value",…} value</c> lines; label values
/// escape <c>\</c>, <c>"</c> and line feeds, HELP text escapes <c>\</c> and line feeds; values are Go-style
/// floats (<c>+Inf</c>, <c>-Inf</c>, <c>NaN</c>). Pure: it only appends to a <see cref="StringBuilder"/>.
/// </summary>
public sealed class PrometheusTextWriter(StringBuilder output)
{
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    /// <summary>Starts a family: <c># HELP</c> (when there is a description) and <c># TYPE</c>.</summary>
    public void Family(string name, string type, string? help)
    {
        if (!string.IsNullOrEmpty(help))
        {
            output.Append("# HELP ").Append(name).Append(' ');
            EscapeHelp(help);
            output.Append('\n');
        }
        output.Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');
    }

    /// <summary>One sample. <paramref name="extraLabel"/> (e.g. a histogram's <c>le</c>) comes after the others.</summary>
    public void Sample(string name, IReadOnlyList<KeyValuePair<string, string>> labels, double value, KeyValuePair<string, string>? extraLabel = null)
    {
        output.Append(name);
        if (labels.Count > 0 || extraLabel is not null)
        {
            output.Append('{');
            var first = true;
            for (var i = 0; i < labels.Count; i++)
            {
                Label(labels[i], ref first);
            }
            if (extraLabel is { } extra)
            {
                Label(extra, ref first);
            }
            output.Append('}');
        }
        output.Append(' ').Append(FormatValue(value)).Append('\n');
    }

    public void Sample(string name, double value) => Sample(name, [], value);

    /// <summary>Go's strconv.FormatFloat(v, 'g', -1, 64) as Prometheus clients write it; integers without a fraction.</summary>
    public static string FormatValue(double value) =>
        double.IsPositiveInfinity(value) ? "+Inf"
        : double.IsNegativeInfinity(value) ? "-Inf"
        : double.IsNaN(value) ? "NaN"
        : value.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>A metric or label name as the format allows it: <c>[a-zA-Z_:][a-zA-Z0-9_:]*</c> (others become <c>_</c>).</summary>
    public static string SanitizeName(string name)
    {
        var ok = name.Length > 0;
        for (var i = 0; i < name.Length && ok; i++)
        {
            ok = IsNameChar(name[i], i == 0);
        }
        if (ok)
        {
            return name;
        }
        var b = new StringBuilder(name.Length + 1);
        for (var i = 0; i < name.Length; i++)
        {
            b.Append(IsNameChar(name[i], i == 0) ? name[i] : '_');
        }
        return b.Length == 0 ? "_" : b.ToString();
    }

    private static bool IsNameChar(char c, bool first) =>
        c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or '_' or ':' || (!first && c is >= '0' and <= '9');

    private void Label(KeyValuePair<string, string> label, ref bool first)
    {
        if (!first)
        {
            output.Append(',');
        }
        first = false;
        output.Append(SanitizeName(label.Key)).Append("=\"");
        foreach (var c in label.Value)
        {
            switch (c)
            {
                case '\\': output.Append("\\\\"); break;
                case '"': output.Append("\\\""); break;
                case '\n': output.Append("\\n"); break;
                default: output.Append(c); break;
            }
        }
        output.Append('"');
    }

    private void EscapeHelp(string help)
    {
        foreach (var c in help)
        {
            switch (c)
            {
                case '\\': output.Append("\\\\"); break;
                case '\n': output.Append("\\n"); break;
                default: output.Append(c); break;
            }
        }
    }
}
