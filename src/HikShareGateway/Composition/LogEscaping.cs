using System.Text;
using Serilog.Core;
using Serilog.Events;

namespace HikShareGateway.Composition;

/// <summary>
/// Escapes control characters in every logged value, so that nothing a viewer, a device or a broker sends can start a
/// line of its own in the journal (a device id <c>x%0A[08:00:00 INF] Audit allow …</c> in an RTSP URL, a header, an
/// ONVIF string, an MQTT payload field). One place for every entry point: the values of all properties (nested ones
/// too) and the messages of logged exceptions. Message templates are the code's own and are left alone.
/// </summary>
/// <remarks>
/// CR, LF and the other C0 controls, DEL, NEL (U+0085) and the Unicode line/paragraph separators become
/// <c>\r</c>, <c>\n</c>, <c>\t</c>, <c>\xNN</c> or <c>\uNNNN</c>. Strings without them are passed through as they are
/// (no copy). The exception's stack trace is the gateway's own and keeps its lines; the exception goes out as the
/// <c>EscapedException</c> property, which the output template prints instead of <c>{Exception}</c>.
/// The value of a <c>token=</c> URL query parameter (viewer tokens in RTSP and fMP4 URLs, contract §4, §5.2) becomes
/// <c>token=***</c> in every value, whoever logs it (ASP.NET Core's request lines at Information, Kestrel at Debug).
/// </remarks>
public sealed class LogEscapingEnricher : ILogEventEnricher
{
    public const string ExceptionProperty = "EscapedException";

    public void Enrich(LogEvent logEvent, ILogEventPropertyFactory propertyFactory)
    {
        List<LogEventProperty>? replaced = null;
        foreach (var (name, value) in logEvent.Properties)
        {
            var escaped = Escape(value);
            if (!ReferenceEquals(escaped, value))
            {
                (replaced ??= []).Add(new LogEventProperty(name, escaped));
            }
        }
        if (replaced is not null)
        {
            foreach (var p in replaced)
            {
                logEvent.AddOrUpdateProperty(p);
            }
        }
        logEvent.AddOrUpdateProperty(new LogEventProperty(ExceptionProperty,
            new ScalarValue(logEvent.Exception is { } e ? Render(e) + Environment.NewLine : "")));
    }

    /// <summary>The value with control characters escaped; the same instance when there were none.</summary>
    public static LogEventPropertyValue Escape(LogEventPropertyValue value)
    {
        switch (value)
        {
            case ScalarValue { Value: string s }:
                var e = Escape(s);
                return ReferenceEquals(e, s) ? value : new ScalarValue(e);
            case ScalarValue { Value: Uri u }:
                var us = u.OriginalString;
                var ue = Escape(us);
                return ReferenceEquals(ue, us) ? value : new ScalarValue(ue);
            case SequenceValue seq:
                return Rebuild(seq.Elements, elements => new SequenceValue(elements)) ?? value;
            case StructureValue st:
            {
                LogEventProperty[]? props = null;
                for (var i = 0; i < st.Properties.Count; i++)
                {
                    var p = st.Properties[i];
                    var ev = Escape(p.Value);
                    var name = Escape(p.Name);
                    if (props is null && (ReferenceEquals(ev, p.Value) && ReferenceEquals(name, p.Name)))
                    {
                        continue;
                    }
                    props ??= [.. st.Properties];
                    props[i] = new LogEventProperty(name, ev);
                }
                return props is null ? value : new StructureValue(props, st.TypeTag is { } tag ? Escape(tag) : null);
            }
            case DictionaryValue d:
            {
                var changed = false;
                var pairs = new List<KeyValuePair<ScalarValue, LogEventPropertyValue>>(d.Elements.Count);
                foreach (var (k, v) in d.Elements)
                {
                    var ek = (ScalarValue)Escape(k);
                    var ev = Escape(v);
                    changed |= !ReferenceEquals(ek, k) || !ReferenceEquals(ev, v);
                    pairs.Add(new(ek, ev));
                }
                return changed ? new DictionaryValue(pairs) : value;
            }
            default:
                return value;
        }
    }

    private static LogEventPropertyValue? Rebuild(IReadOnlyList<LogEventPropertyValue> elements, Func<LogEventPropertyValue[], LogEventPropertyValue> make)
    {
        LogEventPropertyValue[]? copy = null;
        for (var i = 0; i < elements.Count; i++)
        {
            var e = Escape(elements[i]);
            if (copy is null && ReferenceEquals(e, elements[i]))
            {
                continue;
            }
            copy ??= [.. elements];
            copy[i] = e;
        }
        return copy is null ? null : make(copy);
    }

    /// <summary><paramref name="s"/> with control characters escaped; the same instance when there were none.</summary>
    public static string Escape(string s)
    {
        s = RedactTokens(s);
        var i = 0;
        while (i < s.Length && !NeedsEscape(s[i]))
        {
            i++;
        }
        if (i == s.Length)
        {
            return s;
        }
        var b = new StringBuilder(s.Length + 16).Append(s, 0, i);
        for (; i < s.Length; i++)
        {
            var c = s[i];
            if (!NeedsEscape(c))
            {
                b.Append(c);
                continue;
            }
            _ = c switch
            {
                '\n' => b.Append("\\n"),
                '\r' => b.Append("\\r"),
                '\t' => b.Append("\\t"),
                < '\u0100' => b.Append("\\x").Append(((int)c).ToString("X2", System.Globalization.CultureInfo.InvariantCulture)),
                _ => b.Append("\\u").Append(((int)c).ToString("X4", System.Globalization.CultureInfo.InvariantCulture)),
            };
        }
        return b.ToString();
    }

    /// <summary><paramref name="s"/> with the value of every <c>token=</c> query parameter replaced by <c>***</c>; the same instance when it has none.</summary>
    public static string RedactTokens(string s)
    {
        var at = s.IndexOf("token=", StringComparison.OrdinalIgnoreCase);
        if (at < 0)
        {
            return s;
        }
        var b = new StringBuilder(s.Length);
        var from = 0;
        while (at >= 0)
        {
            var valueStart = at + "token=".Length;
            var end = valueStart;
            while (end < s.Length && s[end] is not ('&' or '#' or ' ' or '"' or '\'' or '<' or '>') && !char.IsWhiteSpace(s[end]))
            {
                end++;
            }
            b.Append(s, from, valueStart - from);
            if (end > valueStart)
            {
                b.Append("***");
            }
            from = end;
            at = end < s.Length ? s.IndexOf("token=", end, StringComparison.OrdinalIgnoreCase) : -1;
        }
        return b.Append(s, from, s.Length - from).ToString();
    }

    private static bool NeedsEscape(char c) => c < ' ' || c is '\u007F' or '\u0085' or '\u2028' or '\u2029';

    /// <summary>Type and escaped message of the exception and its inner ones, then the (trusted) stack traces.</summary>
    private static string Render(Exception e)
    {
        var b = new StringBuilder();
        for (var x = e; x is not null; x = x.InnerException)
        {
            if (!ReferenceEquals(x, e))
            {
                b.Append(" ---> ");
            }
            b.Append(x.GetType().FullName).Append(": ").Append(Escape(x.Message));
        }
        for (var x = e; x is not null; x = x.InnerException)
        {
            if (x.StackTrace is { } st)
            {
                b.Append(Environment.NewLine).Append(st);
            }
        }
        return b.ToString();
    }
}
