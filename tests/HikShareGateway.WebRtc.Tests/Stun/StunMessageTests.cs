using System.Buffers;
using System.Net;
using System.Text;
using HikShareGateway.WebRtc.Stun;
using static HikShareGateway.WebRtc.Tests.Infrastructure.TestBytes;

namespace HikShareGateway.WebRtc.Tests.Stun;

[Trait("Category", "Unit")]
public sealed class StunMessageTests
{
    private static readonly byte[] ShortTermKey = Encoding.UTF8.GetBytes(Rfc5769Vectors.ShortTermPassword);

    [Fact]
    public void Crc32_MatchesThePublishedCheckValue()
        => Assert.Equal(0xCBF43926u, Crc32.Compute("123456789"u8));

    [Fact]
    public void Rfc5769SampleRequest_ParsesWithIceAttributesAndChecksIntegrityAndFingerprint()
    {
        Assert.True(StunMessage.TryParse(Rfc5769Vectors.SampleRequest, out var m, out var error), error.ToString());
        Assert.Equal(StunMethod.Binding, m.Method);
        Assert.Equal(StunClass.Request, m.Class);
        Assert.Equal(Hex("b7e7a701bc34d686fa87dfae"), m.TransactionId.ToArray());
        Assert.Equal("evtj:h6vY", Encoding.UTF8.GetString(m.Username));
        Assert.True(m.HasPriority);
        Assert.Equal(0x6e0001ffu, m.Priority);
        Assert.True(m.HasIceControlled);
        Assert.False(m.HasIceControlling);
        Assert.Equal(0x932ff9b151263b36ul, m.TieBreaker);
        Assert.True(m.HasFingerprint);
        Assert.Equal(0, m.UnknownRequiredAttribute);
        Assert.True(m.VerifyIntegrity(ShortTermKey));
        Assert.False(m.VerifyIntegrity("not the password"u8));
    }

    [Theory]
    [InlineData(1, "192.0.2.1:32853")]
    [InlineData(2, "[2001:db8:1234:5678:11:2233:4455:6677]:32853")]
    public void Rfc5769SampleResponses_DecodeTheirXorMappedAddressAndCheck(int vector, string expected)
    {
        var bytes = vector == 1 ? Rfc5769Vectors.SampleIpv4Response : Rfc5769Vectors.SampleIpv6Response;
        Assert.True(StunMessage.TryParse(bytes, out var m, out _));
        Assert.Equal(StunClass.SuccessResponse, m.Class);
        Assert.True(m.VerifyIntegrity(ShortTermKey));
        Assert.True(m.TryGetXorMappedAddress(out var mapped));
        Assert.Equal(IPEndPoint.Parse(expected), mapped);
    }

    [Fact]
    public void Rfc5769LongTermRequest_ChecksUnderTheMd5LongTermKeyOnly()
    {
        Assert.True(StunMessage.TryParse(Rfc5769Vectors.SampleLongTermRequest, out var m, out _));
        var username = Encoding.UTF8.GetString(m.Username);
        Assert.Equal("\u30DE\u30C8\u30EA\u30C3\u30AF\u30B9", username);
        Assert.Equal("example.org", Encoding.UTF8.GetString(m.Realm));
        Assert.Equal("f//499k954d6OL34oL9FSTvy64sA", Encoding.UTF8.GetString(m.Nonce));
        Assert.False(m.HasFingerprint);
        Assert.True(m.VerifyIntegrity(StunMessage.LongTermKey(username, "example.org", "TheMatrIX")));
        Assert.False(m.VerifyIntegrity(StunMessage.LongTermKey(username, "example.org", "TheMatrix")));
    }

    [Theory]
    [InlineData(1, "192.0.2.1:32853")]
    [InlineData(2, "[2001:db8:1234:5678:11:2233:4455:6677]:32853")]
    public void Writer_ReproducesTheRfc5769ResponsesByteForByte(int vector, string mapped)
    {
        var expected = vector == 1 ? Rfc5769Vectors.SampleIpv4Response : Rfc5769Vectors.SampleIpv6Response;
        var buffer = new byte[256];
        var w = new StunWriter(buffer, StunMethod.Binding, StunClass.SuccessResponse, expected.AsSpan(8, 12));
        w.AddString(StunAttribute.Software, "test vector");
        buffer[20 + 4 + 11] = 0x20; // the RFC pads SOFTWARE with a space; padding may be any value
        w.AddXorAddress(StunAttribute.XorMappedAddress, IPEndPoint.Parse(mapped));
        w.AddMessageIntegrity(ShortTermKey);
        w.AddFingerprint();
        Assert.Equal(Convert.ToHexString(expected), Convert.ToHexString(w.Written));
    }

