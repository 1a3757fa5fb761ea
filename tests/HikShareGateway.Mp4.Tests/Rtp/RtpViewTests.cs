using HikShareGateway.Mp4.Rtp;
using HikShareGateway.Mp4.Tests.Infrastructure;

namespace HikShareGateway.Mp4.Tests.Rtp;

[Trait("Category", "Unit")]
public sealed class RtpViewTests
{
    [Fact]
    public void Header_WithCsrcsExtensionAndPadding_GivesFieldsAndTheBarePayload()
    {
        byte[] packet =
        [
            0xB1, 0xE0, 0x12, 0x34, 0xDE, 0xAD, 0xBE, 0xEF, 0x01, 0x02, 0x03, 0x04, // V=2 P X CC=1, M, PT 96
            0xCA, 0xFE, 0xCA, 0xFE, // one CSRC
            0xBE, 0xDE, 0x00, 0x01, 0x11, 0x22, 0x33, 0x44, // extension of one word
            0x65, 0x88, // payload
            0x00, 0x00, 0x03, // padding, its count last
        ];

        Assert.True(RtpView.TryRead(packet, out RtpView view));

        Assert.True(view.Marker);
        Assert.Equal(96, view.PayloadType);
        Assert.Equal(0x1234, view.SequenceNumber);
        Assert.Equal(0xDEADBEEFu, view.Timestamp);
        Assert.Equal(0x01020304u, view.Ssrc);
        Assert.Equal([0x65, 0x88], view.Payload.ToArray());
    }

    [Fact]
    public void EveryPrefixOfAPacket_NeverThrows_AndNoneShorterThanTheHeaderReads()
    {
        byte[] packet = new TestPacketizer(h265: false).Rtp([0x65, 1, 2, 3, 4], 90_000, marker: true);
        for (int length = 0; length <= packet.Length; length++)
        {
            Assert.Equal(length >= 12, RtpView.TryRead(packet.AsSpan(0, length), out _));
        }
    }

    [Fact]
    public void PaddingOrExtensionLongerThanThePacket_IsRejected()
    {
        byte[] padding = [0xA0, 0x60, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0x65, 200];
        byte[] extension = [0x90, 0x60, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0xBE, 0xDE, 0x00, 0x09, 0x65];

        Assert.False(RtpView.TryRead(padding, out _));
        Assert.False(RtpView.TryRead(extension, out _));
        Assert.False(RtpView.TryRead([0x40, 0x60, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0x65], out _)); // version 1
    }
}
