using System.Buffers;
using HikShareGateway.Mp4.Boxes;
using HikShareGateway.Mp4.Codecs;
using HikShareGateway.Mp4.Muxing;
using HikShareGateway.Mp4.Rtp;

namespace HikShareGateway.Mp4.Tests.Rtp;

/// <summary>AAC as it comes from cameras (RFC 3640 AAC-hbr) into fMP4 as it is: AU headers, the config, mp4a/esds.</summary>
[Trait("Category", "Unit")]
public sealed class AacTests
{
    /// <summary>Two AUs (5 and 3 bytes) in one payload: AU-headers-length 32 bits, 13-bit sizes, 3-bit index 0.</summary>
    private static readonly byte[] TwoUnits = [0x00, 0x20, 0x00, 0x28, 0x00, 0x18, 1, 2, 3, 4, 5, 6, 7, 8];

    [Fact]
    public void Split_TwoAccessUnits_GivesBothInOrder()
    {
        Span<Range> units = stackalloc Range[4];
        var count = AacAuHeaders.Split(TwoUnits, AacAuLayout.Hbr, units);
        Assert.Equal(2, count);
        Assert.Equal(new byte[] { 1, 2, 3, 4, 5 }, TwoUnits.AsSpan(units[0]).ToArray());
        Assert.Equal(new byte[] { 6, 7, 8 }, TwoUnits.AsSpan(units[1]).ToArray());
    }

    [Fact]
    public void Split_EveryPrefix_NeverThrows_GivesOnlyTheUnitsThatAreComplete()
    {
        Span<Range> units = stackalloc Range[4];
        for (var n = 0; n <= TwoUnits.Length; n++)
        {
            var count = AacAuHeaders.Split(TwoUnits.AsSpan(0, n), AacAuLayout.Hbr, units);
            var expected = n >= 14 ? 2 : n >= 11 ? 1 : 0;
            Assert.True(count == expected, $"prefix {n}: {count} units, expected {expected}");
        }
    }

    [Fact]
    public void Split_FragmentOfALargerUnit_OrInterleaved_OrZeroHeaderLength_GivesNone()
    {
        Span<Range> units = stackalloc Range[4];
        // One header announcing 100 bytes, 3 present: a fragment (RFC 3640 §3.2.3), not returned as a unit.
        Assert.Equal(0, AacAuHeaders.Split([0x00, 0x10, 0x03, 0x20, 1, 2, 3], AacAuLayout.Hbr, units));
        // Index 1: interleaving, which cameras do not use.
        Assert.Equal(0, AacAuHeaders.Split([0x00, 0x10, 0x00, 0x29, 1, 2, 3, 4, 5], AacAuLayout.Hbr, units));
        Assert.Equal(0, AacAuHeaders.Split([0x00, 0x00, 1, 2], AacAuLayout.Hbr, units));
        Assert.Equal(0, AacAuHeaders.Split(TwoUnits, new AacAuLayout(0, 3, 3), units));
    }

    [Theory]
    [InlineData(new byte[] { 0x14, 0x08 }, 2, 16000, 1)]
    [InlineData(new byte[] { 0x12, 0x10 }, 2, 44100, 2)]
    [InlineData(new byte[] { 0x11, 0x90 }, 2, 48000, 2)]
    public void AudioSpecificConfig_KnownConfigs_GiveObjectTypeRateChannels(byte[] config, int type, int rate, int channels)
    {
        Assert.True(AudioSpecificConfig.TryParse(config, out var asc));
        Assert.Equal(new AudioSpecificConfig(type, rate, channels), asc);
        Assert.Equal("mp4a.40.2", asc.CodecString);
    }

    [Fact]
    public void AudioSpecificConfig_TooShortOrNoChannels_IsRefused()
    {
        Assert.False(AudioSpecificConfig.TryParse([], out _));
        Assert.False(AudioSpecificConfig.TryParse([0x14], out _));
        Assert.False(AudioSpecificConfig.TryParse([0x14, 0x00], out _));
    }

    [Fact]
    public void Aac_Track_EsdsHoldsTheConfig_MimeNamesMp4a()
    {
        Assert.True(AudioSpecificConfig.TryParse([0x14, 0x08], out var asc));
        var track = Mp4Track.Aac(2, 16000, asc, [0x14, 0x08]);
        Assert.Equal("mp4a", track.SampleEntry);
        Assert.Equal("esds", track.ConfigurationBox);
        Assert.Equal(16000, track.Timescale);
        Assert.Equal(1, track.Channels);
        // FullBox header, ES_Descriptor (tag 3), DecoderConfigDescriptor (tag 4, MPEG-4 audio 0x40, stream type 5),
        // DecoderSpecificInfo (tag 5) with the config, SLConfigDescriptor (tag 6, predefined 2).
        Assert.Equal(new byte[] { 0, 0, 0, 0, 0x03, 25, 0, 0, 0, 0x04, 17, 0x40, 0x15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x05, 2, 0x14, 0x08, 0x06, 1, 2 },
            track.Configuration);
    }

    [Fact]
    public void Muxer_AacOptionsWithoutConfig_AreRefused_AacBeforeTheFirstKeyframeWaits()
    {
        Assert.Contains(new Fmp4MuxerOptions { Audio = AudioCodec.Aac, AudioSampleRate = 16000 }.Validate(), e => e.Contains("AudioSpecificConfig"));
        var muxer = new Fmp4Muxer(new Fmp4MuxerOptions { Audio = AudioCodec.Aac, AudioSampleRate = 16000, AudioConfig = [0x14, 0x08] });
        Assert.Equal(1024u, muxer.AacFrameDuration);
        Assert.Equal(MuxResult.WaitingForKeyframe, muxer.WriteAac(new ArrayBufferWriter<byte>(), [1, 2, 3], 0));
        Assert.Equal(MuxResult.DroppedInvalid, muxer.WriteAac(new ArrayBufferWriter<byte>(), [], 0));
    }
}
