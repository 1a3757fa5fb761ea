namespace HikShareGateway.Media;

/// <summary>
/// An output of a live stream (RTSP, WebRTC and fMP4 viewers, snapshot collectors, transcoders): a small class
/// implementing this interface, usually over a <see cref="SubscriberQueuePolicy"/>. The stream calls its
/// <see cref="Enqueue(RtpBuffer, long)"/> and <see cref="WaitForKeyframe"/> on the source's read loop under the stream's
/// lock (so never two at once, in order, and none after <c>Unsubscribe</c> returned) and must never wait on it: it
/// takes a reference or drops, it never blocks. <see cref="Flush"/> may come from any thread.
/// </summary>
public interface IMediaSubscriber
{
    /// <summary>Before the first packet: with video, deliver nothing until a keyframe start (the stream replays its cached GOP, which begins with one).</summary>
    void WaitForKeyframe(bool hasVideo);

    /// <summary>
    /// A packet, shared with every other subscriber: <see cref="RtpBuffer.AddRef"/> to keep it, never write to it.
    /// <paramref name="now"/> is the <see cref="TimeProvider"/> timestamp the stream uses for queue ages.
    /// </summary>
    void Enqueue(RtpBuffer buffer, long now);

    /// <summary>
    /// A batch of packets in arrival order (one frame, or one read's audio and RTCP): the same as
    /// <see cref="Enqueue(RtpBuffer, long)"/> of each with its <see cref="RtpBuffer.ReceivedAt"/>, in one call, so
    /// that an output can take its lock once per batch instead of once per packet.
    /// </summary>
    void Enqueue(ReadOnlySpan<RtpBuffer> packets)
    {
        foreach (var p in packets)
        {
            Enqueue(p, p.ReceivedAt);
        }
    }

    /// <summary>The end of a batch: wake the writer if something was queued since the last flush. May run on any thread.</summary>
    void Flush();
}
