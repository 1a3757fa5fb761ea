using System.Security.Cryptography;

namespace HikShareGateway.WebRtc.Srtp;

/// <summary>
/// The SRTP key derivation function (RFC 3711 §4.3.1) with key_derivation_rate 0, as DTLS-SRTP uses it: AES-CM
/// keyed with the master key over IV = (master_salt XOR label·2^48)·2^16. RFC 7714 §11: a 96-bit GCM master salt
/// enters the same function padded with zeros to 112 bits.
/// </summary>
public static class SrtpKeyDerivation
{
    public const byte LabelRtpEncryption = 0, LabelRtpAuth = 1, LabelRtpSalt = 2;
    public const byte LabelRtcpEncryption = 3, LabelRtcpAuth = 4, LabelRtcpSalt = 5;

    public static void Derive(ReadOnlySpan<byte> masterKey, ReadOnlySpan<byte> masterSalt, byte label, Span<byte> output)
    {
        if (masterSalt.Length > 14) throw new ArgumentException("A master salt is at most 112 bits.", nameof(masterSalt));
        Span<byte> iv = stackalloc byte[16];
        iv.Clear();
        masterSalt.CopyTo(iv);
        iv[7] ^= label; // key_id = label || r (r = 0), right-aligned in the 112-bit salt
        var blocks = (output.Length + 15) / 16;
        Span<byte> counters = stackalloc byte[blocks * 16];
        for (var j = 0; j < blocks; j++)
        {
            iv.CopyTo(counters[(j * 16)..]);
            counters[j * 16 + 14] = (byte)(j >> 8);
            counters[j * 16 + 15] = (byte)j;
        }
        using var aes = Aes.Create();
        aes.Key = masterKey.ToArray();
        Span<byte> stream = stackalloc byte[blocks * 16];
        aes.EncryptEcb(counters, stream, PaddingMode.None);
        stream[..output.Length].CopyTo(output);
        CryptographicOperations.ZeroMemory(stream);
    }
}
