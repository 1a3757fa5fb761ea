using System.Security.Cryptography;

namespace HikShareGateway.WebRtc.Ice;

/// <summary>Our ICE username fragment and password for one session (RFC 8445 §5.3: ≥ 24 bits and ≥ 128 bits of randomness).</summary>
public sealed record IceCredentials(string Ufrag, string Pwd)
{
    private const string IceChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    /// <summary>8 ice-chars of ufrag (48 bits) and 24 of password (144 bits).</summary>
    public static IceCredentials Generate() => new(RandomIceChars(8), RandomIceChars(24));

    private static string RandomIceChars(int n) => RandomNumberGenerator.GetString(IceChars, n);
}
