using System.Security.Cryptography;
using HikShareGateway.Core.Crypto;

namespace HikShareGateway.Tests.Core;

/// <summary>
/// <see cref="AeadCipher"/>'s native engines (intel-ipsec-mb for AES-GCM, OpenSSL's EVP) against the framework's
/// <see cref="AesGcm"/> and <see cref="ChaCha20Poly1305"/> (the same bytes, the same exceptions) and against published
/// vectors, each engine on its own.
/// </summary>
[Trait("Category", "Unit")]
public sealed class AeadCipherTests
{
    /// <summary>Every native engine with every key it takes.</summary>
    public static TheoryData<AeadAlgorithm, int, AeadEngine> Keys => new()
    {
        { AeadAlgorithm.AesGcm, 16, AeadEngine.IpsecMb },
        { AeadAlgorithm.AesGcm, 32, AeadEngine.IpsecMb },
        { AeadAlgorithm.AesGcm, 16, AeadEngine.OpenSsl },
        { AeadAlgorithm.AesGcm, 32, AeadEngine.OpenSsl },
        { AeadAlgorithm.ChaCha20Poly1305, 32, AeadEngine.OpenSsl },
    };

    public static TheoryData<AeadEngine> NativeAesEngines => new() { AeadEngine.IpsecMb, AeadEngine.OpenSsl };

    [Fact]
    public void Engines_OnThisDebianMachine_TheFastestIsTheOneUsed()
    {
        // The deployment target (Debian 12 on x86-64 with libipsec-mb1 and OpenSSL 3.0): the fast paths must be the
        // ones that run there.
        Assert.True(AeadCipher.OpenSslAvailable);
        Assert.True(AeadCipher.IpsecMbAvailable, AeadCipher.Describe());
        using var aes = new AeadCipher(AeadAlgorithm.AesGcm, new byte[16]);
        using var aes256 = new AeadCipher(AeadAlgorithm.AesGcm, new byte[32]);
        using var chacha = new AeadCipher(AeadAlgorithm.ChaCha20Poly1305, new byte[32]);
        using var managed = new AeadCipher(AeadAlgorithm.AesGcm, new byte[16], AeadEngine.Framework);
        Assert.Equal(AeadEngine.IpsecMb, aes.Engine);
        Assert.Equal(AeadEngine.IpsecMb, aes256.Engine);
        Assert.Equal(AeadEngine.OpenSsl, chacha.Engine);
        Assert.Equal(AeadEngine.Framework, managed.Engine);
        Assert.Matches(@"^AES-GCM intel-ipsec-mb [0-9.]+ (vaes_avx512|avx512|avx_gen4|avx_gen2|sse) \(ChaCha20-Poly1305 OpenSSL EVP\)$", AeadCipher.Describe());
        // intel-ipsec-mb has no ChaCha20-Poly1305 here: asking for it is refused, not silently replaced.
        Assert.Throws<PlatformNotSupportedException>(() => new AeadCipher(AeadAlgorithm.ChaCha20Poly1305, new byte[32], AeadEngine.IpsecMb));
    }

    [Theory]
    [MemberData(nameof(NativeAesEngines))]
    public void AesGcm_GcmSpecTestCase4_GivesTheSpecCiphertextAndTag(AeadEngine engine)
    {
        // McGrew & Viega, "The Galois/Counter Mode of Operation", test case 4 (AES-128, 60-byte plaintext, 20-byte AAD).
        var key = Convert.FromHexString("feffe9928665731c6d6a8f9467308308");
        var iv = Convert.FromHexString("cafebabefacedbaddecaf888");
        var plaintext = Convert.FromHexString(
            "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39");
        var aad = Convert.FromHexString("feedfacedeadbeeffeedfacedeadbeefabaddad2");
        using var cipher = new AeadCipher(AeadAlgorithm.AesGcm, key, engine);
        var ciphertext = new byte[plaintext.Length];
        var tag = new byte[16];
        cipher.Encrypt(iv, plaintext, ciphertext, tag, aad);
        Assert.Equal(
            "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
            Convert.ToHexStringLower(ciphertext));
        Assert.Equal("5bc94fbc3221a5db94fae95ae7121a47", Convert.ToHexStringLower(tag));
    }

