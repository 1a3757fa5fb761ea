using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using HikShareGateway.Core.Crypto;

namespace HikShareGateway.Bench;

/// <summary>
/// The per-record AEAD cost behind RTSPS and SRTP: <see cref="AeadCipher"/>'s engines (intel-ipsec-mb for AES-GCM,
/// OpenSSL's EVP called directly) against the framework's <see cref="AesGcm"/> / <see cref="ChaCha20Poly1305"/> on the
/// same bytes, in place, at the sizes the relay seals (a full 16 KiB TLS record, a frame's last record, an SRTP packet).
/// Medians of rounds, ns per call.
/// </summary>
public static class AeadBench
{
    public static Task<int> RunAsync(string[] args)
    {
        var rounds = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 15;
        Console.WriteLine($"aead: {AeadCipher.Describe()}; in place, 13-byte AAD, medians of {rounds} rounds");
        Console.WriteLine($"{"cipher",-18} {"bytes",6} {"framework ns",13} {"EVP ns",8} {"ipsec-mb ns",12} {"framework GB/s",15} {"EVP GB/s",9} {"ipsec-mb GB/s",14} {"EVP/fw",7} {"mb/EVP",7}");
        foreach (var (name, algorithm, keyLength) in new[]
                 {
                     ("AES-128-GCM", AeadAlgorithm.AesGcm, 16),
                     ("AES-256-GCM", AeadAlgorithm.AesGcm, 32),
                     ("ChaCha20-Poly1305", AeadAlgorithm.ChaCha20Poly1305, 32),
                 })
        {
            var key = RandomNumberGenerator.GetBytes(keyLength);
            using var evp = new AeadCipher(algorithm, key, AeadEngine.OpenSsl);
            using var framework = new AeadCipher(algorithm, key, AeadEngine.Framework);
            using var mb = algorithm == AeadAlgorithm.AesGcm && AeadCipher.IpsecMbAvailable ? new AeadCipher(algorithm, key, AeadEngine.IpsecMb) : null;
            foreach (var size in new[] { 16385, 4096, 1200 })
            {
                var f = Measure(framework, size, rounds);
                var o = Measure(evp, size, rounds);
                var m = mb is null ? double.NaN : Measure(mb, size, rounds);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{name,-18} {size,6} {f,13:0} {o,8:0} {m,12:0} {size / f,15:0.00} {size / o,9:0.00} {size / m,14:0.00} {o / f,7:0.00} {m / o,7:0.00}"));
            }
        }
        Console.WriteLine($"command: dotnet run -c Release --project bench/HikShareGateway.Bench -- aead {rounds}");
        return Task.FromResult(0);
    }

    /// <summary>Median ns per Encrypt over rounds of about 20 MB each.</summary>
    private static double Measure(AeadCipher cipher, int size, int rounds)
    {
        var buffer = new byte[size];
        var nonce = new byte[12];
        var tag = new byte[16];
        var aad = new byte[13];
        var calls = Math.Max(1000, 20_000_000 / size);
        for (var i = 0; i < calls; i++)
        {
            cipher.Encrypt(nonce, buffer, buffer, tag, aad);
        }
        var samples = new double[rounds];
        for (var r = 0; r < rounds; r++)
        {
            var t = Stopwatch.GetTimestamp();
            for (var i = 0; i < calls; i++)
            {
                nonce[11] = (byte)i;
                cipher.Encrypt(nonce, buffer, buffer, tag, aad);
            }
            samples[r] = Stopwatch.GetElapsedTime(t).TotalNanoseconds / calls;
        }
        Array.Sort(samples);
        return samples[rounds / 2];
    }
}
