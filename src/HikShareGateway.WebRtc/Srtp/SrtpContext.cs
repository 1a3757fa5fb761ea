using System.Buffers.Binary;
using System.Security.Cryptography;
using HikShareGateway.Core.Crypto;

namespace HikShareGateway.WebRtc.Srtp;

/// <summary>
/// One direction of SRTP and SRTCP for a DTLS association (RFC 3711, RFC 7714): protects what we send or
/// unprotects what we receive, in place in the caller's buffer. No allocation per packet: the AES and HMAC
/// objects and the keystream scratch belong to the context. Not thread-safe: each direction of a session
/// has its own context, used by the one thread that sends (or receives) for it.
/// </summary>
public sealed class SrtpContext : IDisposable
{
    /// <summary>SSRCs tracked per context (video, audio, RTX, a few spares). More is refused.</summary>
    public const int MaxStreams = 8;

    private const int HmacTagLength = 10;
    private const int GcmTagLength = 16;
    private const int ScratchBlocks = 128; // 2 KiB of keystream per AES call

    private readonly SrtpProfile _profile;
    private readonly Keys _rtp, _rtcp;
    private readonly Stream[] _streams = new Stream[MaxStreams];
    private int _streamCount;
    private readonly byte[] _counters = new byte[ScratchBlocks * 16];
    private readonly byte[] _keystream = new byte[ScratchBlocks * 16];
    private bool _disposed;

    public SrtpProfile Profile => _profile;

    private sealed class Keys : IDisposable
    {
        public byte[] Salt = [];
        public Aes? Ecb;
        public ICryptoTransform? EcbEncryptor;
        public IncrementalHash? Hmac;
        // AEAD_AES_128_GCM through OpenSSL's EVP directly: about 1 µs less per packet than the framework's AesGcm.
        public AeadCipher? Gcm;

        public void Dispose()
        {
            EcbEncryptor?.Dispose();
            Ecb?.Dispose();
            Hmac?.Dispose();
            Gcm?.Dispose();
        }
    }

    private struct Stream
    {
        public uint Ssrc;
        // RTP: rollover counter and highest sequence number (RFC 3711 §3.3.1).
        public uint Roc;
        public ushort HighestSeq;
        public bool RtpStarted;
        public ReplayWindow RtpReplay;
        // RTCP: last index sent, replay window of indexes received.
        public uint RtcpIndex;
        public ReplayWindow RtcpReplay;
    }

    /// <summary>From the master key and salt (what DTLS-SRTP exports), through the RFC 3711 KDF.</summary>
    public SrtpContext(SrtpProfile profile, ReadOnlySpan<byte> masterKey, ReadOnlySpan<byte> masterSalt)
    {
        if (masterKey.Length != SrtpProfileInfo.MasterKeyLength(profile)) throw new ArgumentException("Wrong master key length.", nameof(masterKey));
        if (masterSalt.Length != SrtpProfileInfo.MasterSaltLength(profile)) throw new ArgumentException("Wrong master salt length.", nameof(masterSalt));
        _profile = profile;
        _rtp = DeriveKeys(profile, masterKey, masterSalt, SrtpKeyDerivation.LabelRtpEncryption);
        _rtcp = DeriveKeys(profile, masterKey, masterSalt, SrtpKeyDerivation.LabelRtcpEncryption);
    }

    private SrtpContext(SrtpProfile profile, Keys rtp, Keys rtcp)
    {
        _profile = profile;
        _rtp = rtp;
        _rtcp = rtcp;
    }

    /// <summary>From session keys directly (the RFC 7714 test vectors are given that way). Auth key only for AES-CM.</summary>
    internal static SrtpContext FromSessionKeys(SrtpProfile profile, byte[] key, byte[] salt, byte[]? authKey)
        => new(profile, MakeKeys(profile, key, salt, authKey), MakeKeys(profile, key, salt, authKey));

    private static Keys DeriveKeys(SrtpProfile profile, ReadOnlySpan<byte> masterKey, ReadOnlySpan<byte> masterSalt, byte encryptionLabel)
    {
        var key = new byte[16];
        var salt = new byte[profile == SrtpProfile.AeadAes128Gcm ? 12 : 14];
        SrtpKeyDerivation.Derive(masterKey, masterSalt, encryptionLabel, key);
        SrtpKeyDerivation.Derive(masterKey, masterSalt, (byte)(encryptionLabel + 2), salt);
        byte[]? auth = null;
        if (profile == SrtpProfile.AesCm128HmacSha1_80)
        {
            auth = new byte[20];
            SrtpKeyDerivation.Derive(masterKey, masterSalt, (byte)(encryptionLabel + 1), auth);
        }
        var keys = MakeKeys(profile, key, salt, auth);
        CryptographicOperations.ZeroMemory(key);
        if (auth is not null) CryptographicOperations.ZeroMemory(auth);
        return keys;
    }

