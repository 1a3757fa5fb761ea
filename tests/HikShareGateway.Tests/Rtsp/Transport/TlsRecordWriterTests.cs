using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using HikShareGateway.Rtsp.Transport;
using Org.BouncyCastle.Tls.Crypto;
using Org.BouncyCastle.Tls.Crypto.Impl.BC;

namespace HikShareGateway.Tests.Rtsp.Transport;

/// <summary>
/// Our TLS record writer against an independent reader written here from the RFC text (RFC 8446 §5.2–5.3 and §7.1,
/// RFC 5288 §3, RFC 7905 §2, RFC 5246 §6.2.3.3), with keys derived by BouncyCastle's HKDF-Expand-Label, not ours:
/// every record it writes decrypts, in sequence, within 16 KiB, across batches, KeyUpdates and the TLS 1.2 limit.
/// </summary>
[Trait("Category", "Unit")]
public sealed class TlsRecordWriterTests
{
    public static TheoryData<bool, TlsRecordCipher> AllSuites => new()
    {
        { true, TlsRecordCipher.Aes128Gcm }, { true, TlsRecordCipher.Aes256Gcm }, { true, TlsRecordCipher.ChaCha20Poly1305 },
        { false, TlsRecordCipher.Aes128Gcm }, { false, TlsRecordCipher.Aes256Gcm }, { false, TlsRecordCipher.ChaCha20Poly1305 },
    };

    /// <summary>The client's side of one direction: decrypts records as a TLS client would.</summary>
    private sealed class Reader
    {
        private readonly bool _tls13;
        private readonly TlsRecordCipher _cipher;
        private readonly int _hash;
        private byte[] _secret;
        private byte[] _key = [];
        private byte[] _iv = [];
        public ulong Sequence;
        public int KeyUpdatesSeen;

        public Reader(bool tls13, TlsRecordCipher cipher, byte[] secretOrKey, byte[] iv, ulong first)
        {
            _tls13 = tls13;
            _cipher = cipher;
            _hash = cipher == TlsRecordCipher.Aes256Gcm ? CryptoHashAlgorithm.sha384 : CryptoHashAlgorithm.sha256;
            _secret = secretOrKey;
            if (tls13)
            {
                Derive();
            }
            else
            {
                _key = secretOrKey;
                _iv = iv;
                Sequence = first;
            }
        }

        /// <summary>BouncyCastle's HKDF-Expand-Label (RFC 8446 §7.1), an implementation other than the writer's.</summary>
        private byte[] Expand(byte[] secret, string label, int length)
        {
            var crypto = new BcTlsCrypto();
            return TlsCryptoUtilities.HkdfExpandLabel(crypto.CreateSecret(secret), _hash, label, Array.Empty<byte>(), length).Extract();
        }

        private void Derive()
        {
            _key = Expand(_secret, "key", TlsRecordWriter.KeyLength(_cipher));
            _iv = Expand(_secret, "iv", 12);
            Sequence = 0;
        }

        /// <summary>Every record in <paramref name="wire"/>: (outer or inner content type, plaintext).</summary>
        public List<(byte Type, byte[] Data)> ReadAll(ReadOnlySpan<byte> wire)
        {
            var records = new List<(byte, byte[])>();
            while (!wire.IsEmpty)
            {
                Assert.True(wire.Length >= 5, "a partial record header");
                var type = wire[0];
                Assert.Equal(3, wire[1]);
                Assert.Equal(3, wire[2]);
                var length = BinaryPrimitives.ReadUInt16BigEndian(wire[3..]);
                Assert.True(length <= 16384 + 256, $"record body {length} over RFC 8446's limit");
                var header = wire[..5].ToArray();
                var body = wire.Slice(5, length).ToArray();
                wire = wire[(5 + length)..];
                var record = Decrypt(type, header, body);
                if (record.Type == 22 && record.Data is [24, 0, 0, 1, var request])
                {
                    Assert.Equal(0, request); // update_not_requested
                    KeyUpdatesSeen++;
                    _secret = Expand(_secret, "traffic upd", _secret.Length);
                    Derive();
                    continue;
                }
                records.Add(record);
            }
            return records;
        }

