using System.Buffers;

namespace HikShareGateway.Rtsp.Protocol;

/// <summary>
/// What <see cref="RtspFrameReader.ReadFrames"/> found, handed over as it is parsed (Kestrel's
/// <c>HttpParser</c> calling an <c>IHttpRequestLineHandler</c> is the model): the read loop exists once and the
/// handler never advances the reader itself.
/// </summary>
public interface IRtspFrameHandler
{
    /// <summary>
    /// An interleaved frame (RFC 2326 §10.12). <paramref name="payload"/> is only valid during the call (it points into
    /// the connection's input buffer); copy what must outlive it. The reader moves past the frame afterwards.
    /// </summary>
    void OnInterleaved(InterleavedHeader frame, ReadOnlySequence<byte> payload);

    /// <summary>A whole RTSP request or response. Return false to stop reading right after it (the rest stays unread).</summary>
    bool OnMessage(RtspMessage message);

    /// <summary>
    /// True when this handler takes keep-alive requests as <see cref="RtspKeepAlive"/> (<see cref="OnKeepAlive"/>), read
    /// without building a message: the viewer connection, whose players send one every half session timeout.
    /// </summary>
    bool TakesKeepAlives => false;

    /// <summary>A keep-alive request (only when <see cref="TakesKeepAlives"/>). Return false to stop reading right after it.</summary>
    bool OnKeepAlive(RtspKeepAlive request) => throw new NotSupportedException("this handler takes no keep-alives");
}

/// <summary>
/// The one loop over an RTSP byte stream, shared by the upstream client and the viewer connection: parses every
/// complete message and interleaved frame with <see cref="RtspParser"/>, hands each to the handler and advances past
/// it. Pure and I/O-free; incomplete input consumes nothing.
/// </summary>
public static class RtspFrameReader
{
    /// <returns>
    /// <see cref="RtspReadStatus.NeedMore"/> when every complete item was handed over (the rest is incomplete),
    /// <see cref="RtspReadStatus.Message"/> when the handler stopped after a message (or a keep-alive), <see cref="RtspReadStatus.Error"/>
    /// (with <paramref name="error"/>) when the input is not RTSP or breaks a limit.
    /// </returns>
    public static RtspReadStatus ReadFrames<THandler>(ref SequenceReader<byte> reader, RtspLimits limits, THandler handler, out string? error)
        where THandler : IRtspFrameHandler
    {
        var keepAlives = handler.TakesKeepAlives;
        while (true)
        {
            if (keepAlives && RtspKeepAlive.TryRead(ref reader, limits, out var keepAlive))
            {
                if (!handler.OnKeepAlive(keepAlive))
                {
                    error = null;
                    return RtspReadStatus.Message;
                }
                continue;
            }
            var status = RtspParser.TryRead(ref reader, limits, out var message, out var frame, out error);
            switch (status)
            {
                case RtspReadStatus.NeedMore or RtspReadStatus.Error:
                    return status;
                case RtspReadStatus.Interleaved:
                    handler.OnInterleaved(frame, reader.UnreadSequence.Slice(0, frame.Length));
                    reader.Advance(frame.Length);
                    break;
                default:
                    if (!handler.OnMessage(message!))
                    {
                        return RtspReadStatus.Message;
                    }
                    break;
            }
        }
    }
}
