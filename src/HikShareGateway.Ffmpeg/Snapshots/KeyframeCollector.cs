using System.Buffers;
using HikShareGateway.Media;
using FfmpegCodec = HikShareGateway.Ffmpeg.Video.VideoCodec;
using MediaCodec = HikShareGateway.Media.VideoCodec;

namespace HikShareGateway.Ffmpeg.Snapshots;

/// <summary>
/// A short-lived output of a live stream that takes one keyframe access unit off it as Annex B: from the first packet
/// the stream marks as a keyframe start (its cached GOP begins with one, so a running stream answers at once) to the
/// last packet of the keyframe picture (RTP marker bit, or the next timestamp). A lost packet inside it starts over at
/// the next keyframe.
/// </summary>
/// <remarks>
/// Called by the stream's delivery, one call at a time: <see cref="Enqueue"/> copies the payload and returns,
/// never waits. The copy is the collector's own (at most <see cref="MaxBytes"/>); nothing of the shared buffer is kept.
/// </remarks>
internal sealed class KeyframeCollector : IMediaSubscriber
{
    public const int MaxBytes = 8 * 1024 * 1024;

    private readonly int _videoTrack;
    private readonly MediaCodec _mediaCodec;
    private readonly RtpNalAssembler _assembler;
    private readonly ArrayBufferWriter<byte> _accessUnit = new(256 * 1024);
    private readonly TaskCompletionSource<byte[]> _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private bool _started;
    private bool _haveKeySlice;
    private uint _keyTimestamp;
    private ushort _nextSequence;

    public KeyframeCollector(int videoTrack, FfmpegCodec codec)
    {
        _videoTrack = videoTrack;
        _mediaCodec = codec == FfmpegCodec.H264 ? MediaCodec.H264 : MediaCodec.H265;
        _assembler = new RtpNalAssembler(codec);
    }

    /// <summary>The keyframe access unit (Annex B), once complete.</summary>
    public Task<byte[]> Completed => _done.Task;

    /// <summary>Times the collector started over (lost packets, malformed payloads).</summary>
    public int Restarts { get; private set; }

    public void WaitForKeyframe(bool hasVideo)
    {
    }

    public void Enqueue(RtpBuffer buffer, long now)
    {
        if (_done.Task.IsCompleted || buffer.Track != _videoTrack || buffer.IsRtcp)
        {
            return;
        }
        Offer(buffer.PacketSpan, buffer.IsKeyframeStart);
    }

    /// <summary>One RTP packet of the video track, in arrival order (the testable core of <see cref="Enqueue"/>).</summary>
    internal void Offer(ReadOnlySpan<byte> packet, bool keyframeStart)
    {
        if (_done.Task.IsCompleted || !RtpPacket.TryParse(packet, out var rtp))
        {
            return;
        }
        if (!_started)
        {
            if (!keyframeStart)
            {
                return;
            }
            _started = true;
        }
        else if (rtp.SequenceNumber != _nextSequence)
        {
            StartOver(keyframeStart, rtp);
            if (!_started)
            {
                return;
            }
        }
        if (_haveKeySlice && rtp.Timestamp != _keyTimestamp)
        {
            // The keyframe picture ended without a marker bit: this packet is the next picture's.
            Complete();
            return;
        }
        var payload = rtp.Payload;
        var mark = KeyframeDetector.Classify(_mediaCodec, payload);
        if (mark == KeyframeMark.KeyframeSlice && !_haveKeySlice)
        {
            _haveKeySlice = true;
            _keyTimestamp = rtp.Timestamp;
        }
        else if (mark == KeyframeMark.OtherSlice && !_haveKeySlice)
        {
            // A prelude without its keyframe: wait for the next one.
            StartOver(keyframeStart: false, rtp);
            return;
        }
        if (!_assembler.Append(payload, _accessUnit) || _accessUnit.WrittenCount > MaxBytes)
        {
            StartOver(keyframeStart: false, rtp);
            return;
        }
        _nextSequence = (ushort)(rtp.SequenceNumber + 1);
        if (_haveKeySlice && rtp.Marker)
        {
            Complete();
        }
    }

    private void StartOver(bool keyframeStart, RtpPacket rtp)
    {
        Restarts++;
        _accessUnit.Clear();
        _haveKeySlice = false;
        _started = keyframeStart;
        _assembler.Reset();
        _nextSequence = rtp.SequenceNumber;
    }

    private void Complete() => _done.TrySetResult(_accessUnit.WrittenSpan.ToArray());

    /// <summary>Ends the wait (the stream stopped, or the caller gave up).</summary>
    public void Cancel(Exception reason) => _done.TrySetException(reason);

    public void Flush()
    {
    }
}
