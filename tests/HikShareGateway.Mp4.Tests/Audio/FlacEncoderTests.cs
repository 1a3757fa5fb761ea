using HikShareGateway.Mp4.Audio;

namespace HikShareGateway.Mp4.Tests.Audio;

[Trait("Category", "Unit")]
public sealed class FlacEncoderTests
{
    [Fact]
    public void Crcs_OfTheCheckString_AreTheCatalogueValues()
    {
        // CRC-8 (poly 0x07, init 0) and CRC-16/UMTS (poly 0x8005, init 0, not reflected) of "123456789".
        Assert.Equal(0xF4, FlacCrc.Crc8("123456789"u8));
        Assert.Equal(0xFEE8, FlacCrc.Crc16("123456789"u8));
    }

    [Fact]
    public void StreamInfo_CarriesRateChannelsBitsAndBlockSize()
    {
        byte[] block = new FlacEncoder(8000, 160).StreamInfoBlock();

        Assert.Equal([0x80, 0, 0, 34], block[..4]);
        Assert.Equal([0, 16, 0x10, 0x00], block[4..8]); // blocks of 16 to 4096 samples: packets differ in length
        // 8000 Hz in 20 bits, mono (0), 16 bits (15): 0x01F40 << 4 | 0 << 1 ..., i.e. 01 F4 00 F0.
        Assert.Equal([0x01, 0xF4, 0x00, 0xF0], block[14..18]);
    }

    [Fact]
    public void Frame_HeaderHasSyncCodesAndAValidCrc8_AndFooterAValidCrc16()
    {
        var encoder = new FlacEncoder(8000, 160);
        var frame = new byte[FlacEncoder.MaxFrameBytes(160)];

        int length = encoder.EncodeFrame(Tone(160, 1000, 8000, 8000), frame);

        Assert.Equal(0xFF, frame[0]);
        Assert.Equal(0xF9, frame[1]); // variable-blocksize stream
        Assert.Equal(0x64, frame[2]); // 8-bit block size follows, 8 kHz
        Assert.Equal(0x08, frame[3]); // mono, 16 bits
        Assert.Equal(0, frame[4]); // first sample number 0
        Assert.Equal(159, frame[5]);
        Assert.Equal(FlacCrc.Crc8(frame.AsSpan(0, 6)), frame[6]);
        Assert.Equal(FlacCrc.Crc16(frame.AsSpan(0, length - 2)), (ushort)((frame[length - 2] << 8) | frame[length - 1]));
    }

    [Fact]
    public void Frames_CarryTheirFirstSampleNumber_SoPacketsOfAnyLengthFollowEachOther()
    {
        var encoder = new FlacEncoder(8000, 160);
        var frame = new byte[FlacEncoder.MaxFrameBytes(1024)];
        encoder.EncodeFrame(new short[160], frame);
        encoder.EncodeFrame(new short[1024], frame);

        encoder.EncodeFrame(new short[80], frame);

        // Sample 1184 (160 + 1024) in the UTF-8-like code: 0b110_10010 0b10_100000.
        Assert.Equal([0xD2, 0xA0], frame[4..6]);
        Assert.Equal(79, frame[6]); // 8-bit block size − 1
    }

    [Fact]
    public void Silence_IsAConstantSubframe_AndAToneIsSmallerThanVerbatim()
    {
        var encoder = new FlacEncoder(8000, 160);
        var frame = new byte[FlacEncoder.MaxFrameBytes(160)];

        int silence = encoder.EncodeFrame(new short[160], frame);
        Assert.Equal(0b0_000000_0, frame[7]);
        Assert.Equal(7 + 1 + 2 + 2, silence);

        int tone = encoder.EncodeFrame(Tone(160, 440, 8000, 12000), frame);
        Assert.Equal(0b001, frame[7] >> 4); // FIXED
        Assert.True(tone < 160 * 2, $"a tone took {tone} bytes");
    }

    [Theory]
    [InlineData(false, 2)]
    [InlineData(true, 3)]
    public void DecodedG711_IsCodedWithItsWastedLowBits(bool aLaw, int wasted)
    {
        var encoder = new FlacEncoder(8000, 160);
        var frame = new byte[FlacEncoder.MaxFrameBytes(160)];
        byte[] tone = Infrastructure.StreamBuilder.MuLawTone(440, 0);
        var pcm = new short[160];
        G711.Decode(tone, pcm, aLaw);

        int length = encoder.EncodeFrame(pcm, frame);

        Assert.Equal(1, frame[7] & 1); // wasted-bits flag
        Assert.Equal(wasted - 1, System.Numerics.BitOperations.LeadingZeroCount((uint)frame[8] << 24)); // unary k − 1
        Assert.True(length < 160 * 2 * (16 - wasted) / 16, $"{length} bytes");
    }

    [Fact]
    public void FullScaleNoiseAndEdgeValues_StayWithinMaxFrameBytes()
    {
        var encoder = new FlacEncoder(8000, 160);
        var random = new Random(3);
        foreach (int size in (int[])[1, 2, 5, 16, 160, 257, 4096])
        {
            var pcm = new short[size];
            for (int i = 0; i < size; i++)
            {
                pcm[i] = (i % 3) switch { 0 => short.MinValue, 1 => short.MaxValue, _ => (short)random.Next(short.MinValue, short.MaxValue) };
            }

            var frame = new byte[FlacEncoder.MaxFrameBytes(size)];
            int length = encoder.EncodeFrame(pcm, frame);
            Assert.InRange(length, 8, frame.Length);
        }
    }

    [Fact]
    public void G711_KnownCodes_DecodeToTheTableValues()
    {
        Assert.Equal(0, G711.DecodeMuLaw(0xFF));
        Assert.Equal(-32124, G711.DecodeMuLaw(0x00));
        Assert.Equal(32124, G711.DecodeMuLaw(0x80));
        Assert.Equal(8, G711.DecodeALaw(0xD5));
        Assert.Equal(-8, G711.DecodeALaw(0x55));
        Assert.Equal(32256, G711.DecodeALaw(0xAA));
        Assert.Equal(-32256, G711.DecodeALaw(0x2A));
    }

    internal static short[] Tone(int samples, double frequency, int rate, double amplitude, int offset = 0)
    {
        var pcm = new short[samples];
        for (int i = 0; i < samples; i++)
        {
            pcm[i] = (short)Math.Round(amplitude * Math.Sin(2 * Math.PI * frequency * (i + offset) / rate));
        }

        return pcm;
    }
}
