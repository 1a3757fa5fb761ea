namespace HikShareGateway.Ffmpeg.Video;

/// <summary>Video codecs the decoders take.</summary>
public enum VideoCodec
{
    H264,
    H265,
}

/// <summary>How the NAL units of an access unit are delimited.</summary>
public enum NalFraming
{
    /// <summary>Start codes 00 00 01 / 00 00 00 01 (ITU-T H.264 Annex B), as RTP depacketizers produce.</summary>
    AnnexB,
    /// <summary>4-byte big-endian lengths (ISO/IEC 14496-15, "AVCC"/"HVCC"), as in MP4 samples.</summary>
    LengthPrefixed,
}
