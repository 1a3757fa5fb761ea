using HikShareGateway.Mp4.Codecs;

namespace HikShareGateway.Mp4.Boxes;

public enum Mp4TrackKind
{
    Video,
    Audio,
}

/// <summary>
/// One track of the init segment: its sample entry (avc1/hvc1/fLaC) and that entry's configuration box
/// (avcC/hvcC/dfLa). Made by the factory methods, which fill in the codec's fields.
/// </summary>
public sealed record Mp4Track
{
    /// <summary>The RTP clock of video (RFC 6184 §8.2.1, RFC 7798 §7.1).</summary>
    public const int VideoTimescale = 90_000;

    public required int TrackId { get; init; }

    public required Mp4TrackKind Kind { get; init; }

    /// <summary>Ticks per second of this track's sample times (the RTP clock rate: timestamps pass unscaled).</summary>
    public required int Timescale { get; init; }

    /// <summary>The sample entry's four-character code, e.g. "avc1".</summary>
    public required string SampleEntry { get; init; }

    /// <summary>The configuration box inside the sample entry, e.g. "avcC".</summary>
    public required string ConfigurationBox { get; init; }

    /// <summary>The configuration box's payload (for a FullBox such as dfLa, starting with version and flags).</summary>
    public required byte[] Configuration { get; init; }

    public int Width { get; init; }

    public int Height { get; init; }

    public int Channels { get; init; }

    public int SampleRate { get; init; }

    /// <summary>The RFC 6381 codecs parameter for MSE's isTypeSupported / addSourceBuffer.</summary>
    public required string CodecString { get; init; }

    public static Mp4Track H264(int trackId, H264Sps sps, byte[] avcC) => new()
    {
        TrackId = trackId,
        Kind = Mp4TrackKind.Video,
        Timescale = VideoTimescale,
        SampleEntry = "avc1",
        ConfigurationBox = "avcC",
        Configuration = avcC,
        Width = sps.Width,
        Height = sps.Height,
        CodecString = sps.CodecString,
    };

    /// <summary>hvc1 (parameter sets in hvcC), the sample entry Safari and Chrome accept.</summary>
    public static Mp4Track H265(int trackId, H265Sps sps, byte[] hvcC) => new()
    {
        TrackId = trackId,
        Kind = Mp4TrackKind.Video,
        Timescale = VideoTimescale,
        SampleEntry = "hvc1",
        ConfigurationBox = "hvcC",
        Configuration = hvcC,
        Width = sps.Width,
        Height = sps.Height,
        CodecString = sps.CodecString,
    };

    /// <summary>
    /// AAC as it came (ISO/IEC 14496-14 §5.6): an mp4a entry whose esds holds the ES_Descriptor with the
    /// AudioSpecificConfig (objectTypeIndication 0x40, streamType 5 audio). Timescale: the RTP clock (the sample rate).
    /// </summary>
    public static Mp4Track Aac(int trackId, int timescale, AudioSpecificConfig info, ReadOnlySpan<byte> audioSpecificConfig)
    {
        if (audioSpecificConfig.Length is 0 or > 64)
        {
            throw new ArgumentException("an AudioSpecificConfig is 1–64 bytes", nameof(audioSpecificConfig));
        }
        int asc = audioSpecificConfig.Length;
        int decoderConfig = 13 + 2 + asc;          // DecoderConfigDescriptor body + DecoderSpecificInfo (tag, length, ASC)
        int es = 3 + (2 + decoderConfig) + 3;      // ES_ID, flags; DecoderConfigDescriptor; SLConfigDescriptor
        byte[] esds = new byte[4 + 2 + es];        // FullBox version/flags, then ES_Descriptor (tag, length, body)
        int at = 4;
        esds[at++] = 0x03;
        esds[at++] = (byte)es;
        at += 2;                                   // ES_ID 0
        esds[at++] = 0;                            // no dependsOn, URL, OCR
        esds[at++] = 0x04;
        esds[at++] = (byte)decoderConfig;
        esds[at++] = 0x40;                         // objectTypeIndication: MPEG-4 audio
        esds[at++] = (5 << 2) | 1;                 // streamType audio, upStream 0, reserved 1
        at += 3 + 4 + 4;                           // bufferSizeDB, maxBitrate, avgBitrate: unknown (0)
        esds[at++] = 0x05;
        esds[at++] = (byte)asc;
        audioSpecificConfig.CopyTo(esds.AsSpan(at));
        at += asc;
        esds[at++] = 0x06;
        esds[at++] = 1;
        esds[at] = 2;                              // SLConfigDescriptor predefined 2 (MP4)
        return new Mp4Track
        {
            TrackId = trackId,
            Kind = Mp4TrackKind.Audio,
            Timescale = timescale,
            SampleEntry = "mp4a",
            ConfigurationBox = "esds",
            Configuration = esds,
            Channels = info.Channels,
            SampleRate = info.SampleRate,
            CodecString = info.CodecString,
        };
    }

    /// <summary>FLAC in ISO BMFF (the xiph.org encapsulation spec §3.3.1): dfLa holds the STREAMINFO block.</summary>
    public static Mp4Track Flac(int trackId, int sampleRate, int channels, ReadOnlySpan<byte> streamInfoBlock)
    {
        // dfLa is a FullBox (version 0, flags 0) whose payload is FLAC metadata blocks, STREAMINFO first.
        byte[] dfLa = new byte[4 + streamInfoBlock.Length];
        streamInfoBlock.CopyTo(dfLa.AsSpan(4));
        return new Mp4Track
        {
            TrackId = trackId,
            Kind = Mp4TrackKind.Audio,
            Timescale = sampleRate,
            SampleEntry = "fLaC",
            ConfigurationBox = "dfLa",
            Configuration = dfLa,
            Channels = channels,
            SampleRate = sampleRate,
            CodecString = "flac",
        };
    }
}
