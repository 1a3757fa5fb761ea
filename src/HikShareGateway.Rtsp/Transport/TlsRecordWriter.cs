using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using HikShareGateway.Core.Crypto;

namespace HikShareGateway.Rtsp.Transport;

/// <summary>The AEAD of a negotiated TLS cipher suite (the only ones RTSPS offers).</summary>
public enum TlsRecordCipher
{
    Aes128Gcm,
    Aes256Gcm,
    ChaCha20Poly1305,
}

/// <summary>
/// The write half of a TLS record layer after the handshake, ours instead of the TLS library's: seals plaintext in
/// place, in a buffer the caller owns, into records of at most <see cref="MaxPlaintextPerRecord"/> bytes with one
/// <see cref="AeadCipher"/> per connection (OpenSSL's EVP called directly: a record costs about 2 µs less than through
/// the framework's <see cref="AesGcm"/>), allocating nothing per record or batch.
/// <list type="bullet">
/// <item>TLS 1.3 (RFC 8446 §5.2–5.3): the inner content type after the data, nonce = iv XOR sequence, AAD = the record
/// header; keys from the server application traffic secret (HKDF-Expand-Label "key"/"iv").</item>
/// <item>TLS 1.2 (RFC 5288 §3, RFC 5246 §6.2.3.3): AES-GCM with an explicit 8-byte nonce (the sequence number) after
/// the header and the 4-byte salt before it; ChaCha20-Poly1305 (RFC 7905 §2) nonce = iv XOR sequence; AAD = sequence ‖
/// type ‖ version ‖ plaintext length.</item>
/// </list>
/// A batch is <see cref="Begin"/> (its sealed length, so that the caller rents a buffer), <see cref="Append"/> of the
/// plaintext pieces (copied straight to where they belong between record headers and tags), then <see cref="Seal"/>.
/// <para>
/// Record limit (RFC 8446 §5.5: AES-GCM at most 2^24.5 full records per key): TLS 1.3 sends its own KeyUpdate
/// (update_not_requested) ahead of the batch that would pass <see cref="RecordLimit"/> and moves to the next traffic
/// secret; TLS 1.2 has no rekeying, so <see cref="Begin"/> refuses the batch and the connection ends with a sealed
/// close_notify (<see cref="SealCloseNotify"/>). ChaCha20-Poly1305 has no practical limit. A client's KeyUpdate asking
/// for ours (<see cref="RequestKeyUpdate"/>) is answered the same way, ahead of the next batch.
/// </para>
/// One thread at a time (the viewer's writer loop).
/// </summary>
public sealed class TlsRecordWriter : IDisposable
{
    /// <summary>RFC 8446 §5.1: at most 2^14 bytes of plaintext per record.</summary>
    public const int MaxRecordPlaintext = 16384;
    /// <summary>Records per AES-GCM key before a rekey (TLS 1.3) or the end (TLS 1.2); under RFC 8446 §5.5's 2^24.5.</summary>
    public const long AesGcmRecordLimit = 1L << 24;
    private const int HeaderBytes = 5;
    private const int TagBytes = 16;
    private const byte ApplicationData = 23;
    private const byte Handshake = 22;
    private const byte Alert = 21;
    /// <summary>A TLS 1.3 KeyUpdate record: header, handshake header (4), request_update (1), content type, tag.</summary>
    private const int KeyUpdateRecordBytes = HeaderBytes + 4 + 1 + 1 + TagBytes;

    private readonly bool _tls13;
    private readonly TlsRecordCipher _cipher;
    private readonly HashAlgorithmName _hash;
    private readonly int _prefix;
    private readonly int _suffix;
    private readonly int _stride;
    // TLS 1.3 and ChaCha20: the 12-byte IV; TLS 1.2 AES-GCM: the 4-byte salt.
    private readonly byte[] _iv;
    // TLS 1.3: the current traffic secret, for the next KeyUpdate.
    private readonly byte[]? _secret;
    private AeadCipher? _aead;
    private ulong _sequence;
    // The batch between Begin and Seal.
    private int _lead;
    private int _length;
    private int _appended;
    private byte _type;
    private bool _keyUpdate;
    // TLS 1.3: the client's KeyUpdate asked for ours (set by the read side).
    private volatile bool _keyUpdateRequested;

