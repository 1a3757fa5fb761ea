using System.Buffers.Binary;
using HikShareGateway.WebRtc.Srtp;
using static HikShareGateway.WebRtc.Tests.Infrastructure.TestBytes;

namespace HikShareGateway.WebRtc.Tests.Srtp;

[Trait("Category", "Unit")]
public sealed class SrtpTests
{
    // RFC 7714 §16/§17: session key, session salt, and the packets they protect.
    private static readonly byte[] GcmKey = Hex("000102030405060708090a0b0c0d0e0f");
    private static readonly byte[] GcmSalt = Hex("517569642070726f2071756f");
    private static readonly byte[] GcmRtp = Hex("8040f17b8041f8d35501a0b247616c6c696120657374206f6d6e697320646976 69736120696e207061727465732074726573");
    private static readonly byte[] GcmSrtp = Hex("8040f17b8041f8d35501a0b2f24de3a3fb34de6cacba861c9d7e4bcabe633bd5 0d294e6f42a5f47a51c7d19b36de3adf8833899d7f27beb16a9152cf765ee439 0cce");
    private static readonly byte[] GcmRtcp = Hex("81c8000d4d6172734e5450314e545032525450200000042a0000e9304c756e61 deadbeefdeadbeefdeadbeefdeadbeefdeadbeef");
    private static readonly byte[] GcmSrtcp = Hex("81c8000d4d61727363e94885dcdab67ca727d7662f6b7e997ff5c0f76c06f32d c676a5f1730d6fda4ce09b4686303ded0bb9275bc84aa45896cf4d2fc5abf872 45d9eade800005d4");
    private static readonly byte[] GcmSrtcpTagOnly = Hex("81c8000d4d6172734e5450314e545032525450200000042a0000e9304c756e61 deadbeefdeadbeefdeadbeefdeadbeefdeadbeef841dd9683dd78ec92ae58790 125f62b3000005d4");

    private static readonly byte[] MasterKey = Hex("E1F97A0D3E018BE0D64FA32C06DE4139");
    private static readonly byte[] MasterSalt = Hex("0EC675AD498AFEEBB6960B3AABE6");

    [Fact]
    public void KeyDerivation_MatchesRfc3711AppendixB3()
    {
        var key = new byte[16];
        var salt = new byte[14];
        var auth = new byte[20];
        SrtpKeyDerivation.Derive(MasterKey, MasterSalt, SrtpKeyDerivation.LabelRtpEncryption, key);
        SrtpKeyDerivation.Derive(MasterKey, MasterSalt, SrtpKeyDerivation.LabelRtpSalt, salt);
        SrtpKeyDerivation.Derive(MasterKey, MasterSalt, SrtpKeyDerivation.LabelRtpAuth, auth);
        Assert.Equal("C61E7A93744F39EE10734AFE3FF7A087", Convert.ToHexString(key));
        Assert.Equal("30CBBC08863D8C85D49DB34A9AE1", Convert.ToHexString(salt));
        Assert.Equal("CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4", Convert.ToHexString(auth));
    }

