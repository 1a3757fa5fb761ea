using System.Buffers;
using System.Globalization;
using System.Text;

namespace HikShareGateway.Rtsp.Protocol;

/// <summary>Bounds on what a peer may send in one RTSP message (slowloris and memory abuse).</summary>
public sealed record RtspLimits(int MaxHeaderBytes = 16 * 1024, int MaxHeaderCount = 64, int MaxBodyBytes = 64 * 1024)
{
    public static RtspLimits Default { get; } = new();
}

public enum RtspReadStatus
{
    /// <summary>Not enough bytes yet; nothing was consumed.</summary>
    NeedMore,
    /// <summary>A whole RTSP message was read.</summary>
    Message,
    /// <summary>A whole interleaved frame (RFC 2326 §10.12) is available; its header was consumed, the payload follows.</summary>
    Interleaved,
    /// <summary>The input is not RTSP (or exceeds a limit); the connection should answer 400 and close.</summary>
    Error,
}

/// <summary>The 4-byte header of an interleaved frame: <c>$</c>, channel, 16-bit length.</summary>
public readonly record struct InterleavedHeader(byte Channel, int Length);

/// <summary>
/// Pure parser of an RTSP byte stream: RTSP requests/responses and interleaved binary frames, which
/// may arrive in any order on one connection (RFC 2326 §10.12: frames between responses, requests
/// in the middle of the stream). Returns <see cref="RtspReadStatus.NeedMore"/> without consuming
/// anything when the input is incomplete. Lenient with real devices: bare LF line ends, stray
/// CR/LF between messages, a trailing space after CSeq, header names in any case.
/// </summary>
public static class RtspParser
{
    public static RtspReadStatus TryRead(ref SequenceReader<byte> reader, RtspLimits limits, out RtspMessage? message, out InterleavedHeader frame, out string? error)
    {
        message = null;
        frame = default;
        error = null;
        var r = reader;
        // Stray line ends between messages (some cameras send an extra CRLF after a body).
        while (r.TryPeek(out var b) && (b == (byte)'\r' || b == (byte)'\n'))
        {
            r.Advance(1);
        }
        if (!r.TryPeek(out var first))
        {
            reader = r; // only stray line ends: consume them
            return RtspReadStatus.NeedMore;
        }
        if (first == (byte)'$')
        {
            if (r.Remaining < 4)
            {
                return RtspReadStatus.NeedMore;
            }
            Span<byte> h = stackalloc byte[4];
            r.TryCopyTo(h);
            var length = (h[2] << 8) | h[3];
            if (r.Remaining < 4 + length)
            {
                return RtspReadStatus.NeedMore;
            }
            r.Advance(4);
            frame = new InterleavedHeader(h[1], length);
            reader = r;
            return RtspReadStatus.Interleaved;
        }
        if (first is < (byte)'A' or > (byte)'Z' and < (byte)'a' or > (byte)'z')
        {
            error = "the stream is neither an RTSP message nor an interleaved frame";
            return RtspReadStatus.Error;
        }

        var headerStart = r.Consumed;
        if (!TryReadLine(ref r, out var startLine))
        {
            return TooLongOrNeedMore(r.Remaining, limits, out error);
        }
        var m = ParseStartLine(startLine, out error);
        if (m is null)
        {
            return RtspReadStatus.Error;
        }
        while (true)
        {
            if (!TryReadLine(ref r, out var line))
            {
                return TooLongOrNeedMore(r.Consumed - headerStart + r.Remaining, limits, out error);
            }
            if (r.Consumed - headerStart > limits.MaxHeaderBytes)
            {
                error = $"the header block is larger than {limits.MaxHeaderBytes} bytes";
                return RtspReadStatus.Error;
            }
            if (line.IsEmpty)
            {
                break;
            }
            if (m.Headers.Count >= limits.MaxHeaderCount)
            {
                error = $"more than {limits.MaxHeaderCount} header fields";
                return RtspReadStatus.Error;
            }
            var colon = line.IndexOf((byte)':');
            if (colon <= 0)
            {
                // RFC 2326 §4.2 continuation lines are obsolete; a line without a colon is skipped, as cameras do.
                continue;
            }
            m.Headers.Add(Ascii(line[..colon].Trim((byte)' ')), Ascii(line[(colon + 1)..].Trim(" \t"u8)));
        }

        var cl = m.Headers.Get("Content-Length");
        if (cl is not null)
        {
            if (!int.TryParse(cl.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var length))
            {
                error = "Content-Length is not a number";
                return RtspReadStatus.Error;
            }
            if (length > limits.MaxBodyBytes)
            {
                error = $"the body ({length} bytes) is larger than {limits.MaxBodyBytes} bytes";
                return RtspReadStatus.Error;
            }
            if (r.Remaining < length)
            {
                return RtspReadStatus.NeedMore;
            }
            var body = new byte[length];
            r.TryCopyTo(body);
            r.Advance(length);
            m.Body = body;
        }
        message = m;
        reader = r;
        return RtspReadStatus.Message;
    }