        private (byte Type, byte[] Data) Decrypt(byte type, byte[] header, byte[] body)
        {
            var sequence = Sequence++;
            var nonce = new byte[12];
            byte[] ciphertext;
            byte[] aad;
            if (_tls13 || _cipher == TlsRecordCipher.ChaCha20Poly1305)
            {
                // RFC 8446 §5.3 / RFC 7905 §2: the sequence, left-padded to 12 bytes, XORed with the IV.
                BinaryPrimitives.WriteUInt64BigEndian(nonce.AsSpan(4), sequence);
                for (var i = 0; i < 12; i++)
                {
                    nonce[i] ^= _iv[i];
                }
                ciphertext = body;
            }
            else
            {
                // RFC 5288 §3: salt ‖ explicit nonce (carried in the record).
                _iv.CopyTo(nonce, 0);
                body.AsSpan(0, 8).CopyTo(nonce.AsSpan(4));
                Assert.Equal(sequence, BinaryPrimitives.ReadUInt64BigEndian(body));
                ciphertext = body[8..];
            }
            var plaintext = new byte[ciphertext.Length - 16];
            if (_tls13)
            {
                Assert.Equal(23, type); // opaque_type
                aad = header; // RFC 8446 §5.2: the record header
            }
            else
            {
                aad = new byte[13];
                BinaryPrimitives.WriteUInt64BigEndian(aad, sequence);
                aad[8] = type;
                aad[9] = 3;
                aad[10] = 3;
                BinaryPrimitives.WriteUInt16BigEndian(aad.AsSpan(11), (ushort)plaintext.Length);
            }
            var tag = ciphertext[^16..];
            var data = ciphertext[..^16];
            if (_cipher == TlsRecordCipher.ChaCha20Poly1305)
            {
                using var c = new ChaCha20Poly1305(_key);
                c.Decrypt(nonce, data, tag, plaintext, aad);
            }
            else
            {
                using var a = new AesGcm(_key, 16);
                a.Decrypt(nonce, data, tag, plaintext, aad);
            }
            if (!_tls13)
            {
                return (type, plaintext);
            }
            // TLSInnerPlaintext: content, then the real type, then zero padding.
            var end = plaintext.Length - 1;
            while (plaintext[end] == 0)
            {
                end--;
            }
            return (plaintext[end], plaintext[..end]);
        }
    }

    private static (TlsRecordWriter Writer, Reader Reader) Pair(bool tls13, TlsRecordCipher cipher, long limit = TlsRecordWriter.AesGcmRecordLimit, int maxPlaintext = 16384)
    {
        if (tls13)
        {
            var secret = RandomNumberGenerator.GetBytes(cipher == TlsRecordCipher.Aes256Gcm ? 48 : 32);
            var hash = cipher == TlsRecordCipher.Aes256Gcm ? HashAlgorithmName.SHA384 : HashAlgorithmName.SHA256;
            return (TlsRecordWriter.ForTls13(cipher, hash, secret, limit, maxPlaintext), new Reader(true, cipher, secret, [], 0));
        }
        var key = RandomNumberGenerator.GetBytes(TlsRecordWriter.KeyLength(cipher));
        var iv = RandomNumberGenerator.GetBytes(cipher == TlsRecordCipher.ChaCha20Poly1305 ? 12 : 4);
        return (TlsRecordWriter.ForTls12(cipher, key, iv, 1, limit, maxPlaintext), new Reader(false, cipher, key, iv, 1));
    }

    /// <summary>One batch through the writer, the plaintext handed over in pieces of <paramref name="piece"/> bytes.</summary>
    private static byte[] Seal(TlsRecordWriter writer, byte[] plaintext, int piece = 1400)
    {
        var length = writer.Begin(plaintext.Length);
        Assert.True(length > 0);
        var buffer = new byte[length];
        for (var at = 0; at < plaintext.Length; at += piece)
        {
            writer.Append(buffer, plaintext.AsSpan(at, Math.Min(piece, plaintext.Length - at)));
        }
        Assert.Equal(length, writer.Seal(buffer));
        return buffer;
    }

