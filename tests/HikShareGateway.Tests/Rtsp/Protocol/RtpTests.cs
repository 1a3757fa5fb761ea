using HikShareGateway.Media;
using HikShareGateway.Rtsp.Protocol;

namespace HikShareGateway.Tests.Rtsp.Protocol;

/// <summary>RtpPacket (RFC 3550 §5.1) and KeyframeDetector (RFC 6184 for H.264, RFC 7798 for H.265).</summary>
[Trait("Category", "Unit")]
public sealed class RtpTests
{
    /// <summary>An RTP packet: V=2, the given flags, PT, seq 0x1234, timestamp 0xDEADBEEF, SSRC 0x01020304.</summary>
    private static byte[] Packet(ReadOnlySpan<byte> payload, bool marker = false, int payloadType = 96, int csrcCount = 0, byte[]? extension = null, int padding = 0)
    {
        var bytes = new List<byte>
        {
            (byte)(0x80 | (padding > 0 ? 0x20 : 0) | (extension is not null ? 0x10 : 0) | csrcCount),
            (byte)((marker ? 0x80 : 0) | payloadType),
            0x12, 0x34, 0xDE, 0xAD, 0xBE, 0xEF, 0x01, 0x02, 0x03, 0x04,
        };
        for (var i = 0; i < csrcCount; i++)
        {
            bytes.AddRange([0xC0, 0, 0, (byte)i]);
        }
        if (extension is not null)
        {
            // RFC 3550 §5.3.1: profile-defined 16 bits, length in 32-bit words, then the words.
            bytes.AddRange([0xBE, 0xDE, (byte)(extension.Length / 4 >> 8), (byte)(extension.Length / 4)]);
            bytes.AddRange(extension);
        }
        bytes.AddRange(payload.ToArray());
        for (var i = 1; i < padding; i++)
        {
            bytes.Add(0);
        }
        if (padding > 0)
        {
            bytes.Add((byte)padding);
        }
        return [.. bytes];
    }

    [Fact]
    public void TryParse_PlainPacket_HeaderFieldsAndPayload()
    {
        var bytes = Packet([0x65, 0x88, 0x84], marker: true, payloadType: 96);

        Assert.True(RtpPacket.TryParse(bytes, out var p));

        Assert.True(p.Marker);
        Assert.Equal(96, p.PayloadType);
        Assert.Equal(0x1234, p.SequenceNumber);
        Assert.Equal(0xDEADBEEFu, p.Timestamp);
        Assert.Equal(0x01020304u, p.Ssrc);
        Assert.Equal(12, p.PayloadOffset);
        Assert.Equal(new byte[] { 0x65, 0x88, 0x84 }, p.Payload.ToArray());
    }

    [Fact]
    public void TryParse_CsrcExtensionAndPadding_PayloadIsWhatIsBetween()
    {
        var bytes = Packet("hello"u8, payloadType: 8, csrcCount: 2, extension: [1, 2, 3, 4, 5, 6, 7, 8], padding: 3);

        Assert.True(RtpPacket.TryParse(bytes, out var p));

        Assert.False(p.Marker);
        Assert.Equal(8, p.PayloadType);
        Assert.Equal(12 + 2 * 4 + 4 + 8, p.PayloadOffset);
        Assert.Equal(5, p.PayloadLength);
        Assert.Equal("hello"u8.ToArray(), p.Payload.ToArray());
    }

    [Fact]
    public void TryParse_FifteenCsrcs_PayloadAfterThem()
    {
        var bytes = Packet([0x41], csrcCount: 15);

        Assert.True(RtpPacket.TryParse(bytes, out var p));

        Assert.Equal(12 + 60, p.PayloadOffset);
        Assert.Equal(new byte[] { 0x41 }, p.Payload.ToArray());
    }

    [Fact]
    public void TryParse_EmptyPayloadAndEmptyExtension_AreValid()
    {
        Assert.True(RtpPacket.TryParse(Packet([]), out var plain));
        Assert.Equal(0, plain.PayloadLength);
        Assert.True(RtpPacket.TryParse(Packet([9], extension: []), out var ext));
        Assert.Equal(16, ext.PayloadOffset);
        Assert.Equal(1, ext.PayloadLength);
    }

    [Fact]
    public void TryParse_PaddingThatEatsThePayloadExactly_LeavesAnEmptyPayload()
    {
        var bytes = Packet([], padding: 4);

        Assert.True(RtpPacket.TryParse(bytes, out var p));
        Assert.Equal(0, p.PayloadLength);
    }

