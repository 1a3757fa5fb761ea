using System.Buffers.Binary;

namespace HikShareGateway.Ffmpeg.Snapshots;

public enum JpegHeaderStatus
{
    /// <summary>The frame header was found: width and height are set.</summary>
    Ok,
    /// <summary>The input ends before the frame header: more bytes may make it a JPEG.</summary>
    NeedMore,
    /// <summary>Not a JPEG the decoder takes (no SOI, a broken marker, scan before frame, zero size).</summary>
    Invalid,
}

/// <summary>
/// The size of a JPEG from its frame header, without decoding (ITU-T T.81 §B.2): SOI, then marker segments up to the
/// first SOFn. Pure, no allocation; incomplete input is <see cref="JpegHeaderStatus.NeedMore"/>, never a wrong size.
/// Used on the device's picture before anything keeps it, so a body that merely starts like a JPEG is refused.
/// </summary>
public static class JpegHeader
{
    public static JpegHeaderStatus TryRead(ReadOnlySpan<byte> data, out int width, out int height)
    {
        width = 0;
        height = 0;
        if (data.Length < 2)
        {
            return data.Length == 0 || data[0] == 0xFF ? JpegHeaderStatus.NeedMore : JpegHeaderStatus.Invalid;
        }
        if (data[0] != 0xFF || data[1] != 0xD8)
        {
            return JpegHeaderStatus.Invalid;
        }
        var at = 2;
        while (true)
        {
            if (at >= data.Length)
            {
                return JpegHeaderStatus.NeedMore;
            }
            if (data[at] != 0xFF)
            {
                return JpegHeaderStatus.Invalid; // T.81 §B.1.1.2: a marker segment starts with FF
            }
            // §B.1.1.2: any number of FF fill bytes may precede a marker.
            while (at < data.Length && data[at] == 0xFF)
            {
                at++;
            }
            if (at >= data.Length)
            {
                return JpegHeaderStatus.NeedMore;
            }
            var marker = data[at++];
            if (marker is 0x01 or (>= 0xD0 and <= 0xD7))
            {
                continue; // TEM, RST0-7: no length
            }
            if (marker is 0xD8 or 0xD9 or 0xDA or 0x00)
            {
                return JpegHeaderStatus.Invalid; // a second SOI, EOI or a scan before any frame header; 00 is no marker
            }
            if (at + 2 > data.Length)
            {
                return JpegHeaderStatus.NeedMore;
            }
            int length = BinaryPrimitives.ReadUInt16BigEndian(data[at..]);
            if (length < 2)
            {
                return JpegHeaderStatus.Invalid;
            }
            if (marker is >= 0xC0 and <= 0xCF && marker is not (0xC4 or 0xC8 or 0xCC))
            {
                // SOFn: Lf(2) P(1) Y(2) X(2) Nf(1) …
                if (length < 8)
                {
                    return JpegHeaderStatus.Invalid;
                }
                if (at + 7 > data.Length)
                {
                    return JpegHeaderStatus.NeedMore;
                }
                int y = BinaryPrimitives.ReadUInt16BigEndian(data[(at + 3)..]);
                int x = BinaryPrimitives.ReadUInt16BigEndian(data[(at + 5)..]);
                if (x == 0 || y == 0)
                {
                    return JpegHeaderStatus.Invalid; // Y = 0 defers the height to a DNL marker: not from a camera, not taken
                }
                width = x;
                height = y;
                return JpegHeaderStatus.Ok;
            }
            at += length;
        }
    }
}