    private static RtspReadStatus TooLongOrNeedMore(long buffered, RtspLimits limits, out string? error)
    {
        if (buffered > limits.MaxHeaderBytes)
        {
            error = $"the header block is larger than {limits.MaxHeaderBytes} bytes";
            return RtspReadStatus.Error;
        }
        error = null;
        return RtspReadStatus.NeedMore;
    }

    /// <summary>One line without its CR/LF; LF alone ends a line too.</summary>
    private static bool TryReadLine(ref SequenceReader<byte> r, out ReadOnlySpan<byte> line)
    {
        if (r.UnreadSpan.IndexOf((byte)'\n') is var i and >= 0)
        {
            // Fast path: the line lies in the current segment.
            line = r.UnreadSpan[..i];
            r.Advance(i + 1);
        }
        else if (r.TryReadTo(out ReadOnlySequence<byte> seq, (byte)'\n'))
        {
            line = seq.ToArray();
        }
        else
        {
            line = default;
            return false;
        }
        if (!line.IsEmpty && line[^1] == (byte)'\r')
        {
            line = line[..^1];
        }
        return true;
    }

    private static RtspMessage? ParseStartLine(ReadOnlySpan<byte> line, out string? error)
    {
        error = null;
        if (line.StartsWith("RTSP/"u8))
        {
            // RTSP/1.0 200 OK
            var sp = line.IndexOf((byte)' ');
            if (sp < 0 || !line[..sp].SequenceEqual("RTSP/1.0"u8) && !line[..sp].SequenceEqual("RTSP/2.0"u8))
            {
                error = "malformed status line";
                return null;
            }
            var rest = line[(sp + 1)..].TrimStart((byte)' ');
            var sp2 = rest.IndexOf((byte)' ');
            var codeText = sp2 < 0 ? rest : rest[..sp2];
            if (codeText.Length != 3 || !int.TryParse(Ascii(codeText), NumberStyles.None, CultureInfo.InvariantCulture, out var code))
            {
                error = "malformed status code";
                return null;
            }
            return RtspMessage.Response(code, sp2 < 0 ? "" : Ascii(rest[(sp2 + 1)..]));
        }
        var s1 = line.IndexOf((byte)' ');
        var s2 = line.LastIndexOf((byte)' ');
        if (s1 <= 0 || s2 <= s1)
        {
            error = "malformed request line";
            return null;
        }
        var version = line[(s2 + 1)..];
        if (!version.StartsWith("RTSP/"u8))
        {
            error = "not an RTSP request (HTTP?)";
            return null;
        }
        if (!version.SequenceEqual("RTSP/1.0"u8))
        {
            error = "RTSP version not supported";
            return null;
        }
        foreach (var c in line[..s1])
        {
            if (c is < (byte)'A' or > (byte)'Z' and not (byte)'_')
            {
                error = "malformed method";
                return null;
            }
        }
        var uri = line[(s1 + 1)..s2].Trim((byte)' ');
        return RtspMessage.Request(Ascii(line[..s1]), Encoding.UTF8.GetString(uri));
    }

    private static string Ascii(ReadOnlySpan<byte> s) => Encoding.Latin1.GetString(s);
}
