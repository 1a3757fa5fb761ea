using System.Buffers.Binary;

namespace HikShareGateway.Media;

/// <summary>The video codecs whose keyframes the relay can find.</summary>
public enum VideoCodec { None, H264, H265, Other }

/// <summary>A view over one RTP packet (RFC 3550 §5.1); reading a field copies nothing.</summary>
public readonly ref struct RtpPacket
{
    private readonly ReadOnlySpan<byte> _data;

    private RtpPacket(ReadOnlySpan<byte> data, int payloadOffset, int payloadLength)
    {
        _data = data;
        PayloadOffset = payloadOffset;
        PayloadLength = payloadLength;
    }

    public int PayloadOffset { get; }
    public int PayloadLength { get; }
    public bool Marker => (_data[1] & 0x80) != 0;
    public int PayloadType => _data[1] & 0x7F;
    public ushort SequenceNumber => BinaryPrimitives.ReadUInt16BigEndian(_data[2..]);
    public uint Timestamp => BinaryPrimitives.ReadUInt32BigEndian(_data[4..]);
    public uint Ssrc => BinaryPrimitives.ReadUInt32BigEndian(_data[8..]);
    public ReadOnlySpan<byte> Payload => _data.Slice(PayloadOffset, PayloadLength);

    /// <summary>Validates version, CSRC count, extension and padding lengths.</summary>
    public static bool TryParse(ReadOnlySpan<byte> data, out RtpPacket packet)
    {
        packet = default;
        if (data.Length < 12 || (data[0] >> 6) != 2)
        {
            return false;
        }
        var offset = 12 + (data[0] & 0x0F) * 4;
        if ((data[0] & 0x10) != 0)
        {
            if (data.Length < offset + 4)
            {
                return false;
            }
            offset += 4 + BinaryPrimitives.ReadUInt16BigEndian(data[(offset + 2)..]) * 4;
        }
        var end = data.Length;
        if ((data[0] & 0x20) != 0 && end > offset)
        {
            end -= data[^1];
        }
        if (offset > end)
        {
            return false;
        }
        packet = new RtpPacket(data, offset, end - offset);
        return true;
    }

    /// <summary>RTCP packet types are 200-204 in the second byte; RTP payload types 72-76 would collide (RFC 5761 §4).</summary>
    public static bool LooksLikeRtcp(ReadOnlySpan<byte> data) => data.Length >= 2 && data[1] is >= 200 and <= 204;
}

/// <summary>Reads compound RTCP packets (RFC 3550 §6.1) without copying.</summary>
public static class RtcpPacket
{
    /// <summary>Whether a compound RTCP packet holds a BYE (PT 203, RFC 3550 §6.6).</summary>
    public static bool ContainsBye(ReadOnlySpan<byte> rtcp)
    {
        var i = 0;
        while (i + 4 <= rtcp.Length)
        {
            if (rtcp[i + 1] == 203)
            {
                return true;
            }
            i += (BinaryPrimitives.ReadUInt16BigEndian(rtcp[(i + 2)..]) + 1) * 4;
        }
        return false;
    }
}

/// <summary>Where a keyframe (random access point) starts in an RTP video stream.</summary>
public enum KeyframeMark
{
    /// <summary>Not the start of a keyframe.</summary>
    None,
    /// <summary>Parameter sets (SPS/PPS, VPS/SPS/PPS): a keyframe follows; a joining viewer should start here.</summary>
    ParameterSets,
    /// <summary>The first packet of an IDR / IRAP picture.</summary>
    KeyframeSlice,
    /// <summary>A non-keyframe picture slice (ends a parameter-set prelude).</summary>
    OtherSlice,
}

/// <summary>Classifies RTP payloads of H.264 (RFC 6184) and H.265 (RFC 7798) for GOP caching.</summary>
public static class KeyframeDetector
{
    public static KeyframeMark Classify(VideoCodec codec, ReadOnlySpan<byte> payload) => codec switch
    {
        VideoCodec.H264 => H264(payload),
        VideoCodec.H265 => H265(payload),
        _ => KeyframeMark.None,
    };

    private static KeyframeMark H264Nal(int type) => type switch
    {
        5 => KeyframeMark.KeyframeSlice,
        7 or 8 => KeyframeMark.ParameterSets,
        1 => KeyframeMark.OtherSlice,
        _ => KeyframeMark.None,
    };

    public static KeyframeMark H264(ReadOnlySpan<byte> p)
    {
        if (p.IsEmpty)
        {
            return KeyframeMark.None;
        }
        var type = p[0] & 0x1F;
        switch (type)
        {
            case 24: // STAP-A: 16-bit size + NAL, repeated
                var best = KeyframeMark.None;
                for (var i = 1; i + 2 < p.Length; i += 2 + ((p[i] << 8) | p[i + 1]))
                {
                    best = Strongest(best, H264Nal(p[i + 2] & 0x1F));
                }
                return best;
            case 28: // FU-A: only the start fragment says where a picture begins
                return p.Length >= 2 && (p[1] & 0x80) != 0 ? H264Nal(p[1] & 0x1F) : KeyframeMark.None;
            default:
                return H264Nal(type);
        }
    }

    /// <summary>For aggregates: parameter sets win over a keyframe slice, which wins over other slices.</summary>
    private static KeyframeMark Strongest(KeyframeMark a, KeyframeMark b)
    {
        static int Rank(KeyframeMark m) => m switch { KeyframeMark.ParameterSets => 3, KeyframeMark.KeyframeSlice => 2, KeyframeMark.OtherSlice => 1, _ => 0 };
        return Rank(b) > Rank(a) ? b : a;
    }

    private static KeyframeMark H265Nal(int type) => type switch
    {
        >= 16 and <= 21 => KeyframeMark.KeyframeSlice,
        32 or 33 or 34 => KeyframeMark.ParameterSets,
        <= 9 => KeyframeMark.OtherSlice,
        _ => KeyframeMark.None,
    };

    public static KeyframeMark H265(ReadOnlySpan<byte> p)
    {
        if (p.Length < 2)
        {
            return KeyframeMark.None;
        }
        var type = (p[0] >> 1) & 0x3F;
        switch (type)
        {
            case 48: // aggregation packet: 16-bit size + NAL, repeated
                var best = KeyframeMark.None;
                for (var i = 2; i + 2 < p.Length; i += 2 + ((p[i] << 8) | p[i + 1]))
                {
                    best = Strongest(best, H265Nal((p[i + 2] >> 1) & 0x3F));
                }
                return best;
            case 49: // fragmentation unit
                return p.Length >= 3 && (p[2] & 0x80) != 0 ? H265Nal(p[2] & 0x3F) : KeyframeMark.None;
            default:
                return H265Nal(type);
        }
    }
}
