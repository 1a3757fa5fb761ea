using System.Text;

namespace HikShareGateway.Core.Protocols;

/// <summary>
/// The parameters of an HTTP/RTSP authentication header (RFC 2617 §1.2, RFC 7235 §2.1): comma-separated
/// <c>name=value</c> or <c>name="quoted, value"</c> pairs, backslash escapes inside quotes. Shared by the ONVIF/ISAPI
/// HTTP Digest client and the RTSP client and demo recorder.
/// </summary>
public static class AuthParameters
{
    public static Dictionary<string, string> Parse(string s)
    {
        var result = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var i = 0;
        while (i < s.Length)
        {
            while (i < s.Length && (s[i] == ' ' || s[i] == ',' || s[i] == '\t'))
            {
                i++;
            }
            var eq = s.IndexOf('=', i);
            if (eq < 0)
            {
                break;
            }
            var name = s[i..eq].Trim();
            i = eq + 1;
            // Some cameras put spaces around '=' (qop = "auth").
            while (i < s.Length && s[i] == ' ')
            {
                i++;
            }
            string value;
            if (i < s.Length && s[i] == '"')
            {
                var sb = new StringBuilder();
                i++;
                while (i < s.Length && s[i] != '"')
                {
                    if (s[i] == '\\' && i + 1 < s.Length)
                    {
                        i++;
                    }
                    sb.Append(s[i++]);
                }
                i++;
                value = sb.ToString();
            }
            else
            {
                var end = s.IndexOf(',', i);
                if (end < 0)
                {
                    end = s.Length;
                }
                value = s[i..end].Trim();
                i = end;
            }
            result[name] = value;
        }
        return result;
    }
}
