namespace HikShareGateway.Mp4.Rtp;

/// <summary>
/// One access unit (one picture) as an MP4 sample: NAL units each prefixed by a 4-byte big-endian length
/// (ISO/IEC 14496-15 §5.3.2, lengthSizeMinusOne = 3). <see cref="Data"/> lives in the depacketizer's buffer
/// and is valid only during the <see cref="IAccessUnitSink.OnAccessUnit"/> call. It is empty (and damaged) when
/// every NAL unit of the picture was lost.
/// </summary>
public readonly ref struct AccessUnit
{
    public AccessUnit(ReadOnlySpan<byte> data, uint rtpTimestamp, bool isKeyframe, bool isDamaged)
    {
        Data = data;
        RtpTimestamp = rtpTimestamp;
        IsKeyframe = isKeyframe;
        IsDamaged = isDamaged;
    }

    public ReadOnlySpan<byte> Data { get; }

    public uint RtpTimestamp { get; }

    /// <summary>It holds an IDR (H.264 type 5) or IRAP (H.265 types 16–23) NAL unit.</summary>
    public bool IsKeyframe { get; }

    /// <summary>
    /// Packets were lost while it was assembled (a sequence gap before or inside it, a fragment missing, a
    /// malformed aggregation, a NAL unit over the size bound, or no marker bit): some NAL units may be missing.
    /// </summary>
    public bool IsDamaged { get; }
}

/// <summary>Receives the access units a depacketizer completes (a struct sink is called without boxing).</summary>
public interface IAccessUnitSink
{
    void OnAccessUnit(in AccessUnit accessUnit);
}
