namespace HikShareGateway.Mp4.Codecs;

/// <summary>
/// The head of an MPEG-4 AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1): audio object type, sampling rate, channel
/// configuration; what an mp4a sample entry and its RFC 6381 codecs string need. Pure.
/// </summary>
public readonly record struct AudioSpecificConfig(int ObjectType, int SampleRate, int Channels)
{
    private static readonly int[] Rates = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];

    /// <summary><c>mp4a.40.{object type}</c> (RFC 6381 §3.3: 40 is MPEG-4 audio's objectTypeIndication).</summary>
    public string CodecString => "mp4a.40." + ObjectType.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>False when the bytes are too short or name no rate or channel layout an MP4 audio track can state.</summary>
    public static bool TryParse(ReadOnlySpan<byte> config, out AudioSpecificConfig result)
    {
        result = default;
        var bits = new BitReader(config);
        int type = (int)bits.ReadBits(5);
        if (type == 31)
        {
            type = 32 + (int)bits.ReadBits(6);
        }
        int index = (int)bits.ReadBits(4);
        int rate = index == 15 ? (int)bits.ReadBits(24) : index < Rates.Length ? Rates[index] : 0;
        int channels = (int)bits.ReadBits(4);
        if (bits.Overrun || type == 0 || rate is < 7350 or > 96000 || channels is < 1 or > 7)
        {
            return false;
        }
        result = new AudioSpecificConfig(type, rate, channels == 7 ? 8 : channels);
        return true;
    }
}
