namespace HikShareGateway.WebRtc.Viewing;

/// <summary>
/// The RTP timestamps a WebRTC playback viewer gets, from the output's (already continuous across seeks): the browser
/// plays frames out by their timestamps against its own clock, so these must advance at the wall clock's rate whatever
/// the speed — at scale 2 with a recorder that stamps content time, a frame's timestamp says it is due twice as late as
/// it arrives and the jitter buffer holds it. <see cref="Restart"/> gives the rate the incoming timestamps run at
/// (<see cref="Media.PlaybackPace.TimestampRate"/>); from the next video packet the timeline continues from the last one
/// sent, divided by that rate. Audio keeps its distance to video only at rate 1 (G.711 at another speed is not sent).
/// <para>One instance per viewer, used on the output's drainer only (no locks); no allocation.</para>
/// </summary>
public struct PlaybackTimestamps
{
    /// <summary>Re-anchor well before a divided difference could leave the range of an int (about 50 min at 90 kHz).</summary>
    private const int MaxAnchoredSpan = 1 << 28;
    /// <summary>The gap put after the last frame sent when the output's own gap cannot be read (one frame at 25 fps).</summary>
    private const uint DefaultGap = 3600;

    private double _rate;
    private bool _anchored, _any;
    private uint _inAnchor, _outAnchor, _lastIn, _lastOut;
    private uint _shift;       // _outAnchor - _inAnchor at the current anchor
    private long _audioShift;  // audio clock ticks added to the output's audio timestamps

    public PlaybackTimestamps()
    {
        _rate = 1;
    }

    /// <summary>The incoming timestamps run at <paramref name="rate"/> × the wall clock from the next video packet on.</summary>
    public void Restart(double rate)
    {
        _rate = double.IsFinite(rate) ? Math.Clamp(rate, 1.0 / 64, 64) : 1;
        _anchored = false;
    }

    /// <summary>The rate set by the last <see cref="Restart"/>.</summary>
    public readonly double Rate => _rate;

    /// <summary>The browser's timestamp of a video packet.</summary>
    public uint MapVideo(uint timestamp, int audioClockRate, int videoClockRate)
    {
        if (!_anchored)
        {
            Anchor(timestamp, FirstOut(timestamp), audioClockRate, videoClockRate);
        }
        var delta = unchecked((int)(timestamp - _inAnchor));
        var mapped = unchecked(_outAnchor + (uint)(int)Math.Round(delta / _rate));
        if (delta > MaxAnchoredSpan)
        {
            Anchor(timestamp, mapped, audioClockRate, videoClockRate);
        }
        _lastIn = timestamp;
        _lastOut = mapped;
        _any = true;
        return mapped;
    }

    /// <summary>The browser's timestamp of an audio packet, or false when audio is not sent (another speed, or no video yet).</summary>
    public readonly bool TryMapAudio(uint timestamp, out uint mapped)
    {
        mapped = unchecked(timestamp + (uint)_audioShift);
        return _anchored && _rate == 1;
    }

    private readonly uint FirstOut(uint timestamp)
    {
        if (!_any) return timestamp;
        // The output moved a new segment one frame after the last it sent: keep that gap, unscaled.
        var gap = unchecked((int)(timestamp - _lastIn));
        return unchecked(_lastOut + (gap is > 0 and <= 90000 ? (uint)gap : DefaultGap));
    }

    private void Anchor(uint inTimestamp, uint outTimestamp, int audioClockRate, int videoClockRate)
    {
        var shift = unchecked(outTimestamp - inTimestamp);
        // RFC 3550 §5.1: audio and video shift by the same time, each in its own clock.
        var moved = unchecked((int)(shift - _shift));
        _audioShift += (long)moved * audioClockRate / (videoClockRate > 0 ? videoClockRate : 90000);
        _shift = shift;
        _inAnchor = inTimestamp;
        _outAnchor = outTimestamp;
        _anchored = true;
    }
}