    private TlsRecordWriter(bool tls13, TlsRecordCipher cipher, HashAlgorithmName hash, byte[] iv, byte[]? secret, ulong sequence, long recordLimit, int maxPlaintext)
    {
        _tls13 = tls13;
        _cipher = cipher;
        _hash = hash;
        _iv = iv;
        _secret = secret;
        _sequence = sequence;
        RecordLimit = cipher == TlsRecordCipher.ChaCha20Poly1305 ? long.MaxValue : recordLimit;
        MaxPlaintextPerRecord = maxPlaintext is > 0 and < MaxRecordPlaintext ? maxPlaintext : MaxRecordPlaintext;
        _prefix = HeaderBytes + (!tls13 && cipher != TlsRecordCipher.ChaCha20Poly1305 ? 8 : 0);
        _suffix = TagBytes + (tls13 ? 1 : 0);
        _stride = _prefix + MaxPlaintextPerRecord + _suffix;
    }

    /// <summary>
    /// TLS 1.3 from the server application traffic secret (RFC 8446 §7.1; <paramref name="hash"/>: the suite's,
    /// SHA-256 or SHA-384); records start at sequence 0. <paramref name="recordLimit"/>: AES-GCM records per key before
    /// this writer sends a KeyUpdate (tests lower it).
    /// </summary>
    public static TlsRecordWriter ForTls13(TlsRecordCipher cipher, HashAlgorithmName hash, ReadOnlySpan<byte> trafficSecret,
        long recordLimit = AesGcmRecordLimit, int maxPlaintextPerRecord = MaxRecordPlaintext)
    {
        var writer = new TlsRecordWriter(true, cipher, hash, new byte[12], trafficSecret.ToArray(), 0, recordLimit, maxPlaintextPerRecord);
        writer.DeriveKeys();
        return writer;
    }

    /// <summary>
    /// TLS 1.2 from the key block's server write key and IV (4-byte salt for AES-GCM, 12 bytes for ChaCha20-Poly1305);
    /// <paramref name="firstSequence"/>: the server's Finished took sequence 0, so application data starts at 1.
    /// </summary>
    public static TlsRecordWriter ForTls12(TlsRecordCipher cipher, ReadOnlySpan<byte> key, ReadOnlySpan<byte> iv, ulong firstSequence,
        long recordLimit = AesGcmRecordLimit, int maxPlaintextPerRecord = MaxRecordPlaintext)
    {
        if (key.Length != KeyLength(cipher) || iv.Length != (cipher == TlsRecordCipher.ChaCha20Poly1305 ? 12 : 4))
        {
            throw new ArgumentException("key or IV length does not match the cipher");
        }
        var writer = new TlsRecordWriter(false, cipher, HashAlgorithmName.SHA256, iv.ToArray(), null, firstSequence, recordLimit, maxPlaintextPerRecord);
        writer.SetKey(key);
        return writer;
    }

    public static int KeyLength(TlsRecordCipher cipher) => cipher == TlsRecordCipher.Aes128Gcm ? 16 : 32;

    public bool IsTls13 => _tls13;

    public TlsRecordCipher Cipher => _cipher;

    /// <summary>Plaintext bytes per full record (16 KiB unless the client negotiated a smaller max_fragment_length).</summary>
    public int MaxPlaintextPerRecord { get; }

    /// <summary>Records per key: AES-GCM <see cref="AesGcmRecordLimit"/>; ChaCha20-Poly1305 none.</summary>
    public long RecordLimit { get; }

    /// <summary>The sequence number of the next record under the current key.</summary>
    public ulong Sequence => _sequence;

    /// <summary>KeyUpdates sent (TLS 1.3).</summary>
    public int KeyUpdates { get; private set; }

    /// <summary>
    /// TLS 1.3: the client's KeyUpdate asked for ours (update_requested, RFC 8446 §4.6.3); it goes ahead of the next
    /// batch. Safe from any thread (the read side calls it).
    /// </summary>
    public void RequestKeyUpdate()
    {
        if (_tls13)
        {
            _keyUpdateRequested = true;
        }
    }