    [Theory]
    [MemberData(nameof(AllSuites))]
    public void EveryBatchSize_DecryptsInOrder_InRecordsOfAtMost16KiB(bool tls13, TlsRecordCipher cipher)
    {
        var (writer, reader) = Pair(tls13, cipher);
        using var _ = writer;
        foreach (var size in new[] { 1, 1400, 16383, 16384, 16385, 32768, 100_000, 4 * 1024 * 1024 + 7 })
        {
            var plaintext = RandomNumberGenerator.GetBytes(size);
            var before = writer.Sequence;
            var records = reader.ReadAll(Seal(writer, plaintext));
            Assert.Equal((size + 16383) / 16384, records.Count);
            Assert.Equal(before + (ulong)records.Count, writer.Sequence);
            Assert.All(records, r => Assert.Equal(23, r.Type));
            Assert.All(records.SkipLast(1), r => Assert.Equal(16384, r.Data.Length));
            Assert.Equal(plaintext, records.SelectMany(r => r.Data).ToArray());
        }
        Assert.Equal(reader.Sequence, writer.Sequence);
    }

    [Fact]
    public void Tls12_StartsAfterTheFinished_AtSequenceOne_WithTheExplicitNonce()
    {
        var (writer, reader) = Pair(false, TlsRecordCipher.Aes128Gcm);
        using var _ = writer;
        Assert.Equal(1ul, writer.Sequence);
        var wire = Seal(writer, [1, 2, 3]);
        // header 5 + explicit nonce 8 + 3 + tag 16
        Assert.Equal(32, wire.Length);
        Assert.Equal(1ul, BinaryPrimitives.ReadUInt64BigEndian(wire.AsSpan(5)));
        Assert.Equal([1, 2, 3], reader.ReadAll(wire).Single().Data);
    }

    [Fact]
    public void EmptyBatch_IsRefused_NotSentAsAnEmptyRecord()
    {
        var (writer, _) = Pair(true, TlsRecordCipher.Aes128Gcm);
        using var __ = writer;
        Assert.Throws<ArgumentOutOfRangeException>(() => writer.Begin(0));
        Assert.Equal(0ul, writer.Sequence);
    }

    [Fact]
    public void Tls13_AtTheRecordLimit_SendsAKeyUpdate_AndContinuesUnderTheNextSecret()
    {
        var (writer, reader) = Pair(true, TlsRecordCipher.Aes128Gcm, limit: 8);
        using var _ = writer;
        var sent = new List<byte[]>();
        for (var batch = 0; batch < 20; batch++)
        {
            var plaintext = RandomNumberGenerator.GetBytes(16384 + 100); // two records
            var records = reader.ReadAll(Seal(writer, plaintext));
            Assert.Equal(plaintext, records.SelectMany(r => r.Data).ToArray());
            Assert.True(writer.Sequence < 8, $"sequence {writer.Sequence} reached the limit");
        }
        // Two records per batch, one record always free for the KeyUpdate: a new key every three batches.
        Assert.Equal(6, writer.KeyUpdates);
        Assert.Equal(6, reader.KeyUpdatesSeen);
    }

    [Fact]
    public void Tls13_ARequestedKeyUpdate_GoesAheadOfTheNextBatch_Once()
    {
        var (writer, reader) = Pair(true, TlsRecordCipher.ChaCha20Poly1305);
        using var _ = writer;
        reader.ReadAll(Seal(writer, [1, 2]));
        writer.RequestKeyUpdate();
        Assert.Equal([3], reader.ReadAll(Seal(writer, [3])).Single().Data);
        Assert.Equal([4], reader.ReadAll(Seal(writer, [4])).Single().Data);
        Assert.Equal((1, 1), (writer.KeyUpdates, reader.KeyUpdatesSeen));
        Assert.Equal(2ul, writer.Sequence); // the record after the KeyUpdate was 0 under the new key
    }

    [Fact]
    public void ChaCha20_HasNoRecordLimit()
    {
        var (writer, _) = Pair(true, TlsRecordCipher.ChaCha20Poly1305, limit: 2);
        using var __ = writer;
        Assert.Equal(long.MaxValue, writer.RecordLimit);
    }

