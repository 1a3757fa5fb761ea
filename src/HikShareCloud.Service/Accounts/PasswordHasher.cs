using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using HikShareGateway.Access.Jose;

namespace HikShareCloud.Service.Accounts;

/// <summary>
/// PBKDF2-SHA256 (framework <see cref="Rfc2898DeriveBytes.Pbkdf2(byte[], byte[], int, HashAlgorithmName, int)"/>),
/// 16-byte random salt, 32-byte key, stored as <c>pbkdf2-sha256$ITERATIONS$SALT$HASH</c> (base64url) so
/// that the iteration count can grow without invalidating older hashes.
/// </summary>
public sealed class PasswordHasher
{
    /// <summary>OWASP's 2023 figure for PBKDF2-HMAC-SHA256; the service refuses fewer at start.</summary>
    public const int MinimumIterations = 600_000;
    private const string Scheme = "pbkdf2-sha256";

    public PasswordHasher(int iterations = MinimumIterations)
    {
        Iterations = iterations;
    }

    /// <summary>Tests build a cheaper hasher through this; options validation keeps production at ≥ 600k.</summary>
    internal static PasswordHasher ForTests(int iterations) => new(iterations);

    public int Iterations { get; }

    public string Hash(string password)
    {
        var salt = RandomNumberGenerator.GetBytes(16);
        var key = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), salt, Iterations, HashAlgorithmName.SHA256, 32);
        return $"{Scheme}${Iterations.ToString(CultureInfo.InvariantCulture)}${Base64UrlStrict.Encode(salt)}${Base64UrlStrict.Encode(key)}";
    }

    public static bool Verify(string password, string stored)
    {
        var parts = stored.Split('$');
        if (parts.Length != 4 || parts[0] != Scheme
            || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var iterations) || iterations < 1
            || !Base64UrlStrict.TryDecode(parts[2], out var salt) || !Base64UrlStrict.TryDecode(parts[3], out var expected))
        {
            return false;
        }
        var key = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), salt, iterations, HashAlgorithmName.SHA256, expected.Length);
        return CryptographicOperations.FixedTimeEquals(key, expected);
    }

    /// <summary>The cost of checking a password for an unknown account, so that timing does not tell which accounts exist.</summary>
    public void Burn(string password) => Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), new byte[16], Iterations, HashAlgorithmName.SHA256, 32);
}
