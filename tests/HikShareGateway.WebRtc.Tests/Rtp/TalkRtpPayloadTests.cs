namespace HikShareGateway.WebRtc.Tests.Rtp;

/// <summary>The viewer's talk RTP (RFC 3550 §5.1): the payload found after CSRCs and an RFC 8285 extension, before padding.</summary>
[Trait("Category", "Unit")]
public sealed class TalkRtpPayloadTests
{
    private static readonly byte[] Payload = [0xFF, 0x7F, 0x00, 0x80];

    /// <summary>V=2, one CSRC, a one-byte-header extension of one word, 2 bytes of padding.</summary>
    private static byte[] Packet()
    {
        byte[] header = [0xB1, 0x00, 0x00, 0x01, 0, 0, 0, 160, 1, 2, 3, 4];
        byte[] csrc = [9, 9, 9, 9];
        byte[] extension = [0xBE, 0xDE, 0x00, 0x01, 0x10, 0xAA, 0x00, 0x00];
        byte[] padding = [0x00, 0x02];
        return [.. header, .. csrc, .. extension, .. Payload, .. padding];
    }

    [Fact]
    public void CsrcExtensionAndPadding_AreSkipped()
    {
        var p = Packet();
        Assert.True(WebRtcSession.TryRtpPayload(p, out var offset, out var length));
        Assert.Equal(Payload, p.AsSpan(offset, length).ToArray());
    }

    [Fact]
    public void PlainPacket_PayloadAfterTwelveBytes()
    {
        byte[] p = [0x80, 0x00, 0x00, 0x01, 0, 0, 0, 160, 1, 2, 3, 4, .. Payload];
        Assert.True(WebRtcSession.TryRtpPayload(p, out var offset, out var length));
        Assert.Equal((12, 4), (offset, length));
    }

    [Fact]
    public void EveryPrefix_IsRefusedOrInsideThePacket_NeverOutOfRange()
    {
        var p = Packet();
        for (var n = 0; n < p.Length; n++)
        {
            // A truncated packet is refused or, once its padding byte is cut away, read within its own bounds.
            if (WebRtcSession.TryRtpPayload(p.AsSpan(0, n), out var offset, out var length))
            {
                Assert.InRange(offset + length, 0, n);
                Assert.True(length > 0);
            }
        }
        Assert.False(WebRtcSession.TryRtpPayload(p.AsSpan(0, 11), out _, out _));
    }

    [Fact]
    public void WrongVersion_OrPaddingLongerThanThePayload_IsRefused()
    {
        var p = Packet();
        p[0] = (byte)(p[0] & 0x3F); // version 0
        Assert.False(WebRtcSession.TryRtpPayload(p, out _, out _));
        var q = Packet();
        q[^1] = 200;
        Assert.False(WebRtcSession.TryRtpPayload(q, out _, out _));
    }
}