    [Fact]
    public void Tls12_AtTheRecordLimit_RefusesTheBatch_AndSealsACloseNotify()
    {
        var (writer, reader) = Pair(false, TlsRecordCipher.Aes256Gcm, limit: 4);
        using var _ = writer;
        reader.ReadAll(Seal(writer, [1]));
        reader.ReadAll(Seal(writer, [2]));
        Assert.Equal(3ul, writer.Sequence);
        Assert.Equal(-1, writer.Begin(1));
        var alert = new byte[64];
        var n = writer.SealCloseNotify(alert);
        var record = reader.ReadAll(alert.AsSpan(0, n)).Single();
        Assert.Equal(21, record.Type);
        Assert.Equal([1, 0], record.Data);
    }

    [Fact]
    public void Tls13_CloseNotify_IsAnAlertInside()
    {
        var (writer, reader) = Pair(true, TlsRecordCipher.Aes128Gcm);
        using var _ = writer;
        var alert = new byte[64];
        var record = reader.ReadAll(alert.AsSpan(0, writer.SealCloseNotify(alert))).Single();
        Assert.Equal(21, record.Type);
        Assert.Equal([1, 0], record.Data);
    }

    [Fact]
    public void NegotiatedMaxFragmentLength_CutsSmallerRecords()
    {
        var (writer, reader) = Pair(true, TlsRecordCipher.Aes128Gcm, maxPlaintext: 512);
        using var _ = writer;
        var records = reader.ReadAll(Seal(writer, new byte[2000]));
        Assert.Equal([512, 512, 512, 464], records.Select(r => r.Data.Length));
    }

    [Fact]
    public void MoreThanBegun_IsRefused()
    {
        var (writer, _) = Pair(true, TlsRecordCipher.Aes128Gcm);
        using var __ = writer;
        var buffer = new byte[writer.Begin(10)];
        Assert.Throws<ArgumentException>(() => writer.Append(buffer, new byte[11]));
    }

    [Fact]
    public void WritersDerivationOfTheTrafficKeys_MatchesBouncyCastles()
    {
        var secret = RandomNumberGenerator.GetBytes(32);
        var ours = new byte[16];
        TlsRecordWriter.HkdfExpandLabel(HashAlgorithmName.SHA256, secret, "key", ours);
        var theirs = TlsCryptoUtilities.HkdfExpandLabel(new BcTlsCrypto().CreateSecret(secret), CryptoHashAlgorithm.sha256, "key", Array.Empty<byte>(), 16).Extract();
        Assert.Equal(theirs, ours);
    }

