using System.Globalization;
using System.Text;

namespace HikShareGateway.Rtsp.Protocol;

/// <summary>RTSP header fields in arrival order, looked up case-insensitively (RFC 2326 §4.2).</summary>
public sealed class RtspHeaders
{
    private readonly List<KeyValuePair<string, string>> _fields = new(8);

    public int Count => _fields.Count;

    public IReadOnlyList<KeyValuePair<string, string>> Fields => _fields;

    public void Add(string name, string value) => _fields.Add(new(name, value));

    /// <summary>Replaces every field of that name with one.</summary>
    public void Set(string name, string value)
    {
        _fields.RemoveAll(f => string.Equals(f.Key, name, StringComparison.OrdinalIgnoreCase));
        _fields.Add(new(name, value));
    }

    public string? Get(string name)
    {
        foreach (var f in _fields)
        {
            if (string.Equals(f.Key, name, StringComparison.OrdinalIgnoreCase))
            {
                return f.Value;
            }
        }
        return null;
    }

    public IEnumerable<string> GetAll(string name)
    {
        foreach (var f in _fields)
        {
            if (string.Equals(f.Key, name, StringComparison.OrdinalIgnoreCase))
            {
                yield return f.Value;
            }
        }
    }
}

/// <summary>
/// One RTSP request or response. Control messages are rare (a handful per session), so they are plain
/// objects with strings; the packet path never builds one.
/// </summary>
public sealed class RtspMessage
{
    public bool IsRequest { get; private init; }
    /// <summary>Request method (upper case as sent), or null for a response.</summary>
    public string? Method { get; private init; }
    /// <summary>Request URI as sent.</summary>
    public string? Uri { get; private init; }
    public int StatusCode { get; private init; }
    public string? Reason { get; private init; }
    public RtspHeaders Headers { get; } = new();
    public byte[] Body { get; set; } = [];

    public static RtspMessage Request(string method, string uri) => new() { IsRequest = true, Method = method, Uri = uri };

    public static RtspMessage Response(int status, string? reason = null) => new() { StatusCode = status, Reason = reason ?? RtspStatus.ReasonPhrase(status) };

    /// <summary>CSeq, or -1 when missing or not a number (some cameras put a trailing space after it).</summary>
    public int CSeq => int.TryParse(Headers.Get("CSeq")?.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var c) ? c : -1;

    public string BodyText => Encoding.UTF8.GetString(Body);

    /// <summary>Serialises start line, headers (adding Content-Length when there is a body) and body.</summary>
    public byte[] ToBytes()
    {
        var sb = new StringBuilder(256);
        if (IsRequest)
        {
            sb.Append(Method).Append(' ').Append(Uri).Append(" RTSP/1.0\r\n");
        }
        else
        {
            sb.Append("RTSP/1.0 ").Append(StatusCode.ToString(CultureInfo.InvariantCulture)).Append(' ').Append(Reason).Append("\r\n");
        }
        foreach (var (name, value) in Headers.Fields)
        {
            if (Body.Length > 0 && string.Equals(name, "Content-Length", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }
            sb.Append(name).Append(": ").Append(value).Append("\r\n");
        }
        if (Body.Length > 0)
        {
            sb.Append("Content-Length: ").Append(Body.Length.ToString(CultureInfo.InvariantCulture)).Append("\r\n");
        }
        sb.Append("\r\n");
        var head = Encoding.UTF8.GetByteCount(sb.ToString());
        var bytes = new byte[head + Body.Length];
        Encoding.UTF8.GetBytes(sb.ToString(), bytes);
        Body.CopyTo(bytes.AsSpan(head));
        return bytes;
    }

    /// <summary>For logs: the start line only (URIs may carry a token in the query, so it is cut).</summary>
    public override string ToString() => IsRequest ? $"{Method} {RtspUri.WithoutQuery(Uri ?? "")}" : $"{StatusCode} {Reason}";
}

public static class RtspStatus
{
    public static string ReasonPhrase(int status) => status switch
    {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Large",
        453 => "Not Enough Bandwidth",
        454 => "Session Not Found",
        455 => "Method Not Valid in This State",
        457 => "Invalid Range",
        459 => "Aggregate Operation Not Allowed",
        461 => "Unsupported Transport",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Time-out",
        505 => "RTSP Version Not Supported",
        551 => "Option not supported",
        _ => "Status " + status.ToString(CultureInfo.InvariantCulture),
    };
}

public static class RtspUri
{
    /// <summary>The URI without its query (tokens travel there), for logs and errors.</summary>
    public static string WithoutQuery(string uri)
    {
        var q = uri.IndexOf('?');
        return q < 0 ? uri : uri[..q] + "?…";
    }
}