    [Fact]
    public void ChaCha20Poly1305_Rfc8439Section282_GivesTheRfcTag()
    {
        // RFC 8439 §2.8.2: the AEAD example ("Ladies and Gentlemen of the class of '99 ...").
        var key = Convert.FromHexString("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
        var nonce = Convert.FromHexString("070000004041424344454647");
        var aad = Convert.FromHexString("50515253c0c1c2c3c4c5c6c7");
        var plaintext = "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it."u8.ToArray();
        using var cipher = new AeadCipher(AeadAlgorithm.ChaCha20Poly1305, key);
        var ciphertext = new byte[plaintext.Length];
        var tag = new byte[16];
        cipher.Encrypt(nonce, plaintext, ciphertext, tag, aad);
        Assert.Equal("d31a8d34648e60db7b86afbc53ef7ec2", Convert.ToHexStringLower(ciphertext.AsSpan(0, 16)));
        Assert.Equal("1ae10b594f09e26a7e902ecbd0600691", Convert.ToHexStringLower(tag));
    }

    [Theory]
    [MemberData(nameof(Keys))]
    public void Encrypt_EverySizeAndAad_MatchesTheFrameworkAndDecryptsBack(AeadAlgorithm algorithm, int keyLength, AeadEngine engine)
    {
        var random = new Random(keyLength * 31 + (int)algorithm);
        var key = new byte[keyLength];
        random.NextBytes(key);
        using var ours = new AeadCipher(algorithm, key, engine);
        using IDisposable framework = algorithm == AeadAlgorithm.AesGcm ? new AesGcm(key, 16) : new ChaCha20Poly1305(key);
        foreach (var length in new[] { 0, 1, 15, 16, 17, 63, 64, 65, 255, 256, 1200, 1400, 4000, 16384, 16385, 20480, 70001 })
        {
            foreach (var aadLength in new[] { 0, 5, 13, 16, 77 })
            {
                var nonce = new byte[12];
                var plaintext = new byte[length];
                var aad = new byte[aadLength];
                random.NextBytes(nonce);
                random.NextBytes(plaintext);
                random.NextBytes(aad);
                var expected = new byte[length];
                var expectedTag = new byte[16];
                if (framework is AesGcm aes)
                {
                    aes.Encrypt(nonce, plaintext, expected, expectedTag, aad);
                }
                else
                {
                    ((ChaCha20Poly1305)framework).Encrypt(nonce, plaintext, expected, expectedTag, aad);
                }

                // Separate buffers, then in place: the same bytes both ways.
                var ciphertext = new byte[length];
                var tag = new byte[16];
                ours.Encrypt(nonce, plaintext, ciphertext, tag, aad);
                Assert.Equal(expected, ciphertext);
                Assert.Equal(expectedTag, tag);
                var inPlace = (byte[])plaintext.Clone();
                ours.Encrypt(nonce, inPlace, inPlace, tag, aad);
                Assert.Equal(expected, inPlace);
                Assert.Equal(expectedTag, tag);

                var decrypted = new byte[length];
                ours.Decrypt(nonce, ciphertext, tag, decrypted, aad);
                Assert.Equal(plaintext, decrypted);
                ours.Decrypt(nonce, inPlace, tag, inPlace, aad);
                Assert.Equal(plaintext, inPlace);
            }
        }
    }

    [Theory]
    [MemberData(nameof(Keys))]
    public void Decrypt_AnyBitChanged_ThrowsTagMismatchAndClearsThePlaintext(AeadAlgorithm algorithm, int keyLength, AeadEngine engine)
    {
        var key = RandomNumberGenerator.GetBytes(keyLength);
        var nonce = RandomNumberGenerator.GetBytes(12);
        var plaintext = RandomNumberGenerator.GetBytes(100);
        var aad = RandomNumberGenerator.GetBytes(13);
        using var cipher = new AeadCipher(algorithm, key, engine);
        var ciphertext = new byte[100];
        var tag = new byte[16];
        cipher.Encrypt(nonce, plaintext, ciphertext, tag, aad);

        void Tampered(byte[] c, byte[] t, byte[] a)
        {
            var output = new byte[100];
            Array.Fill(output, (byte)0xAA);
            Assert.Throws<AuthenticationTagMismatchException>(() => cipher.Decrypt(nonce, c, t, output, a));
            Assert.All(output, b => Assert.Equal(0, b));
        }

        var c2 = (byte[])ciphertext.Clone();
        c2[57] ^= 0x01;
        Tampered(c2, tag, aad);
        var t2 = (byte[])tag.Clone();
        t2[15] ^= 0x80;
        Tampered(ciphertext, t2, aad);
        var a2 = (byte[])aad.Clone();
        a2[0] ^= 0x10;
        Tampered(ciphertext, tag, a2);

        // A failure leaves the context usable: the genuine record still decrypts.
        var back = new byte[100];
        cipher.Decrypt(nonce, ciphertext, tag, back, aad);
        Assert.Equal(plaintext, back);
    }

    [Theory]
    [MemberData(nameof(NativeAesEngines))]
    public void Arguments_WrongSizesOrPartialOverlap_AreRefusedBeforeTheNativeCode(AeadEngine engine)
    {
        using var cipher = new AeadCipher(AeadAlgorithm.AesGcm, new byte[16], engine);
        var buffer = new byte[64];
        Assert.Throws<ArgumentException>(() => cipher.Encrypt(new byte[11], buffer.AsSpan(0, 16), new byte[16], new byte[16]));
        Assert.Throws<ArgumentException>(() => cipher.Encrypt(new byte[12], buffer.AsSpan(0, 16), new byte[16], new byte[12]));
        Assert.Throws<ArgumentException>(() => cipher.Encrypt(new byte[12], buffer.AsSpan(0, 16), new byte[17], new byte[16]));
        Assert.Throws<CryptographicException>(() => cipher.Encrypt(new byte[12], buffer.AsSpan(0, 32), buffer.AsSpan(8, 32), new byte[16]));
        Assert.Throws<ArgumentException>(() => new AeadCipher(AeadAlgorithm.AesGcm, new byte[24]));
        Assert.Throws<ArgumentException>(() => new AeadCipher(AeadAlgorithm.ChaCha20Poly1305, new byte[16]));
    }

    [Theory]
    [MemberData(nameof(NativeAesEngines))]
    public void Disposed_Encrypt_ThrowsObjectDisposed(AeadEngine engine)
    {
        var cipher = new AeadCipher(AeadAlgorithm.AesGcm, new byte[16], engine);
        cipher.Dispose();
        cipher.Dispose();
        Assert.Throws<ObjectDisposedException>(() => cipher.Encrypt(new byte[12], new byte[16], new byte[16], new byte[16]));
    }

    [Theory]
    [MemberData(nameof(NativeAesEngines))]
    public async Task Dispose_WhileAnotherThreadEncrypts_EndsWithObjectDisposedNotACrash(AeadEngine engine)
    {
        // The writer loop may still seal a record while the connection is disposed from elsewhere: the native state
        // must outlive the call in flight (a use after free would take the test host down, not fail an assertion).
        var cipher = new AeadCipher(AeadAlgorithm.AesGcm, new byte[16], engine);
        var buffer = new byte[16384];
        var tag = new byte[16];
        var nonce = new byte[12];
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var worker = Task.Run(() =>
        {
            var calls = 0;
            try
            {
                while (true)
                {
                    cipher.Encrypt(nonce, buffer, buffer, tag);
                    if (++calls == 100)
                    {
                        started.TrySetResult();
                    }
                }
            }
            catch (ObjectDisposedException)
            {
                return calls;
            }
        });
        await started.Task.WaitAsync(TimeSpan.FromSeconds(30));
        cipher.Dispose();
        var done = await worker.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(done >= 100);
    }
}
