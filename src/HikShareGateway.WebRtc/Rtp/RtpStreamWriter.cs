using System.Buffers.Binary;

namespace HikShareGateway.WebRtc.Rtp;

/// <summary>
/// The RTP header a viewer sees (RFC 3550 §5.1), rewritten per viewer: our SSRC, our sequence numbers (contiguous
/// even when the source's jump, e.g. after a drop-to-keyframe), timestamps moved to a random base of ours. No CSRC
/// and no header extension: nothing of the camera's stream identity reaches the browser. Also counts what the
/// next sender report states. One per viewer and stream; used by that viewer's sending thread only.
/// </summary>
public sealed class RtpStreamWriter
{
    public const int HeaderLength = 12;

    private readonly byte _payloadType;
    private ushort _sequence;
    private readonly uint _timestampBase;
    private uint? _firstSourceTimestamp;

    public RtpStreamWriter(uint ssrc, byte payloadType, int clockRate, ushort? initialSequence = null, uint? timestampBase = null)
    {
        Ssrc = ssrc;
        _payloadType = payloadType;
        ClockRate = clockRate;
        // RFC 3550 §5.1: random initial sequence number and timestamp.
        _sequence = initialSequence ?? (ushort)Random.Shared.Next(0, 0x8000);
        _timestampBase = timestampBase ?? (uint)Random.Shared.NextInt64(0, uint.MaxValue);
    }

    public uint Ssrc { get; }
    public int ClockRate { get; }
    public uint PacketCount { get; private set; }
    public uint OctetCount { get; private set; }
    /// <summary>Our timestamp of the last packet written (for the sender report), and whether any was.</summary>
    public uint LastTimestamp { get; private set; }
    public bool Started => _firstSourceTimestamp is not null;

    /// <summary>Maps a source timestamp to ours (same clock: the offset is fixed at the first packet).</summary>
    public uint MapTimestamp(uint sourceTimestamp)
    {
        _firstSourceTimestamp ??= sourceTimestamp;
        return unchecked(sourceTimestamp - _firstSourceTimestamp.Value + _timestampBase);
    }

    /// <summary>Writes the 12-byte header for a payload of <paramref name="payloadLength"/> bytes; returns the sequence number used.</summary>
    public ushort WriteHeader(Span<byte> destination, bool marker, uint sourceTimestamp, int payloadLength)
    {
        var ts = MapTimestamp(sourceTimestamp);
        var seq = _sequence++;
        destination[0] = 0x80;
        destination[1] = (byte)((marker ? 0x80 : 0) | _payloadType);
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], seq);
        BinaryPrimitives.WriteUInt32BigEndian(destination[4..], ts);
        BinaryPrimitives.WriteUInt32BigEndian(destination[8..], Ssrc);
        PacketCount++;
        OctetCount += (uint)payloadLength;
        LastTimestamp = ts;
        return seq;
    }
}
