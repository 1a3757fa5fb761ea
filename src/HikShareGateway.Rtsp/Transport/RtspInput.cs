using System.Buffers;
using System.IO.Pipelines;
using HikShareGateway.Rtsp.Protocol;

namespace HikShareGateway.Rtsp.Transport;

/// <summary>One pass of <see cref="RtspInput.Consume"/>: what the parser reported and whether the peer closed its side.
/// <c>Pending</c>: the bytes left unconsumed after the pass (the start of an incomplete request or frame).</summary>
public readonly record struct RtspPass(RtspReadStatus Status, string? Error, bool Completed, long Pending = 0);

/// <summary>
/// The transport half of reading RTSP: joins a connection's <see cref="PipeReader"/> to the pure
/// <see cref="RtspFrameReader"/>. Callers keep their own <c>await input.ReadAsync</c> (so the loop costs no
/// allocation per read) and hand each result here, which parses it through the handler and advances the pipe:
/// consumed up to the last complete item; examined to the end only when the rest is incomplete, so a message left
/// unread by a handler that stopped is returned by the next read at once.
/// </summary>
public static class RtspInput
{
    public static RtspPass Consume<THandler>(PipeReader input, in ReadResult result, THandler handler, RtspLimits? limits = null)
        where THandler : IRtspFrameHandler
    {
        var buffer = result.Buffer;
        var reader = new SequenceReader<byte>(buffer);
        var status = RtspFrameReader.ReadFrames(ref reader, limits ?? RtspLimits.Default, handler, out var error);
        if (status == RtspReadStatus.Message)
        {
            input.AdvanceTo(reader.Position);
        }
        else
        {
            input.AdvanceTo(reader.Position, buffer.End);
        }
        return new RtspPass(status, error, result.IsCompleted && status != RtspReadStatus.Message, buffer.Slice(reader.Position).Length);
    }
}
