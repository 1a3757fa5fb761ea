using System.Buffers;
using System.Globalization;

namespace HikShareGateway.Rtsp.Protocol;

/// <summary>The requests a playing viewer sends to keep its session (RFC 2326 §10.1, §10.8, §10.9, §12.37).</summary>
public enum RtspKeepAliveMethod : byte { Options, GetParameter, SetParameter }

/// <summary>
/// A keep-alive request read straight from the input bytes: what the answer needs (the method and CSeq) and nothing
/// else, so a playing viewer's requests build no <see cref="RtspMessage"/>, strings or body (ffmpeg 5.1 sends
/// <c>GET_PARAMETER</c> with its Session header at half the session timeout, VLC and GStreamer <c>OPTIONS</c> or
/// <c>GET_PARAMETER</c>). <see cref="TryRead"/> takes only what <see cref="RtspParser.TryRead"/> would read as the same
/// request, and only when its header block lies in the reader's current segment (a request arrives in one write); for
/// anything else it consumes nothing and the full parser decides, with its errors and limits.
/// </summary>
/// <param name="CSeq">As <see cref="RtspMessage.CSeq"/>: -1 when missing or not a number.</param>
public readonly record struct RtspKeepAlive(RtspKeepAliveMethod Method, int CSeq)
{
    /// <summary>
    /// True when the next message is a complete keep-alive request that <see cref="RtspParser.TryRead"/> would accept:
    /// it is consumed (with a body, if it has one). False: nothing consumed, the full parser is asked.
    /// </summary>
    public static bool TryRead(ref SequenceReader<byte> reader, RtspLimits limits, out RtspKeepAlive request)
    {
        request = default;
        var span = reader.UnreadSpan;
        // RtspParser skips stray line ends between messages the same way.
        var start = 0;
        while (start < span.Length && span[start] is (byte)'\r' or (byte)'\n')
        {
            start++;
        }
        var head = span[start..];
        if (!TryMethod(head, out var method, out var methodLength))
        {
            return false;
        }
        var pos = 0;
        if (!TryLine(head, ref pos, out var line) || !IsStartLine(line, methodLength))
        {
            return false;
        }
        ReadOnlySpan<byte> cseq = default, contentLength = default;
        bool hasCSeq = false, hasContentLength = false;
        var fields = 0;
        while (true)
        {
            if (!TryLine(head, ref pos, out line) || pos > limits.MaxHeaderBytes)
            {
                return false; // incomplete in this segment, or over the limit: the full parser answers
            }
            if (line.IsEmpty)
            {
                break;
            }
            if (fields >= limits.MaxHeaderCount)
            {
                return false;
            }
            var colon = line.IndexOf((byte)':');
            if (colon <= 0)
            {
                continue; // skipped, as RtspParser does
            }
            fields++;
            var name = line[..colon].Trim((byte)' ');
            if (!hasCSeq && System.Text.Ascii.EqualsIgnoreCase(name, "CSeq"u8))
            {
                hasCSeq = true;
                cseq = line[(colon + 1)..].Trim(" \t"u8);
            }
            else if (!hasContentLength && System.Text.Ascii.EqualsIgnoreCase(name, "Content-Length"u8))
            {
                hasContentLength = true;
                contentLength = line[(colon + 1)..].Trim(" \t"u8);
            }
        }
        var number = -1;
        if (hasCSeq && !cseq.IsEmpty && !TryNumber(cseq, out number))
        {
            return false; // not plain digits: RtspMessage.CSeq trims more than this does; let it decide
        }
        var body = 0;
        if (hasContentLength && (!TryNumber(contentLength, out body) || body > limits.MaxBodyBytes))
        {
            return false; // the full parser refuses it
        }
        if (reader.Remaining < start + pos + body)
        {
            return false; // the body has not all arrived
        }
        reader.Advance(start + pos + body);
        request = new RtspKeepAlive(method, number);
        return true;
    }

    private static bool TryMethod(ReadOnlySpan<byte> head, out RtspKeepAliveMethod method, out int length)
    {
        if (head.StartsWith("GET_PARAMETER "u8))
        {
            (method, length) = (RtspKeepAliveMethod.GetParameter, 13);
            return true;
        }
        if (head.StartsWith("OPTIONS "u8))
        {
            (method, length) = (RtspKeepAliveMethod.Options, 7);
            return true;
        }
        if (head.StartsWith("SET_PARAMETER "u8))
        {
            (method, length) = (RtspKeepAliveMethod.SetParameter, 13);
            return true;
        }
        (method, length) = (default, 0);
        return false;
    }

    /// <summary>As RtspParser's request line: the method, a last space after it, and exactly RTSP/1.0 after that.</summary>
    private static bool IsStartLine(ReadOnlySpan<byte> line, int methodLength)
    {
        var last = line.LastIndexOf((byte)' ');
        return last > methodLength && line[(last + 1)..].SequenceEqual("RTSP/1.0"u8);
    }

    /// <summary>One line of <paramref name="head"/> from <paramref name="pos"/>, without its LF and one CR before it.</summary>
    private static bool TryLine(ReadOnlySpan<byte> head, scoped ref int pos, out ReadOnlySpan<byte> line)
    {
        var lf = head[pos..].IndexOf((byte)'\n');
        if (lf < 0)
        {
            line = default;
            return false;
        }
        line = head.Slice(pos, lf);
        pos += lf + 1;
        if (!line.IsEmpty && line[^1] == (byte)'\r')
        {
            line = line[..^1];
        }
        return true;
    }

    /// <summary>ASCII digits only, as <see cref="NumberStyles.None"/> reads them; false for anything else or an overflow.</summary>
    private static bool TryNumber(ReadOnlySpan<byte> digits, out int value)
    {
        value = 0;
        if (digits.IsEmpty || digits.ContainsAnyExceptInRange((byte)'0', (byte)'9'))
        {
            return false;
        }
        return int.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out value);
    }
}
