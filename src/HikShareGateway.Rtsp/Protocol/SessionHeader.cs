using System.Globalization;

namespace HikShareGateway.Rtsp.Protocol;

/// <summary>
/// The RTSP <c>Session</c> header (RFC 2326 §12.37): <c>session-id [ ";" "timeout" "=" delta-seconds ]</c>.
/// Lenient as cameras need: spaces around parts, other parameters ignored, a quoted timeout accepted.
/// </summary>
public readonly record struct SessionHeader(string Id, int? TimeoutSeconds)
{
    public static SessionHeader Parse(string header)
    {
        var semi = header.IndexOf(';');
        var id = (semi < 0 ? header : header[..semi]).Trim();
        int? timeout = null;
        if (semi >= 0)
        {
            foreach (var part in header[(semi + 1)..].Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                var eq = part.IndexOf('=');
                if (eq > 0 && part.AsSpan(0, eq).Trim().Equals("timeout", StringComparison.OrdinalIgnoreCase)
                    && int.TryParse(part.AsSpan(eq + 1).Trim().Trim('"'), NumberStyles.None, CultureInfo.InvariantCulture, out var seconds))
                {
                    timeout = seconds;
                }
            }
        }
        return new SessionHeader(id, timeout);
    }

    /// <summary>Just the session id of a <c>Session</c> header.</summary>
    public static string IdOf(string header) => Parse(header).Id;
}