    [Fact]
    public void Writer_ErrorResponse_RoundTripsCodeAndReason()
    {
        var buffer = new byte[128];
        var w = new StunWriter(buffer, StunMethod.Binding, StunClass.ErrorResponse, new byte[12]);
        w.AddErrorCode(487, "Role Conflict");
        w.AddFingerprint();
        Assert.True(StunMessage.TryParse(w.Written, out var m, out _));
        Assert.Equal(StunClass.ErrorResponse, m.Class);
        Assert.True(m.TryGetErrorCode(out var code, out var reason));
        Assert.Equal(487, code);
        Assert.Equal("Role Conflict", reason);
    }

    [Theory]
    [InlineData(StunMethod.Binding, StunClass.Request, 0x0001)]
    [InlineData(StunMethod.Binding, StunClass.SuccessResponse, 0x0101)]
    [InlineData(StunMethod.Binding, StunClass.ErrorResponse, 0x0111)]
    [InlineData(StunMethod.Binding, StunClass.Indication, 0x0011)]
    [InlineData(StunMethod.Allocate, StunClass.ErrorResponse, 0x0113)]
    [InlineData(StunMethod.Send, StunClass.Indication, 0x0016)]
    [InlineData(StunMethod.Data, StunClass.Indication, 0x0017)]
    [InlineData(StunMethod.ChannelBind, StunClass.SuccessResponse, 0x0109)]
    public void MessageType_InterleavesMethodAndClassBitsBothWays(ushort method, StunClass cls, int type)
    {
        var buffer = new byte[20];
        var w = new StunWriter(buffer, method, cls, new byte[12]);
        Assert.Equal(type, (buffer[0] << 8) | buffer[1]);
        Assert.True(StunMessage.TryParse(w.Written, out var m, out _));
        Assert.Equal(method, m.Method);
        Assert.Equal(cls, m.Class);
    }

    [Fact]
    public void EveryStrictPrefixOfEveryVector_IsRefusedWithAReason()
    {
        foreach (var vector in Rfc5769Vectors.All)
        {
            for (var n = 0; n < vector.Length; n++)
            {
                Assert.False(StunMessage.TryParse(vector.AsSpan(0, n), out _, out var error), $"prefix {n}");
                Assert.NotEqual(StunParseError.None, error);
            }
        }
    }

    [Fact]
    public void ChangedByte_BreaksTheFingerprint()
    {
        var bytes = (byte[])Rfc5769Vectors.SampleRequest.Clone();
        bytes[30] ^= 1; // inside SOFTWARE
        Assert.False(StunMessage.TryParse(bytes, out _, out var error));
        Assert.Equal(StunParseError.BadFingerprint, error);
    }

    [Fact]
    public void ChangedByteWithoutFingerprint_BreaksTheIntegrityOnly()
    {
        var bytes = (byte[])Rfc5769Vectors.SampleLongTermRequest.Clone();
        bytes[50] ^= 1; // inside NONCE
        Assert.True(StunMessage.TryParse(bytes, out var m, out _));
        Assert.False(m.VerifyIntegrity(StunMessage.LongTermKey("\u30DE\u30C8\u30EA\u30C3\u30AF\u30B9", "example.org", "TheMatrIX")));
    }

    [Fact]
    public void WrongCookieLengthOrAttributeOverrun_AreRefusedWithTheirReasons()
    {
        var cookie = (byte[])Rfc5769Vectors.SampleRequest.Clone();
        cookie[4] ^= 1;
        Assert.False(StunMessage.TryParse(cookie, out _, out var e1));
        Assert.Equal(StunParseError.BadMagicCookie, e1);

        var length = (byte[])Rfc5769Vectors.SampleRequest.Clone();
        length[3] = 0x5c;
        Assert.False(StunMessage.TryParse(length, out _, out var e2));
        Assert.Equal(StunParseError.BadLength, e2);

        var overrun = (byte[])Rfc5769Vectors.SampleRequest.Clone();
        overrun[23] = 0x40; // SOFTWARE claims 64 bytes
        Assert.False(StunMessage.TryParse(overrun, out _, out var e3));
        Assert.Equal(StunParseError.AttributeOverrun, e3);

        var rtp = new byte[40];
        rtp[0] = 0x80;
        Assert.False(StunMessage.TryParse(rtp, out _, out var e4));
        Assert.Equal(StunParseError.NotStun, e4);
    }

