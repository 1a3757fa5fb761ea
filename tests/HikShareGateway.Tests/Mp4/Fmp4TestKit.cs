using System.Buffers.Binary;
using System.Text;
using HikShareGateway.Media;

namespace HikShareGateway.Tests.Mp4;

/// <summary>The demo clip as a source would hand it to the media core: RTP H.264 (RFC 6184 single NAL and FU-A) in pooled buffers.</summary>
internal static class Fmp4TestKit
{
    public static string DemoClip => Path.Combine(AppContext.BaseDirectory, "assets", "demo-640x360-25fps.h264");

    public static MediaDescription H264Only { get; } = new([new MediaTrack { Type = "video", EncodingName = "H264", ClockRate = 90000, PayloadType = 96, Formats = ["96"] }]);

    /// <summary>The clip's access units, each a list of NAL units (without start codes); a unit ends at its picture's slice.</summary>
    public static List<List<byte[]>> AccessUnits(int count)
    {
        var data = File.ReadAllBytes(DemoClip);
        var nals = new List<byte[]>();
        var starts = new List<(int At, int CodeLength)>();
        for (var i = 0; i + 3 <= data.Length; i++)
        {
            if (data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1)
            {
                var code = i > 0 && data[i - 1] == 0 ? 4 : 3;
                starts.Add((i + 3, code));
                i += 2;
            }
        }
        for (var k = 0; k < starts.Count; k++)
        {
            var end = k + 1 < starts.Count ? starts[k + 1].At - starts[k + 1].CodeLength : data.Length;
            nals.Add(data[starts[k].At..end]);
        }
        var units = new List<List<byte[]>>();
        var current = new List<byte[]>();
        foreach (var nal in nals)
        {
            current.Add(nal);
            if ((nal[0] & 0x1F) is 1 or 5)
            {
                units.Add(current);
                current = [];
                if (units.Count == count)
                {
                    break;
                }
            }
        }
        return units;
    }

    public static bool IsKeyframe(List<byte[]> unit) => unit.Exists(n => (n[0] & 0x1F) == 5);

    /// <summary>RTP packets of one access unit (timestamp 3600 per frame, 25 fps), the first flagged a keyframe start when it is one.</summary>
    public static List<RtpBuffer> Packetize(RtpBufferPool pool, List<byte[]> unit, int frame, ref ushort sequence, long receivedAt, int track = 0)
    {
        var packets = new List<RtpBuffer>();
        var timestamp = (uint)(frame * 3600);
        for (var n = 0; n < unit.Count; n++)
        {
            var nal = unit[n];
            var last = n == unit.Count - 1;
            if (nal.Length <= 1200)
            {
                packets.Add(Rtp(pool, sequence++, timestamp, last, nal, receivedAt, track));
                continue;
            }
            var header = nal[0];
            for (var at = 1; at < nal.Length; at += 1200)
            {
                var size = Math.Min(1200, nal.Length - at);
                var payload = new byte[2 + size];
                payload[0] = (byte)((header & 0xE0) | 28);
                payload[1] = (byte)((header & 0x1F) | (at == 1 ? 0x80 : 0) | (at + size == nal.Length ? 0x40 : 0));
                Array.Copy(nal, at, payload, 2, size);
                packets.Add(Rtp(pool, sequence++, timestamp, last && at + size == nal.Length, payload, receivedAt, track));
            }
        }
        if (IsKeyframe(unit))
        {
            packets[0].IsKeyframeStart = true;
        }
        return packets;
    }

    private static RtpBuffer Rtp(RtpBufferPool pool, ushort sequence, uint timestamp, bool marker, byte[] payload, long receivedAt, int track)
    {
        var b = pool.Rent();
        var span = b.Prepare(12 + payload.Length);
        span[..12].Clear();
        span[0] = 0x80;
        span[1] = (byte)(96 | (marker ? 0x80 : 0));
        BinaryPrimitives.WriteUInt16BigEndian(span[2..], sequence);
        BinaryPrimitives.WriteUInt32BigEndian(span[4..], timestamp);
        BinaryPrimitives.WriteUInt32BigEndian(span[8..], 0x1234);
        payload.CopyTo(span[12..]);
        b.Commit(12 + payload.Length, track, rtcp: false, receivedAt);
        return b;
    }

    /// <summary>The types of the top-level ISO BMFF boxes in <paramref name="mp4"/>, in order; a cut-off last box is left out.</summary>
    public static List<string> TopLevelBoxes(ReadOnlySpan<byte> mp4)
    {
        var boxes = new List<string>();
        var at = 0;
        while (at + 8 <= mp4.Length)
        {
            var size = (int)BinaryPrimitives.ReadUInt32BigEndian(mp4[at..]);
            if (size < 8 || at + size > mp4.Length)
            {
                break;
            }
            boxes.Add(Encoding.ASCII.GetString(mp4.Slice(at + 4, 4)));
            at += size;
        }
        return boxes;
    }
}

/// <summary>A response body stand-in: keeps what was written; <see cref="Block"/> makes writes wait (a reader that never reads).</summary>
internal sealed class CapturingStream : Stream
{
    private readonly MemoryStream _data = new();
    private readonly TaskCompletionSource _writeStarted = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public bool Block { get; set; }
    public Task WriteStarted => _writeStarted.Task;
    public int Writes { get; private set; }

    public byte[] Written
    {
        get { lock (_data) { return _data.ToArray(); } }
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        _writeStarted.TrySetResult();
        if (Block)
        {
            await Task.Delay(Timeout.Infinite, cancellationToken);
        }
        lock (_data)
        {
            _data.Write(buffer.Span);
            Writes++;
        }
    }

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();
}