    /// <summary>Records a plaintext of <paramref name="length"/> bytes takes.</summary>
    public int RecordCount(int length) => (length + MaxPlaintextPerRecord - 1) / MaxPlaintextPerRecord;

    /// <summary>
    /// Starts a batch of <paramref name="plaintextLength"/> bytes (more than 0) of content <paramref name="contentType"/>
    /// and returns its sealed length, or -1 when TLS 1.2's record limit does not leave room for it (the connection must
    /// then end: <see cref="SealCloseNotify"/>).
    /// </summary>
    public int Begin(int plaintextLength, byte contentType = ApplicationData)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(plaintextLength);
        var records = RecordCount(plaintextLength);
        // One record always stays free under the limit: the KeyUpdate (TLS 1.3) or the close_notify (TLS 1.2).
        _keyUpdate = false;
        if (_keyUpdateRequested)
        {
            _keyUpdateRequested = false;
            _keyUpdate = true;
        }
        if ((long)_sequence + records >= RecordLimit)
        {
            if (!_tls13)
            {
                return -1;
            }
            if (records >= RecordLimit)
            {
                throw new ArgumentOutOfRangeException(nameof(plaintextLength), "a batch larger than the record limit");
            }
            _keyUpdate = true;
        }
        _lead = _keyUpdate ? KeyUpdateRecordBytes : 0;
        _length = plaintextLength;
        _appended = 0;
        _type = contentType;
        return SealedLength(plaintextLength);
    }

    private int SealedLength(int plaintextLength)
    {
        var full = plaintextLength / MaxPlaintextPerRecord;
        var rest = plaintextLength % MaxPlaintextPerRecord;
        return _lead + full * _stride + (rest > 0 ? _prefix + rest + _suffix : 0);
    }

    /// <summary>Copies the next plaintext piece of the batch to its place in <paramref name="buffer"/>.</summary>
    public void Append(Span<byte> buffer, ReadOnlySpan<byte> data)
    {
        if (_appended + data.Length > _length)
        {
            throw new ArgumentException("more plaintext than the batch was begun with");
        }
        while (!data.IsEmpty)
        {
            var inRecord = _appended % MaxPlaintextPerRecord;
            var n = Math.Min(data.Length, MaxPlaintextPerRecord - inRecord);
            var at = _lead + _appended / MaxPlaintextPerRecord * _stride + _prefix + inRecord;
            data[..n].CopyTo(buffer.Slice(at, n));
            data = data[n..];
            _appended += n;
        }
    }

    /// <summary>Encrypts the batch in place (after a KeyUpdate when due) and returns its sealed length.</summary>
    public int Seal(Span<byte> buffer)
    {
        if (_appended != _length)
        {
            throw new InvalidOperationException("the batch is not complete");
        }
        var at = 0;
        if (_keyUpdate)
        {
            // RFC 8446 §4.6.3: KeyUpdate(update_not_requested) under the old key, then the next traffic secret.
            var ku = buffer.Slice(HeaderBytes, 5);
            ku[0] = 24;
            ku[1] = 0;
            ku[2] = 0;
            ku[3] = 1;
            ku[4] = 0;
            at = SealRecord(buffer, 0, 5, Handshake);
            NextTrafficSecret();
            KeyUpdates++;
        }
        for (var done = 0; done < _length;)
        {
            var n = Math.Min(MaxPlaintextPerRecord, _length - done);
            at += SealRecord(buffer, at, n, _type);
            done += n;
        }
        _length = 0;
        return at;
    }

    /// <summary>The close_notify alert sealed into <paramref name="buffer"/> (at least 64 bytes); returns its length.</summary>
    public int SealCloseNotify(Span<byte> buffer)
    {
        buffer[_prefix] = 1; // warning
        buffer[_prefix + 1] = 0; // close_notify
        return SealRecord(buffer, 0, 2, Alert);
    }

    /// <summary>Seals the <paramref name="length"/> plaintext bytes already at <c>at + prefix</c>; returns the record's length.</summary>
    private int SealRecord(Span<byte> buffer, int at, int length, byte type)
    {
        Span<byte> nonce = stackalloc byte[12];
        Span<byte> aad = stackalloc byte[13];
        var sequence = _sequence++;
        int recordLength;
        Span<byte> text;
        scoped ReadOnlySpan<byte> additional;
        if (_tls13)
        {
            buffer[at + HeaderBytes + length] = type;
            text = buffer.Slice(at + HeaderBytes, length + 1);
            recordLength = length + 1 + TagBytes;
            WriteHeader(buffer[at..], ApplicationData, recordLength);
            additional = buffer.Slice(at, HeaderBytes);
            IvXorSequence(nonce, sequence);
        }
        else
        {
            text = buffer.Slice(at + _prefix, length);
            recordLength = _prefix - HeaderBytes + length + TagBytes;
            WriteHeader(buffer[at..], type, recordLength);
            BinaryPrimitives.WriteUInt64BigEndian(aad, sequence);
            aad[8] = type;
            aad[9] = 3;
            aad[10] = 3;
            BinaryPrimitives.WriteUInt16BigEndian(aad[11..], (ushort)length);
            additional = aad;
            if (_cipher == TlsRecordCipher.ChaCha20Poly1305)
            {
                IvXorSequence(nonce, sequence);
            }
            else
            {
                _iv.CopyTo(nonce);
                BinaryPrimitives.WriteUInt64BigEndian(nonce[4..], sequence);
                BinaryPrimitives.WriteUInt64BigEndian(buffer.Slice(at + HeaderBytes, 8), sequence);
            }
        }
        var tag = buffer.Slice(at + HeaderBytes + recordLength - TagBytes, TagBytes);
        _aead!.Encrypt(nonce, text, text, tag, additional);
        return HeaderBytes + recordLength;
    }

    private static void WriteHeader(Span<byte> record, byte type, int length)
    {
        record[0] = type;
        record[1] = 3;
        record[2] = 3;
        BinaryPrimitives.WriteUInt16BigEndian(record[3..], (ushort)length);
    }

    private void IvXorSequence(Span<byte> nonce, ulong sequence)
    {
        _iv.CopyTo(nonce);
        var tail = BinaryPrimitives.ReadUInt64BigEndian(nonce[4..]) ^ sequence;
        BinaryPrimitives.WriteUInt64BigEndian(nonce[4..], tail);
    }

    private void DeriveKeys()
    {
        Span<byte> key = stackalloc byte[KeyLength(_cipher)];
        HkdfExpandLabel(_hash, _secret!, "key", key);
        HkdfExpandLabel(_hash, _secret!, "iv", _iv);
        SetKey(key);
        CryptographicOperations.ZeroMemory(key);
        _sequence = 0;
    }

    private void NextTrafficSecret()
    {
        Span<byte> next = stackalloc byte[_secret!.Length];
        HkdfExpandLabel(_hash, _secret, "traffic upd", next);
        next.CopyTo(_secret);
        CryptographicOperations.ZeroMemory(next);
        DeriveKeys();
    }

    private void SetKey(ReadOnlySpan<byte> key)
    {
        _aead?.Dispose();
        _aead = null;
        _aead = new AeadCipher(_cipher == TlsRecordCipher.ChaCha20Poly1305 ? AeadAlgorithm.ChaCha20Poly1305 : AeadAlgorithm.AesGcm, key);
    }

    /// <summary>RFC 8446 §7.1 HKDF-Expand-Label with an empty context.</summary>
    internal static void HkdfExpandLabel(HashAlgorithmName hash, ReadOnlySpan<byte> secret, string label, Span<byte> output)
    {
        Span<byte> info = stackalloc byte[2 + 1 + 6 + label.Length + 1];
        BinaryPrimitives.WriteUInt16BigEndian(info, (ushort)output.Length);
        info[2] = (byte)(6 + label.Length);
        Encoding.ASCII.GetBytes("tls13 ", info[3..]);
        Encoding.ASCII.GetBytes(label, info[9..]);
        info[^1] = 0;
        HKDF.Expand(hash, secret, output, info);
    }

    public void Dispose()
    {
        _aead?.Dispose();
        if (_secret is not null)
        {
            CryptographicOperations.ZeroMemory(_secret);
        }
        CryptographicOperations.ZeroMemory(_iv);
    }
}