    [Theory]
    [MemberData(nameof(AllSuites))]
    public void SealingBatches_AllocatesNothing(bool tls13, TlsRecordCipher cipher)
    {
        var (writer, _) = Pair(tls13, cipher);
        using var __ = writer;
        var buffer = new byte[200_000];
        var packet = new byte[1400];
        void Batch()
        {
            writer.Begin(packet.Length * 40);
            for (var i = 0; i < 40; i++)
            {
                writer.Append(buffer, packet);
            }
            writer.Seal(buffer);
        }
        // Up to three passes: a pass can catch the runtime's one-time work (tiering) on the test thread; an allocation
        // per batch or record fails every pass.
        long allocated = 0;
        for (var pass = 0; pass < 3; pass++)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            for (var i = 0; i < 200; i++)
            {
                Batch();
            }
            allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            if (allocated == 0)
            {
                break;
            }
        }
        Assert.Equal(0, allocated);
    }

    private static async Task<(Socket Server, Socket Client)> SocketPairAsync()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(listener.LocalEndPoint!);
        return (await listener.AcceptAsync(), client);
    }

    /// <summary>A batch as the viewer output hands it over: interleaved packets in pinned (POH) arrays.</summary>
    private static List<ArraySegment<byte>> Packets(int count, int size, byte seed)
    {
        var segments = new List<ArraySegment<byte>>();
        for (var i = 0; i < count; i++)
        {
            var packet = GC.AllocateArray<byte>(size, pinned: true);
            packet.AsSpan().Fill((byte)(seed + i));
            segments.Add(packet);
        }
        return segments;
    }

    [Fact]
    public async Task Sender_BatchesThroughASocket_ArriveWhole_AndAllocateNothingPerBatch()
    {
        var (server, client) = await SocketPairAsync();
        using var _ = server;
        using var __ = client;
        var (writer, reader) = Pair(true, TlsRecordCipher.Aes128Gcm);
        using var sender = new TlsRecordSender(server);
        sender.Start(writer);
        var batch = Packets(40, 1404, 7);
        var plaintext = batch.Sum(b => (long)b.Count);
        long received = 0;
        var wire = new MemoryStream();
        var drain = Task.Run(async () =>
        {
            var buffer = new byte[256 * 1024];
            int n;
            while ((n = await client.ReceiveAsync(buffer)) > 0)
            {
                lock (wire)
                {
                    wire.Write(buffer, 0, n);
                }
                Interlocked.Add(ref received, n);
            }
        });
        var sealedLength = writer.Begin((int)plaintext);
        long allocated = 0;
        var batches = 0;
        // Up to three passes of 100 batches (a pass can catch the runtime's one-time work); each waits until the peer
        // took everything, so the sends are the synchronous sendmsg of the flushing thread.
        for (var pass = 0; pass < 3; pass++)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            for (var i = 0; i < 100; i++)
            {
                var pending = sender.SendAsync(batch, plaintext);
                if (!pending.IsCompletedSuccessfully)
                {
                    await pending;
                }
                batches++;
                var expected = (long)batches * sealedLength;
                while (Interlocked.Read(ref received) < expected)
                {
                    Thread.SpinWait(100);
                }
            }
            allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            if (allocated == 0)
            {
                break;
            }
        }
        Assert.Equal(0, allocated);
        server.Shutdown(SocketShutdown.Send);
        await drain;
        var records = reader.ReadAll(wire.ToArray());
        Assert.Equal(batches * writer.RecordCount((int)plaintext), records.Count);
        Assert.Equal(batch.SelectMany(b => b).ToArray(), records.Take(writer.RecordCount((int)plaintext)).SelectMany(r => r.Data).ToArray());
    }

    [Fact]
    public async Task Sender_WhatTheKernelDoesNotTake_WaitsInTheAsyncSend_AndArrivesInOrder()
    {
        var (server, client) = await SocketPairAsync();
        using var _ = server;
        using var __ = client;
        server.SendBufferSize = 16 * 1024;
        client.ReceiveBufferSize = 16 * 1024;
        var (writer, reader) = Pair(false, TlsRecordCipher.ChaCha20Poly1305);
        using var sender = new TlsRecordSender(server);
        sender.Start(writer);
        var batches = new[] { Packets(60, 1404, 1), Packets(60, 1404, 90), Packets(3, 200, 200) };
        // Nobody reads yet: the first batch overflows the socket buffers and waits.
        var first = sender.SendAsync(batches[0], batches[0].Sum(b => (long)b.Count));
        Assert.False(first.IsCompleted);
        var wire = new MemoryStream();
        var drain = Task.Run(async () =>
        {
            var buffer = new byte[64 * 1024];
            int n;
            while ((n = await client.ReceiveAsync(buffer)) > 0)
            {
                wire.Write(buffer, 0, n);
            }
        });
        await first;
        await sender.SendAsync(batches[1], batches[1].Sum(b => (long)b.Count));
        await sender.SendAsync(batches[2], batches[2].Sum(b => (long)b.Count));
        server.Shutdown(SocketShutdown.Send);
        await drain;
        Assert.Equal(batches.SelectMany(b => b).SelectMany(b => b).ToArray(), reader.ReadAll(wire.ToArray()).SelectMany(r => r.Data).ToArray());
    }

    [Fact]
    public async Task Sender_AtTheTls12Limit_SendsCloseNotify_AndEndsTheConnection()
    {
        var (server, client) = await SocketPairAsync();
        using var _ = server;
        using var __ = client;
        var (writer, reader) = Pair(false, TlsRecordCipher.Aes128Gcm, limit: 3);
        using var sender = new TlsRecordSender(server);
        sender.Start(writer);
        var batch = Packets(1, 100, 0);
        await sender.SendAsync(batch, 100);
        await Assert.ThrowsAsync<IOException>(async () => await sender.SendAsync(batch, 100));
        var wire = new MemoryStream();
        var buffer = new byte[4096];
        int n;
        while ((n = await client.ReceiveAsync(buffer)) > 0)
        {
            wire.Write(buffer, 0, n);
        }
        var records = reader.ReadAll(wire.ToArray());
        Assert.Equal([23, 21], records.Select(r => r.Type));
        Assert.Equal([1, 0], records[1].Data);
    }
}