    [Fact]
    public void TryParse_Invalid_IsFalse()
    {
        var good = Packet([1, 2, 3]);
        Assert.False(RtpPacket.TryParse([], out _));
        Assert.False(RtpPacket.TryParse(good.AsSpan(0, 11), out _));
        Assert.False(RtpPacket.TryParse([(byte)(good[0] & 0x3F | 0x40), .. good.AsSpan(1)], out _), "version 1");
        Assert.False(RtpPacket.TryParse([(byte)(good[0] & 0x3F), .. good.AsSpan(1)], out _), "version 0");
        Assert.False(RtpPacket.TryParse([(byte)(good[0] | 0x03), .. good.AsSpan(1)], out _), "3 CSRCs announced, 3 bytes there");

        var ext = Packet([1], extension: [1, 2, 3, 4]);
        ext[12 + 3] = 9; // the extension says 9 words
        Assert.False(RtpPacket.TryParse(ext, out _), "extension longer than the packet");
        Assert.False(RtpPacket.TryParse([(byte)(good[0] | 0x10), .. good.AsSpan(1, 11), 0xBE, 0xDE], out _), "extension header cut");

        var pad = Packet([1, 2], padding: 2);
        pad[^1] = 200;
        Assert.False(RtpPacket.TryParse(pad, out _), "padding longer than the payload");
    }

    [Theory]
    [InlineData(200, true)]  // SR
    [InlineData(201, true)]  // RR
    [InlineData(204, true)]  // APP
    [InlineData(96, false)]
    [InlineData(0xE0, false)] // marker + PT 96
    [InlineData(205, false)]
    public void LooksLikeRtcp_SecondByte(byte second, bool rtcp)
    {
        Assert.Equal(rtcp, RtpPacket.LooksLikeRtcp([0x80, second, 0, 1]));
    }

    [Fact]
    public void LooksLikeRtcp_TooShort_IsFalse()
    {
        Assert.False(RtpPacket.LooksLikeRtcp([]));
        Assert.False(RtpPacket.LooksLikeRtcp([0x80]));
    }

    // H.264 NAL header: F(1) NRI(2) type(5).
    [Theory]
    [InlineData(new byte[] { 0x65, 0x88, 0x84 }, KeyframeMark.KeyframeSlice)] // IDR (5)
    [InlineData(new byte[] { 0x25, 0xB8 }, KeyframeMark.KeyframeSlice)]       // IDR with NRI 1
    [InlineData(new byte[] { 0x67, 0x42, 0xC0, 0x1E }, KeyframeMark.ParameterSets)] // SPS (7)
    [InlineData(new byte[] { 0x68, 0xCE, 0x3C, 0x80 }, KeyframeMark.ParameterSets)] // PPS (8)
    [InlineData(new byte[] { 0x41, 0x9A }, KeyframeMark.OtherSlice)]          // non-IDR slice (1)
    [InlineData(new byte[] { 0x01 }, KeyframeMark.OtherSlice)]
    [InlineData(new byte[] { 0x06, 0x05 }, KeyframeMark.None)]                // SEI (6)
    [InlineData(new byte[] { 0x09, 0xF0 }, KeyframeMark.None)]                // AUD (9)
    [InlineData(new byte[] { }, KeyframeMark.None)]
    public void H264_SingleNalUnit(byte[] payload, KeyframeMark mark)
    {
        Assert.Equal(mark, KeyframeDetector.Classify(VideoCodec.H264, payload));
    }

    [Fact]
    public void H264_StapAWithSpsPpsIdr_IsParameterSets()
    {
        byte[] stap = [0x78, 0x00, 0x04, 0x67, 0x42, 0xC0, 0x1E, 0x00, 0x02, 0x68, 0xCE, 0x00, 0x03, 0x65, 0x88, 0x84];

        Assert.Equal(KeyframeMark.ParameterSets, KeyframeDetector.H264(stap));
    }

    [Fact]
    public void H264_StapAWithIdrAfterSei_IsKeyframeSlice()
    {
        byte[] stap = [0x78, 0x00, 0x02, 0x06, 0x05, 0x00, 0x03, 0x65, 0x88, 0x84];

        Assert.Equal(KeyframeMark.KeyframeSlice, KeyframeDetector.H264(stap));
    }

    [Fact]
    public void H264_StapAWithOnlySei_IsNone()
    {
        Assert.Equal(KeyframeMark.None, KeyframeDetector.H264([0x78, 0x00, 0x02, 0x06, 0x05]));
    }

    [Fact]
    public void H264_StapAWithSizeOverrunningTheBuffer_ClassifiesWhatIsThere()
    {
        // The first unit claims 0xFFFF bytes: its NAL header is still read, nothing past the buffer.
        Assert.Equal(KeyframeMark.ParameterSets, KeyframeDetector.H264([0x78, 0xFF, 0xFF, 0x67, 0x42]));
        Assert.Equal(KeyframeMark.None, KeyframeDetector.H264([0x78, 0x00]));
        Assert.Equal(KeyframeMark.None, KeyframeDetector.H264([0x78]));
    }

