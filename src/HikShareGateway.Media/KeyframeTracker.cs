namespace HikShareGateway.Media;

/// <summary>
/// Finds where a joining subscriber may start in one video track: the first packet of a keyframe prelude (parameter
/// sets, or the keyframe slice itself when the camera sends none in band). Packets of the same prelude (SPS, PPS, then
/// the IDR's fragments) do not start another one; the next non-keyframe slice ends it. One per video track, fed in
/// arrival order on the source's read loop (not thread-safe).
/// </summary>
public sealed class KeyframeTracker(VideoCodec codec)
{
    private bool _inPrelude;

    public VideoCodec Codec => codec;

    /// <summary>
    /// Classifies an RTP packet of the video track and, when it starts a keyframe, sets
    /// <see cref="RtpBuffer.IsKeyframeStart"/> (the buffer must still have a single owner). Returns that flag.
    /// </summary>
    public bool Mark(RtpBuffer buffer)
    {
        var packet = buffer.PacketSpan;
        var offset = RtpPacket.TryParse(packet, out var p) ? p.PayloadOffset : buffer.Length;
        var mark = KeyframeDetector.Classify(codec, packet[Math.Min(buffer.Length, offset)..]);
        var starts = false;
        if (mark is KeyframeMark.ParameterSets or KeyframeMark.KeyframeSlice)
        {
            starts = !_inPrelude;
            _inPrelude = true;
        }
        else if (mark == KeyframeMark.OtherSlice)
        {
            _inPrelude = false;
        }
        if (starts)
        {
            buffer.IsKeyframeStart = true;
        }
        return starts;
    }

    /// <summary>A new source session: whatever came before does not continue a prelude.</summary>
    public void Reset() => _inPrelude = false;
}
