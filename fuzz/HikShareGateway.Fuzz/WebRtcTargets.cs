using System.Buffers;
using HikShareGateway.WebRtc.Dtls;
using HikShareGateway.WebRtc.Rtp;
using HikShareGateway.WebRtc.Sdp;
using HikShareGateway.WebRtc.Srtp;
using HikShareGateway.WebRtc.Stun;

namespace HikShareGateway.Fuzz;

/// <summary>
/// The WebRTC parsers that read what a browser (or anyone on the UDP port) sends: STUN and TURN framing, the SDP offer,
/// RTCP feedback, SRTP/SRTCP unprotect with a fixed key, and the DTLS record check in front of the DTLS stack.
/// </summary>
public static class WebRtcTargets
{
    /// <summary>A STUN datagram (and its attributes), and the same bytes as a stream of STUN/ChannelData frames (TURN over TCP).</summary>
    public static void Stun(byte[] input)
    {
        _ = StunMessage.LooksLikeStun(input);
        if (StunMessage.TryParse(input, out var m, out _))
        {
            _ = m.Username.Length + m.Realm.Length + m.Nonce.Length;
            _ = m.VerifyIntegrity("fuzz-ice-password"u8);
            _ = m.TryGetXorMappedAddress(out _);
            _ = m.TryGetErrorCode(out _, out _);
        }
        var sequence = new ReadOnlySequence<byte>(input);
        for (var guard = 0; guard <= input.Length && !sequence.IsEmpty; guard++)
        {
            var reader = new SequenceReader<byte>(sequence);
            if (StunFraming.TryReadFrame(ref reader, out _, out _) != StunFraming.Result.Frame)
            {
                return;
            }
            sequence = sequence.Slice(reader.Position);
        }
    }

    /// <summary>A browser's SDP offer through the parser and the negotiation against an H.264 + PCMU source.</summary>
    public static void SdpOffer(byte[] input)
    {
        if (SdpOfferParser.TryParse(input, out var offer, out _))
        {
            _ = SdpNegotiator.TryNegotiate(offer, FuzzSource.Value, out _, out _);
        }
    }

    /// <summary>A decrypted compound RTCP packet (receiver reports, NACK, PLI, FIR, and what is skipped).</summary>
    public static void Rtcp(byte[] input) => _ = RtcpFeedbackParser.TryParse(input, NoFeedback.Instance, out _);

    /// <summary>
    /// SRTP with a fixed key: the first byte picks the profile and the mode. Unprotect of arbitrary bytes (what anyone
    /// can send to the port: header parsing, replay check, tag check), and a protect → unprotect round trip of a
    /// well-formed packet (index and ROC estimation, then the payload must come back unchanged).
    /// </summary>
    public static void Srtp(byte[] input)
    {
        if (input.Length < 1)
        {
            return;
        }
        var profile = (input[0] & 1) == 0 ? SrtpProfile.AesCm128HmacSha1_80 : SrtpProfile.AeadAes128Gcm;
        var mode = (input[0] >> 1) & 3;
        var body = input.AsSpan(1);
        var buffer = new byte[body.Length + 64];
        body.CopyTo(buffer);
        switch (mode)
        {
            // Arbitrary bytes go to one receiver kept per profile (deriving the session keys is most of an
            // execution's cost). Its replay state moves only for a packet whose tag verifies, which random bytes
            // do not produce.
            case 0:
                _ = Receiver(profile).TryUnprotectRtp(buffer, body.Length, out _, out _);
                break;
            case 1:
                _ = Receiver(profile).TryUnprotectRtcp(buffer, body.Length, out _, out _);
                break;
            default:
                var rtcp = mode == 3;
                if (body.Length < (rtcp ? 8 : 12))
                {
                    return;
                }
                // Our own packets only: version 2; RTP without CSRCs or extension, RTCP as a sender report.
                buffer[0] = 0x80;
                buffer[1] = rtcp ? (byte)200 : (byte)(buffer[1] & 0x7F);
                var plain = buffer.AsSpan(0, body.Length).ToArray();
                using (var receiver = Context(profile))
                using (var sender = Context(profile))
                {
                    var length = rtcp ? sender.ProtectRtcp(buffer, body.Length) : sender.ProtectRtp(buffer, body.Length);
                    var ok = rtcp ? receiver.TryUnprotectRtcp(buffer, length, out var n, out var error) : receiver.TryUnprotectRtp(buffer, length, out n, out error);
                    if (!ok || n != plain.Length || !buffer.AsSpan(0, n).SequenceEqual(plain))
                    {
                        throw new InvalidOperationException($"SRTP round trip failed ({profile}, rtcp {rtcp}): {error}, {n} of {plain.Length} bytes");
                    }
                }
                break;
        }
    }

    /// <summary>The cheap DTLS record-header check every non-STUN, non-RTP datagram goes through.</summary>
    public static void DtlsRecord(byte[] input) => _ = DtlsRecordCheck.IsPlausible(input);

    private static readonly Lazy<SrtpContext> CmReceiver = new(() => Context(SrtpProfile.AesCm128HmacSha1_80));
    private static readonly Lazy<SrtpContext> GcmReceiver = new(() => Context(SrtpProfile.AeadAes128Gcm));

    private static SrtpContext Receiver(SrtpProfile profile) =>
        profile == SrtpProfile.AeadAes128Gcm ? GcmReceiver.Value : CmReceiver.Value;

    private static SrtpContext Context(SrtpProfile profile) =>
        new(profile, MasterKey, MasterSalt.AsSpan(0, SrtpProfileInfo.MasterSaltLength(profile)));

    private static readonly byte[] MasterKey = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];
    private static readonly byte[] MasterSalt = [21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34];

    private static readonly Lazy<SourceMedia> FuzzSource = new(() => new SourceMedia(new SourceVideo("H264", new H264Profile(0x42, 0xE0, 0x1F)), new SourceAudio("PCMU")));

    private sealed class NoFeedback : IRtcpFeedbackHandler
    {
        public static readonly NoFeedback Instance = new();
        public void OnNack(uint mediaSsrc, ushort sequence) { }
        public void OnPli(uint mediaSsrc) { }
        public void OnFir(uint mediaSsrc, byte sequenceNumber) { }
        public void OnReceiverReport(uint sourceSsrc, byte fractionLost, int cumulativeLost, uint jitter) { }
    }
}