    [Theory]
    [InlineData(new byte[] { 0x7C, 0x85, 0xB8 }, KeyframeMark.KeyframeSlice)] // FU-A start of IDR
    [InlineData(new byte[] { 0x7C, 0x05, 0xB8 }, KeyframeMark.None)]          // FU-A middle of IDR
    [InlineData(new byte[] { 0x7C, 0x45, 0xB8 }, KeyframeMark.None)]          // FU-A end of IDR
    [InlineData(new byte[] { 0x5C, 0x81, 0x9A }, KeyframeMark.OtherSlice)]    // FU-A start of non-IDR
    [InlineData(new byte[] { 0x5C, 0x01 }, KeyframeMark.None)]
    [InlineData(new byte[] { 0x7C }, KeyframeMark.None)]                      // FU indicator only
    public void H264_FuA_OnlyTheStartFragmentCounts(byte[] payload, KeyframeMark mark)
    {
        Assert.Equal(mark, KeyframeDetector.H264(payload));
    }

    // H.265 NAL header: F(1) type(6) layer(6) tid(3); first byte = type << 1.
    [Theory]
    [InlineData(new byte[] { 19 << 1, 0x01, 0xAF }, KeyframeMark.KeyframeSlice)] // IDR_W_RADL
    [InlineData(new byte[] { 20 << 1, 0x01 }, KeyframeMark.KeyframeSlice)]       // IDR_N_LP
    [InlineData(new byte[] { 21 << 1, 0x01 }, KeyframeMark.KeyframeSlice)]       // CRA
    [InlineData(new byte[] { 16 << 1, 0x01 }, KeyframeMark.KeyframeSlice)]       // BLA_W_LP
    [InlineData(new byte[] { 32 << 1, 0x01, 0x0C }, KeyframeMark.ParameterSets)] // VPS
    [InlineData(new byte[] { 33 << 1, 0x01 }, KeyframeMark.ParameterSets)]       // SPS
    [InlineData(new byte[] { 34 << 1, 0x01 }, KeyframeMark.ParameterSets)]       // PPS
    [InlineData(new byte[] { 1 << 1, 0x01, 0xD0 }, KeyframeMark.OtherSlice)]     // TRAIL_R
    [InlineData(new byte[] { 0, 0x01 }, KeyframeMark.OtherSlice)]                // TRAIL_N
    [InlineData(new byte[] { 39 << 1, 0x01 }, KeyframeMark.None)]                // prefix SEI
    [InlineData(new byte[] { 35 << 1, 0x01 }, KeyframeMark.None)]                // AUD
    [InlineData(new byte[] { 19 << 1 }, KeyframeMark.None)]                      // header cut
    [InlineData(new byte[] { }, KeyframeMark.None)]
    public void H265_SingleNalUnit(byte[] payload, KeyframeMark mark)
    {
        Assert.Equal(mark, KeyframeDetector.Classify(VideoCodec.H265, payload));
    }

    [Theory]
    [InlineData(new byte[] { 49 << 1, 0x01, 0x80 | 19, 0xAF }, KeyframeMark.KeyframeSlice)] // FU start of IDR_W_RADL
    [InlineData(new byte[] { 49 << 1, 0x01, 19, 0xAF }, KeyframeMark.None)]                 // FU middle
    [InlineData(new byte[] { 49 << 1, 0x01, 0x40 | 19 }, KeyframeMark.None)]                // FU end
    [InlineData(new byte[] { 49 << 1, 0x01, 0x80 | 1 }, KeyframeMark.OtherSlice)]           // FU start of TRAIL_R
    [InlineData(new byte[] { 49 << 1, 0x01 }, KeyframeMark.None)]                           // FU header missing
    public void H265_FragmentationUnit_OnlyTheStartCounts(byte[] payload, KeyframeMark mark)
    {
        Assert.Equal(mark, KeyframeDetector.H265(payload));
    }

    [Fact]
    public void H265_AggregationWithVpsSpsPps_IsParameterSets()
    {
        byte[] ap = [48 << 1, 0x01, 0x00, 0x03, 32 << 1, 0x01, 0x0C, 0x00, 0x02, 33 << 1, 0x01, 0x00, 0x02, 34 << 1, 0x01];

        Assert.Equal(KeyframeMark.ParameterSets, KeyframeDetector.H265(ap));
    }

    [Fact]
    public void H265_AggregationWithSeiAndIdr_IsKeyframeSlice()
    {
        byte[] ap = [48 << 1, 0x01, 0x00, 0x02, 39 << 1, 0x01, 0x00, 0x03, 19 << 1, 0x01, 0xAF];

        Assert.Equal(KeyframeMark.KeyframeSlice, KeyframeDetector.H265(ap));
    }

    [Theory]
    [InlineData(VideoCodec.None)]
    [InlineData(VideoCodec.Other)]
    public void Classify_NonH26xCodec_IsAlwaysNone(VideoCodec codec)
    {
        Assert.Equal(KeyframeMark.None, KeyframeDetector.Classify(codec, [0x65, 0x88]));
    }

    [Fact]
    public void Classify_PayloadOfParsedPacket_FindsTheIdr()
    {
        var bytes = Packet([0x7C, 0x85, 0xB8, 0x00], marker: false, csrcCount: 1, extension: [0, 0, 0, 0], padding: 2);

        Assert.True(RtpPacket.TryParse(bytes, out var p));

        Assert.Equal(KeyframeMark.KeyframeSlice, KeyframeDetector.Classify(VideoCodec.H264, p.Payload));
    }
}