    [Fact]
    public void AesCmKeystream_MatchesRfc3711AppendixB2()
    {
        using var ctx = SrtpContext.FromSessionKeys(SrtpProfile.AesCm128HmacSha1_80,
            Hex("2B7E151628AED2A6ABF7158809CF4F3C"), Hex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD"), new byte[20]);
        var packet = new byte[12 + 48 + 10];
        packet[0] = 0x80; // SSRC 0, sequence 0, ROC 0: the IV is the salt itself
        ctx.ProtectRtp(packet, 60);
        Assert.Equal("E03EAD0935C95E80E166B16DD92B4EB4D23513162B02D0F72A43A2FE4A5F97AB41E95B3BB0A2E8DD477901E4FCA894C0",
            Convert.ToHexString(packet, 12, 48));
    }

    [Fact]
    public void AeadAes128GcmSrtp_MatchesRfc7714Section16BothWays()
    {
        using var sender = SrtpContext.FromSessionKeys(SrtpProfile.AeadAes128Gcm, GcmKey, GcmSalt, null);
        var buffer = new byte[128];
        GcmRtp.CopyTo(buffer, 0);
        var n = sender.ProtectRtp(buffer, GcmRtp.Length);
        Assert.Equal(Convert.ToHexString(GcmSrtp), Convert.ToHexString(buffer, 0, n));

        using var receiver = SrtpContext.FromSessionKeys(SrtpProfile.AeadAes128Gcm, GcmKey, GcmSalt, null);
        var incoming = (byte[])GcmSrtp.Clone();
        Assert.True(receiver.TryUnprotectRtp(incoming, incoming.Length, out var plain, out var error), error.ToString());
        Assert.Equal(Convert.ToHexString(GcmRtp), Convert.ToHexString(incoming, 0, plain));
    }

    [Fact]
    public void AeadAes128GcmSrtcp_MatchesRfc7714Section17BothWaysAndAcceptsTagOnly()
    {
        using var receiver = SrtpContext.FromSessionKeys(SrtpProfile.AeadAes128Gcm, GcmKey, GcmSalt, null);
        var incoming = (byte[])GcmSrtcp.Clone();
        Assert.True(receiver.TryUnprotectRtcp(incoming, incoming.Length, out var plain, out var error), error.ToString());
        Assert.Equal(Convert.ToHexString(GcmRtcp), Convert.ToHexString(incoming, 0, plain));

        using var tagOnlyReceiver = SrtpContext.FromSessionKeys(SrtpProfile.AeadAes128Gcm, GcmKey, GcmSalt, null);
        var tagged = (byte[])GcmSrtcpTagOnly.Clone();
        Assert.True(tagOnlyReceiver.TryUnprotectRtcp(tagged, tagged.Length, out plain, out error), error.ToString());
        Assert.Equal(Convert.ToHexString(GcmRtcp), Convert.ToHexString(tagged, 0, plain));

        using var sender = SrtpContext.FromSessionKeys(SrtpProfile.AeadAes128Gcm, GcmKey, GcmSalt, null);
        var buffer = new byte[128];
        for (var i = 1; i < 0x5d4; i++) // our index counts from 1; wind it to the vector's 0x5d4
        {
            GcmRtcp.CopyTo(buffer, 0);
            sender.ProtectRtcp(buffer, GcmRtcp.Length);
        }
        GcmRtcp.CopyTo(buffer, 0);
        var n = sender.ProtectRtcp(buffer, GcmRtcp.Length);
        Assert.Equal(Convert.ToHexString(GcmSrtcp), Convert.ToHexString(buffer, 0, n));
    }

    public static TheoryData<SrtpProfile> Profiles => [SrtpProfile.AesCm128HmacSha1_80, SrtpProfile.AeadAes128Gcm];

    private static (SrtpContext Tx, SrtpContext Rx) Pair(SrtpProfile profile)
    {
        var salt = MasterSalt.AsSpan(0, SrtpProfileInfo.MasterSaltLength(profile));
        return (new SrtpContext(profile, MasterKey, salt), new SrtpContext(profile, MasterKey, salt));
    }

    private static int Rtp(byte[] buffer, ushort seq, uint ssrc = 0x11223344, int payload = 100)
    {
        Array.Clear(buffer);
        buffer[0] = 0x80;
        buffer[1] = 96;
        BinaryPrimitives.WriteUInt16BigEndian(buffer.AsSpan(2), seq);
        BinaryPrimitives.WriteUInt32BigEndian(buffer.AsSpan(4), seq * 3000u);
        BinaryPrimitives.WriteUInt32BigEndian(buffer.AsSpan(8), ssrc);
        for (var i = 0; i < payload; i++) buffer[12 + i] = (byte)(seq + i);
        return 12 + payload;
    }

    [Theory]
    [MemberData(nameof(Profiles))]
    public void ProtectedRtpAcrossTheSequenceWrap_UnprotectsToTheSameBytes(SrtpProfile profile)
    {
        var (tx, rx) = Pair(profile);
        using (tx)
        using (rx)
        {
            var buffer = new byte[256];
            var expected = new byte[256];
            for (var i = 0; i < 300; i++)
            {
                var seq = (ushort)(65400 + i); // wraps at i = 136: the ROC must follow on both sides
                var n = Rtp(buffer, seq);
                Rtp(expected, seq);
                var p = tx.ProtectRtp(buffer, n);
                Assert.Equal(n + SrtpProfileInfo.RtpOverhead(profile), p);
                Assert.NotEqual(expected.AsSpan(12, 100).ToArray(), buffer.AsSpan(12, 100).ToArray());
                Assert.True(rx.TryUnprotectRtp(buffer, p, out var plain, out var error), $"{seq}: {error}");
                Assert.Equal(n, plain);
                Assert.Equal(expected.AsSpan(0, n).ToArray(), buffer.AsSpan(0, n).ToArray());
            }
        }
    }

    [Theory]
    [MemberData(nameof(Profiles))]
    public void ProtectedRtcp_UnprotectsToTheSameBytes(SrtpProfile profile)
    {
        var (tx, rx) = Pair(profile);
        using (tx)
        using (rx)
        {
            var rtcp = Hex("80c800064d617273 0000000100000002 0000000300000004 00000005");
            var buffer = new byte[128];
            for (var i = 0; i < 5; i++)
            {
                rtcp.CopyTo(buffer, 0);
                var p = tx.ProtectRtcp(buffer, rtcp.Length);
                Assert.Equal(rtcp.Length + SrtpProfileInfo.RtcpOverhead(profile), p);
                Assert.True(rx.TryUnprotectRtcp(buffer, p, out var plain, out var error), error.ToString());
                Assert.Equal(rtcp, buffer.AsSpan(0, plain).ToArray());
            }
        }
    }

    [Theory]
    [MemberData(nameof(Profiles))]
    public void AlteredPacket_IsABadTagAndDoesNotMoveTheReplayWindow(SrtpProfile profile)
    {
        var (tx, rx) = Pair(profile);
        using (tx)
        using (rx)
        {
            var buffer = new byte[256];
            var p = tx.ProtectRtp(buffer, Rtp(buffer, 10));
            var genuine = buffer.AsSpan(0, p).ToArray();
            foreach (var at in new[] { 1, 5, 20, p - 1 })
            {
                var forged = (byte[])genuine.Clone();
                forged[at] ^= 0x01;
                Assert.False(rx.TryUnprotectRtp(forged, forged.Length, out _, out var error));
                Assert.Equal(SrtpError.BadTag, error);
            }
            Assert.True(rx.TryUnprotectRtp(genuine, genuine.Length, out _, out _));

            var rtcp = Hex("80c8000111223344");
            rtcp.CopyTo(buffer, 0);
            p = tx.ProtectRtcp(buffer, rtcp.Length);
            buffer[9] ^= 0x80;
            Assert.False(rx.TryUnprotectRtcp(buffer, p, out _, out var rtcpError));
            Assert.Equal(SrtpError.BadTag, rtcpError);
        }
    }

    [Theory]
    [MemberData(nameof(Profiles))]
    public void ReplayedOrTooOldPackets_AreRefusedAndReorderedOnesInsideTheWindowAccepted(SrtpProfile profile)
    {
        var (tx, rx) = Pair(profile);
        using (tx)
        using (rx)
        {
            var packets = new byte[400][];
            var buffer = new byte[256];
            for (var i = 0; i < packets.Length; i++)
            {
                var p = tx.ProtectRtp(buffer, Rtp(buffer, (ushort)(1000 + i)));
                packets[i] = buffer.AsSpan(0, p).ToArray();
            }
            bool Open(int i, out SrtpError e)
            {
                var copy = (byte[])packets[i].Clone();
                return rx.TryUnprotectRtp(copy, copy.Length, out _, out e);
            }
            Assert.True(Open(300, out _));
            Assert.True(Open(250, out _));   // 50 behind: reordered, accepted once
            Assert.False(Open(250, out var e1));
            Assert.Equal(SrtpError.Replayed, e1);
            Assert.False(Open(300, out var e2));
            Assert.Equal(SrtpError.Replayed, e2);
            Assert.True(Open(300 - ReplayWindow.Size + 1, out _)); // the oldest the window still holds
            Assert.False(Open(300 - ReplayWindow.Size, out var e3));
            Assert.Equal(SrtpError.TooOld, e3);
            Assert.True(Open(399, out _));
            Assert.True(Open(299, out _)); // now 100 behind and never seen: accepted
            Assert.False(Open(299, out var e4));
            Assert.Equal(SrtpError.Replayed, e4);
        }
    }

    [Fact]
    public void MalformedInput_IsRefusedAsMalformed()
    {
        var (tx, rx) = Pair(SrtpProfile.AesCm128HmacSha1_80);
        using (tx)
        using (rx)
        {
            foreach (var bytes in new[] { Hex("8060"), Hex("8060000100000001000000010102030405060708090a"), Hex("00600001000000010000000100000000000000000000000000"), Hex("9060000100000001000000010000ffff00000000000000000000000000") })
            {
                Assert.False(rx.TryUnprotectRtp(bytes, bytes.Length, out _, out var error), Convert.ToHexString(bytes));
                Assert.True(error is SrtpError.Malformed or SrtpError.BadTag, error.ToString());
            }
            var shortRtcp = Hex("80c8000111223344");
            Assert.False(rx.TryUnprotectRtcp(shortRtcp, shortRtcp.Length, out _, out var rtcpError));
            Assert.Equal(SrtpError.Malformed, rtcpError);
        }
    }

    [Fact]
    public void MoreSsrcsThanAContextTracks_AreRefused()
    {
        var (tx, rx) = Pair(SrtpProfile.AeadAes128Gcm);
        using (tx)
        using (rx)
        {
            var buffer = new byte[256];
            for (uint s = 1; s <= SrtpContext.MaxStreams; s++)
            {
                var p = tx.ProtectRtp(buffer, Rtp(buffer, 1, s));
                Assert.True(rx.TryUnprotectRtp(buffer, p, out _, out _));
            }
            using var other = new SrtpContext(SrtpProfile.AeadAes128Gcm, MasterKey, MasterSalt.AsSpan(0, 12));
            var q = other.ProtectRtp(buffer, Rtp(buffer, 1, 999));
            Assert.False(rx.TryUnprotectRtp(buffer, q, out _, out var error));
            Assert.Equal(SrtpError.TooManyStreams, error);
        }
    }

    [Fact]
    public void ForgedPacketsWithNewSsrcs_DoNotTakeStreamSlots()
    {
        var (tx, rx) = Pair(SrtpProfile.AeadAes128Gcm);
        using (tx)
        using (rx)
        {
            var buffer = new byte[256];
            for (uint s = 100; s < 100 + 3 * SrtpContext.MaxStreams; s++)
            {
                var forged = Rtp(buffer, 1, s) + SrtpProfileInfo.RtpOverhead(SrtpProfile.AeadAes128Gcm); // zero tag: not ours
                Assert.False(rx.TryUnprotectRtp(buffer, forged, out _, out var error));
                Assert.Equal(SrtpError.BadTag, error);
            }
            var p = tx.ProtectRtp(buffer, Rtp(buffer, 1, 7));
            Assert.True(rx.TryUnprotectRtp(buffer, p, out _, out var genuine), genuine.ToString());
        }
    }

    [Fact]
    public void MutatedOrRandomPackets_NeverThrowOnUnprotect()
    {
        var (tx, rx) = Pair(SrtpProfile.AesCm128HmacSha1_80);
        var (gtx, grx) = Pair(SrtpProfile.AeadAes128Gcm);
        var buffer = new byte[256];
        var seeds = new[] { tx.ProtectRtp(buffer, Rtp(buffer, 5)) }.Select(n => buffer.AsSpan(0, n).ToArray())
            .Append(GcmSrtp).Append(GcmSrtcp).ToArray();
        var random = new Random(3711);
        for (var c = 0; c < 5000; c++)
        {
            var bytes = MutatedOrRandom(c, random, seeds, 120);
            var copy = (byte[])bytes.Clone();
            _ = rx.TryUnprotectRtp(bytes, bytes.Length, out _, out _);
            _ = grx.TryUnprotectRtcp(copy, copy.Length, out _, out _);
        }
        tx.Dispose(); rx.Dispose(); gtx.Dispose(); grx.Dispose();
    }

    [Theory]
    [MemberData(nameof(Profiles))]
    public void TenThousandPackets_ProtectAndUnprotectWithoutAllocating(SrtpProfile profile)
    {
        var (tx, rx) = Pair(profile);
        using (tx)
        using (rx)
        {
            var buffer = new byte[1500];
            var rtcp = Hex("80c800064d617273 0000000100000002 0000000300000004 00000005");
            void Run(int from, int count)
            {
                for (var i = from; i < from + count; i++)
                {
                    var n = Rtp(buffer, (ushort)i, payload: 1100);
                    var p = tx.ProtectRtp(buffer, n);
                    if (!rx.TryUnprotectRtp(buffer, p, out _, out _)) throw new InvalidOperationException("unprotect failed");
                    if (i % 50 == 0)
                    {
                        rtcp.CopyTo(buffer, 0);
                        p = tx.ProtectRtcp(buffer, rtcp.Length);
                        if (!rx.TryUnprotectRtcp(buffer, p, out _, out _)) throw new InvalidOperationException("rtcp failed");
                    }
                }
            }
            Run(0, 200); // warm-up: JIT, lazy crypto state
            var before = GC.GetAllocatedBytesForCurrentThread();
            Run(200, 10_000);
            var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.True(allocated == 0, $"{profile}: {allocated} bytes allocated over 10k packets");
        }
    }
}