    [Fact]
    public void AttributeAfterMessageIntegrityOtherThanFingerprint_IsRefused()
    {
        var buffer = new byte[128];
        var w = new StunWriter(buffer, StunMethod.Binding, StunClass.Request, new byte[12]);
        w.AddMessageIntegrity("k"u8);
        w.AddFlag(StunAttribute.UseCandidate);
        Assert.False(StunMessage.TryParse(w.Written, out _, out var error));
        Assert.Equal(StunParseError.AttributeAfterIntegrity, error);
    }

    [Fact]
    public void UnknownComprehensionRequiredAttribute_IsReportedForA420()
    {
        var buffer = new byte[128];
        var w = new StunWriter(buffer, StunMethod.Binding, StunClass.Request, new byte[12]);
        w.AddUInt32(0x7F01, 1);
        w.AddUInt32(0xC001, 1); // comprehension-optional: ignored
        Assert.True(StunMessage.TryParse(w.Written, out var m, out _));
        Assert.Equal(0x7F01, m.UnknownRequiredAttribute);
    }

    [Fact]
    public void XorAddresses_RoundTripForV4V6AndV4MappedV6()
    {
        foreach (var (given, expected) in new[]
                 {
                     ("203.0.113.45:51234", "203.0.113.45:51234"),
                     ("[2001:db8::1]:443", "[2001:db8::1]:443"),
                     ("[::ffff:192.0.2.7]:3478", "192.0.2.7:3478"),
                 })
        {
            var buffer = new byte[64];
            var w = new StunWriter(buffer, StunMethod.Binding, StunClass.SuccessResponse, Hex("0102030405060708090a0b0c"));
            w.AddXorAddress(StunAttribute.XorMappedAddress, IPEndPoint.Parse(given));
            Assert.True(StunMessage.TryParse(w.Written, out var m, out _));
            Assert.True(m.TryGetXorMappedAddress(out var back));
            Assert.Equal(IPEndPoint.Parse(expected), back);
        }
    }

    [Fact]
    public void MutatedOrRandomDatagrams_NeverThrowAndFailOnlyWithAReason()
    {
        var random = new Random(5769);
        for (var c = 0; c < 20_000; c++)
        {
            var bytes = MutatedOrRandom(c, random, Rfc5769Vectors.All, 200);
            var ok = StunMessage.TryParse(bytes, out var m, out var error);
            Assert.True(ok == (error == StunParseError.None), $"case {c}");
            if (ok)
            {
                _ = m.VerifyIntegrity(ShortTermKey);
                _ = m.TryGetXorMappedAddress(out _);
                _ = m.TryGetErrorCode(out _, out _);
            }
        }
    }

    [Fact]
    public void StreamFraming_EveryPrefixNeedsMoreAndConsumesNothing_ThenOneFramePerMessage()
    {
        var stream = Rfc5769Vectors.SampleRequest.Concat(Rfc5769Vectors.SampleIpv4Response).Concat(Hex("40010005 6869706f70 000000")).ToArray();
        for (var n = 0; n < Rfc5769Vectors.SampleRequest.Length; n++)
        {
            var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(stream, 0, n));
            Assert.Equal(StunFraming.Result.NeedMore, StunFraming.TryReadFrame(ref reader, out _, out _));
            Assert.Equal(0, reader.Consumed);
        }
        foreach (var sequence in new[] { new ReadOnlySequence<byte>(stream), OneBytePerSegment(stream) })
        {
            var reader = new SequenceReader<byte>(sequence);
            Assert.Equal(StunFraming.Result.Frame, StunFraming.TryReadFrame(ref reader, out var f1, out var k1));
            Assert.Equal(StunFraming.FrameKind.Stun, k1);
            Assert.Equal(Rfc5769Vectors.SampleRequest, f1.ToArray());
            Assert.Equal(StunFraming.Result.Frame, StunFraming.TryReadFrame(ref reader, out var f2, out _));
            Assert.Equal(Rfc5769Vectors.SampleIpv4Response, f2.ToArray());
            Assert.Equal(StunFraming.Result.Frame, StunFraming.TryReadFrame(ref reader, out var f3, out var k3));
            Assert.Equal(StunFraming.FrameKind.ChannelData, k3);
            Assert.Equal(12, f3.Length);
            Assert.Equal(0, reader.Remaining);
        }
    }

    [Fact]
    public void StreamFraming_DtlsOrRtpBytesOnATurnStream_AreInvalid()
    {
        foreach (var hex in new[] { "16fefd00000000000000000000", "80600001000000000000000000", "0001000000000000000000000000000000000000" })
        {
            var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(Hex(hex)));
            Assert.Equal(StunFraming.Result.Invalid, StunFraming.TryReadFrame(ref reader, out _, out _));
            Assert.Equal(0, reader.Consumed);
        }
    }
}
