namespace HikShareGateway.Media;

/// <summary>
/// An output of a live stream (RTSP viewer today; WebRTC, fMP4, snapshot decoders next): a small class implementing
/// this interface, usually over a <see cref="SubscriberQueuePolicy"/>. The stream calls it on the source's read loop
/// and must never wait on it: <see cref="Enqueue"/> takes a reference or drops, it never blocks.
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

    /// <summary>The end of a batch: wake the writer if something was queued since the last flush. May run on any thread.</summary>
    void Flush();
}