    private static Keys MakeKeys(SrtpProfile profile, byte[] key, byte[] salt, byte[]? authKey)
    {
        var k = new Keys { Salt = (byte[])salt.Clone() };
        if (profile == SrtpProfile.AeadAes128Gcm)
        {
            k.Gcm = new AeadCipher(AeadAlgorithm.AesGcm, key);
        }
        else
        {
            k.Ecb = Aes.Create();
            k.Ecb.Key = key;
            k.Ecb.Mode = CipherMode.ECB;
            k.Ecb.Padding = PaddingMode.None;
            // A reused ECB transform has no chaining state and, unlike the one-shot EncryptEcb, allocates nothing per call.
            k.EcbEncryptor = k.Ecb.CreateEncryptor();
            k.Hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA1, authKey ?? throw new ArgumentNullException(nameof(authKey)));
        }
        return k;
    }

    // ---------------------------------------------------------------- RTP

    /// <summary>
    /// Encrypts and authenticates the RTP packet in <c>buffer[..length]</c> in place and appends the tag; returns
    /// the new length. The buffer must have <see cref="SrtpProfileInfo.RtpOverhead"/> bytes of room after it.
    /// </summary>
    public int ProtectRtp(Span<byte> buffer, int length)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!TryRtpHeaderLength(buffer[..length], out var header)) throw new ArgumentException("Not an RTP packet.", nameof(buffer));
        if (buffer.Length < length + SrtpProfileInfo.RtpOverhead(_profile)) throw new ArgumentException("No room for the SRTP tag.", nameof(buffer));
        var ssrc = BinaryPrimitives.ReadUInt32BigEndian(buffer[8..]);
        var seq = BinaryPrimitives.ReadUInt16BigEndian(buffer[2..]);
        var s = FindOrAddStream(ssrc);
        if (s < 0) throw new InvalidOperationException("Too many SSRCs on one SRTP context.");
        ref var st = ref _streams[s];
        var roc = EstimateRoc(ref st, seq);
        UpdateRoc(ref st, seq, roc);

        if (_profile == SrtpProfile.AeadAes128Gcm)
        {
            Span<byte> nonce = stackalloc byte[12];
            RtpGcmNonce(nonce, ssrc, roc, seq);
            var payload = buffer[header..length];
            _rtp.Gcm!.Encrypt(nonce, payload, payload, buffer.Slice(length, GcmTagLength), buffer[..header]);
            return length + GcmTagLength;
        }

        Span<byte> iv = stackalloc byte[16];
        CmIv(iv, _rtp.Salt, ssrc, ((ulong)roc << 16) | seq);
        XorKeystream(_rtp.EcbEncryptor!, iv, buffer[header..length]);
        // RFC 3711 §4.2: the tag covers the packet and the ROC, which is not sent.
        var hmac = _rtp.Hmac!;
        hmac.AppendData(buffer[..length]);
        Span<byte> rocBytes = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(rocBytes, roc);
        hmac.AppendData(rocBytes);
        Span<byte> mac = stackalloc byte[20];
        hmac.GetHashAndReset(mac);
        mac[..HmacTagLength].CopyTo(buffer[length..]);
        return length + HmacTagLength;
    }

    /// <summary>
    /// Checks and decrypts an SRTP packet in place; on success <paramref name="plainLength"/> is the RTP length.
    /// The replay window moves only for packets that authenticate.
    /// </summary>
    public bool TryUnprotectRtp(Span<byte> buffer, int length, out int plainLength, out SrtpError error)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        plainLength = 0;
        var tagLength = SrtpProfileInfo.RtpOverhead(_profile);
        if (length - tagLength < 12 || !TryRtpHeaderLength(buffer[..(length - tagLength)], out var header))
        {
            error = SrtpError.Malformed;
            return false;
        }
        var ssrc = BinaryPrimitives.ReadUInt32BigEndian(buffer[8..]);
        var seq = BinaryPrimitives.ReadUInt16BigEndian(buffer[2..]);
        // A stream is added only once a packet of it authenticates: forged SSRCs must not take the slots.
        var s = FindStream(ssrc);
        if (s < 0 && _streamCount == MaxStreams) { error = SrtpError.TooManyStreams; return false; }
        var fresh = new Stream { Ssrc = ssrc };
        ref var st = ref (s >= 0 ? ref _streams[s] : ref fresh);
        var roc = st.RtpStarted ? EstimateRoc(ref st, seq) : 0u;
        var index = ((ulong)roc << 16) | seq;
        error = st.RtpStarted ? st.RtpReplay.Check(index) : SrtpError.None;
        if (error != SrtpError.None) return false;
        var body = length - tagLength;

        if (_profile == SrtpProfile.AeadAes128Gcm)
        {
            Span<byte> nonce = stackalloc byte[12];
            RtpGcmNonce(nonce, ssrc, roc, seq);
            var payload = buffer[header..body];
            try
            {
                _rtp.Gcm!.Decrypt(nonce, payload, buffer.Slice(body, GcmTagLength), payload, buffer[..header]);
            }
            catch (AuthenticationTagMismatchException)
            {
                error = SrtpError.BadTag;
                return false;
            }
        }
        else
        {
            var hmac = _rtp.Hmac!;
            hmac.AppendData(buffer[..body]);
            Span<byte> rocBytes = stackalloc byte[4];
            BinaryPrimitives.WriteUInt32BigEndian(rocBytes, roc);
            hmac.AppendData(rocBytes);
            Span<byte> mac = stackalloc byte[20];
            hmac.GetHashAndReset(mac);
            if (!CryptographicOperations.FixedTimeEquals(mac[..HmacTagLength], buffer.Slice(body, HmacTagLength)))
            {
                error = SrtpError.BadTag;
                return false;
            }
            Span<byte> iv = stackalloc byte[16];
            CmIv(iv, _rtp.Salt, ssrc, index);
            XorKeystream(_rtp.EcbEncryptor!, iv, buffer[header..body]);
        }
        if (!st.RtpStarted)
        {
            st.RtpStarted = true;
            st.HighestSeq = seq;
            st.Roc = 0;
        }
        UpdateRoc(ref st, seq, roc);
        st.RtpReplay.Accept(index);
        if (s < 0) _streams[_streamCount++] = st;
        plainLength = body;
        error = SrtpError.None;
        return true;
    }

    // ---------------------------------------------------------------- RTCP

    /// <summary>Protects a (compound) RTCP packet in place: encrypts after the first 8 bytes, appends tag and E||index.</summary>
    public int ProtectRtcp(Span<byte> buffer, int length)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (length < 8 || (buffer[0] >> 6) != 2) throw new ArgumentException("Not an RTCP packet.", nameof(buffer));
        if (buffer.Length < length + SrtpProfileInfo.RtcpOverhead(_profile)) throw new ArgumentException("No room for the SRTCP trailer.", nameof(buffer));
        var ssrc = BinaryPrimitives.ReadUInt32BigEndian(buffer[4..]);
        var s = FindOrAddStream(ssrc);
        if (s < 0) throw new InvalidOperationException("Too many SSRCs on one SRTP context.");
        ref var st = ref _streams[s];
        st.RtcpIndex = (st.RtcpIndex + 1) & 0x7FFFFFFF;
        var index = st.RtcpIndex;
        var eIndex = 0x80000000u | index;

        if (_profile == SrtpProfile.AeadAes128Gcm)
        {
            // RFC 7714 §9: AAD = first 8 bytes || E||index; trailer = tag, then E||index.
            Span<byte> nonce = stackalloc byte[12];
            RtcpGcmNonce(nonce, ssrc, index);
            Span<byte> aad = stackalloc byte[12];
            buffer[..8].CopyTo(aad);
            BinaryPrimitives.WriteUInt32BigEndian(aad[8..], eIndex);
            var payload = buffer[8..length];
            _rtcp.Gcm!.Encrypt(nonce, payload, payload, buffer.Slice(length, GcmTagLength), aad);
            BinaryPrimitives.WriteUInt32BigEndian(buffer[(length + GcmTagLength)..], eIndex);
            return length + GcmTagLength + 4;
        }

        Span<byte> iv = stackalloc byte[16];
        CmIv(iv, _rtcp.Salt, ssrc, index);
        XorKeystream(_rtcp.EcbEncryptor!, iv, buffer[8..length]);
        BinaryPrimitives.WriteUInt32BigEndian(buffer[length..], eIndex);
        var hmac = _rtcp.Hmac!;
        hmac.AppendData(buffer[..(length + 4)]);
        Span<byte> mac = stackalloc byte[20];
        hmac.GetHashAndReset(mac);
        mac[..HmacTagLength].CopyTo(buffer[(length + 4)..]);
        return length + 4 + HmacTagLength;
    }

    /// <summary>Checks and decrypts an SRTCP packet in place (E=0 packets are authenticated only, RFC 3711 §3.4).</summary>
    public bool TryUnprotectRtcp(Span<byte> buffer, int length, out int plainLength, out SrtpError error)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        plainLength = 0;
        var overhead = SrtpProfileInfo.RtcpOverhead(_profile);
        if (length < 8 + overhead || (buffer[0] >> 6) != 2) { error = SrtpError.Malformed; return false; }
        var ssrc = BinaryPrimitives.ReadUInt32BigEndian(buffer[4..]);
        var s = FindStream(ssrc);
        if (s < 0 && _streamCount == MaxStreams) { error = SrtpError.TooManyStreams; return false; }
        var fresh = new Stream { Ssrc = ssrc };
        ref var st = ref (s >= 0 ? ref _streams[s] : ref fresh);
        var body = length - overhead;
        uint eIndex;
        if (_profile == SrtpProfile.AeadAes128Gcm)
        {
            eIndex = BinaryPrimitives.ReadUInt32BigEndian(buffer[(length - 4)..]);
        }
        else
        {
            eIndex = BinaryPrimitives.ReadUInt32BigEndian(buffer[body..]);
        }
        var index = eIndex & 0x7FFFFFFF;
        var encrypted = (eIndex & 0x80000000) != 0;
        error = st.RtcpReplay.Check(index);
        if (error != SrtpError.None) return false;

        if (_profile == SrtpProfile.AeadAes128Gcm)
        {
            Span<byte> nonce = stackalloc byte[12];
            RtcpGcmNonce(nonce, ssrc, index);
            var tag = buffer.Slice(body, GcmTagLength);
            try
            {
                if (encrypted)
                {
                    Span<byte> aad = stackalloc byte[12];
                    buffer[..8].CopyTo(aad);
                    BinaryPrimitives.WriteUInt32BigEndian(aad[8..], eIndex);
                    var payload = buffer[8..body];
                    _rtcp.Gcm!.Decrypt(nonce, payload, tag, payload, aad);
                }
                else
                {
                    // RFC 7714 §9.1: unencrypted, the whole packet and E||index are AAD of an empty plaintext.
                    Span<byte> aad = stackalloc byte[body + 4];
                    buffer[..body].CopyTo(aad);
                    BinaryPrimitives.WriteUInt32BigEndian(aad[body..], eIndex);
                    _rtcp.Gcm!.Decrypt(nonce, ReadOnlySpan<byte>.Empty, tag, Span<byte>.Empty, aad);
                }
            }
            catch (AuthenticationTagMismatchException)
            {
                error = SrtpError.BadTag;
                return false;
            }
        }
        else
        {
            var hmac = _rtcp.Hmac!;
            hmac.AppendData(buffer[..(body + 4)]);
            Span<byte> mac = stackalloc byte[20];
            hmac.GetHashAndReset(mac);
            if (!CryptographicOperations.FixedTimeEquals(mac[..HmacTagLength], buffer.Slice(body + 4, HmacTagLength)))
            {
                error = SrtpError.BadTag;
                return false;
            }
            if (encrypted)
            {
                Span<byte> iv = stackalloc byte[16];
                CmIv(iv, _rtcp.Salt, ssrc, index);
                XorKeystream(_rtcp.EcbEncryptor!, iv, buffer[8..body]);
            }
        }
        st.RtcpReplay.Accept(index);
        if (s < 0) _streams[_streamCount++] = st;
        plainLength = body;
        error = SrtpError.None;
        return true;
    }

    // ---------------------------------------------------------------- helpers

    /// <summary>Fixed header, CSRCs and the header extension (RFC 3550 §5.1, §5.3.1).</summary>
    internal static bool TryRtpHeaderLength(ReadOnlySpan<byte> packet, out int header)
    {
        header = 0;
        if (packet.Length < 12 || (packet[0] >> 6) != 2) return false;
        header = 12 + 4 * (packet[0] & 0x0F);
        if ((packet[0] & 0x10) != 0)
        {
            if (packet.Length < header + 4) return false;
            header += 4 + 4 * BinaryPrimitives.ReadUInt16BigEndian(packet[(header + 2)..]);
        }
        return header <= packet.Length;
    }

    private int FindStream(uint ssrc)
    {
        for (var i = 0; i < _streamCount; i++) if (_streams[i].Ssrc == ssrc) return i;
        return -1;
    }

    private int FindOrAddStream(uint ssrc)
    {
        var found = FindStream(ssrc);
        if (found >= 0) return found;
        if (_streamCount == MaxStreams) return -1;
        _streams[_streamCount] = new Stream { Ssrc = ssrc };
        return _streamCount++;
    }

    /// <summary>RFC 3711 §3.3.1: the ROC this sequence number most likely belongs to.</summary>
    private static uint EstimateRoc(ref Stream st, ushort seq)
    {
        if (!st.RtpStarted) return st.Roc;
        var sl = st.HighestSeq;
        if (sl < 0x8000)
        {
            return seq - sl > 0x8000 && st.Roc > 0 ? st.Roc - 1 : st.Roc;
        }
        return sl - 0x8000 > seq ? st.Roc + 1 : st.Roc;
    }

    private static void UpdateRoc(ref Stream st, ushort seq, uint roc)
    {
        if (!st.RtpStarted)
        {
            st.RtpStarted = true;
            st.Roc = roc;
            st.HighestSeq = seq;
            return;
        }
        if (roc > st.Roc || (roc == st.Roc && seq > st.HighestSeq))
        {
            st.Roc = roc;
            st.HighestSeq = seq;
        }
    }

    /// <summary>RFC 3711 §4.1.1: IV = (k_s·2^16) XOR (SSRC·2^64) XOR (i·2^16).</summary>
    private static void CmIv(Span<byte> iv, ReadOnlySpan<byte> salt, uint ssrc, ulong index)
    {
        iv.Clear();
        salt.CopyTo(iv);
        iv[4] ^= (byte)(ssrc >> 24);
        iv[5] ^= (byte)(ssrc >> 16);
        iv[6] ^= (byte)(ssrc >> 8);
        iv[7] ^= (byte)ssrc;
        for (var i = 0; i < 6; i++) iv[13 - i] ^= (byte)(index >> (8 * i));
    }

    /// <summary>RFC 7714 §8.1: 00 00 || SSRC || ROC || SEQ, XOR the 12-byte salt.</summary>
    private void RtpGcmNonce(Span<byte> nonce, uint ssrc, uint roc, ushort seq)
    {
        nonce.Clear();
        BinaryPrimitives.WriteUInt32BigEndian(nonce[2..], ssrc);
        BinaryPrimitives.WriteUInt32BigEndian(nonce[6..], roc);
        BinaryPrimitives.WriteUInt16BigEndian(nonce[10..], seq);
        for (var i = 0; i < 12; i++) nonce[i] ^= _rtp.Salt[i];
    }

    /// <summary>RFC 7714 §9.1: 00 00 || SSRC || 00 00 || index (31 bits), XOR the 12-byte salt.</summary>
    private void RtcpGcmNonce(Span<byte> nonce, uint ssrc, uint index)
    {
        nonce.Clear();
        BinaryPrimitives.WriteUInt32BigEndian(nonce[2..], ssrc);
        BinaryPrimitives.WriteUInt32BigEndian(nonce[8..], index & 0x7FFFFFFF);
        for (var i = 0; i < 12; i++) nonce[i] ^= _rtcp.Salt[i];
    }

    /// <summary>AES counter mode from <paramref name="iv"/>: counter blocks encrypted in one ECB call per 2 KiB.</summary>
    private void XorKeystream(ICryptoTransform ecb, ReadOnlySpan<byte> iv, Span<byte> data)
    {
        var block = 0;
        while (!data.IsEmpty)
        {
            var blocks = Math.Min(ScratchBlocks, (data.Length + 15) / 16);
            var counters = _counters.AsSpan(0, blocks * 16);
            for (var j = 0; j < blocks; j++, block++)
            {
                var c = counters.Slice(j * 16, 16);
                iv.CopyTo(c);
                // The low 16 bits of the IV are zero (the index is shifted by 16), so the block number fits there.
                var low = (ushort)(BinaryPrimitives.ReadUInt16BigEndian(c[14..]) + block);
                BinaryPrimitives.WriteUInt16BigEndian(c[14..], low);
            }
            var stream = _keystream.AsSpan(0, blocks * 16);
            ecb.TransformBlock(_counters, 0, blocks * 16, _keystream, 0);
            var n = Math.Min(data.Length, stream.Length);
            Xor(data[..n], stream[..n]);
            data = data[n..];
        }
    }

    private static void Xor(Span<byte> data, ReadOnlySpan<byte> stream)
    {
        var i = 0;
        if (System.Numerics.Vector.IsHardwareAccelerated)
        {
            var width = System.Numerics.Vector<byte>.Count;
            for (; i + width <= data.Length; i += width)
            {
                var v = new System.Numerics.Vector<byte>(data[i..]) ^ new System.Numerics.Vector<byte>(stream[i..]);
                v.CopyTo(data[i..]);
            }
        }
        for (; i < data.Length; i++) data[i] ^= stream[i];
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _rtp.Dispose();
        _rtcp.Dispose();
        CryptographicOperations.ZeroMemory(_keystream);
    }
}
