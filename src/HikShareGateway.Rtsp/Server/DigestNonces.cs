using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace HikShareGateway.Rtsp.Server;

/// <summary>What a nonce presented back is: ours, fresh and for this connection; ours but too old; or not ours.</summary>
public enum NonceStatus { Valid, Stale, Invalid }

/// <summary>
/// Server nonces for RTSP Digest (RFC 7616 §3.3): stateless, bound to the time they were issued and to the connection
/// they were issued on. A nonce is base64url(issue time in ms ‖ HMAC-SHA256(key, issue time ‖ connection id)[..16]),
/// so the server keeps nothing per nonce, a nonce from another connection (a replayed Authorization) is not ours,
/// and one older than <see cref="Lifetime"/> is stale (the player is asked again with <c>stale=true</c> and a fresh
/// nonce, without re-prompting its user). Replays inside one connection need the connection itself, so no nonce
/// count is kept. Pure: the time is an input; the key lives as long as the server (a restart makes old nonces stale).
/// </summary>
public sealed class DigestNonces
{
    private const int StampBytes = 8;
    private const int MacBytes = 16;
    private static readonly TimeSpan FutureSkew = TimeSpan.FromSeconds(5);
    private readonly byte[] _key;

    /// <param name="key">The HMAC key (32 random bytes by default).</param>
    public DigestNonces(byte[]? key = null, TimeSpan? lifetime = null)
    {
        _key = key ?? RandomNumberGenerator.GetBytes(32);
        Lifetime = lifetime ?? TimeSpan.FromMinutes(5);
    }

    /// <summary>How long a nonce stays fresh. Default 5 minutes (a player's DESCRIBE…PLAY takes well under a second).</summary>
    public TimeSpan Lifetime { get; }

    public string Issue(string connectionId, DateTimeOffset now)
    {
        Span<byte> nonce = stackalloc byte[StampBytes + MacBytes];
        BinaryPrimitives.WriteInt64BigEndian(nonce, now.ToUnixTimeMilliseconds());
        Mac(nonce[..StampBytes], connectionId, nonce[StampBytes..]);
        return Base64Url(nonce);
    }

    public NonceStatus Check(string nonce, string connectionId, DateTimeOffset now)
    {
        Span<byte> raw = stackalloc byte[StampBytes + MacBytes];
        if (!TryDecode(nonce, raw))
        {
            return NonceStatus.Invalid;
        }
        Span<byte> expected = stackalloc byte[MacBytes];
        Mac(raw[..StampBytes], connectionId, expected);
        if (!CryptographicOperations.FixedTimeEquals(expected, raw[StampBytes..]))
        {
            return NonceStatus.Invalid;
        }
        var issued = DateTimeOffset.FromUnixTimeMilliseconds(BinaryPrimitives.ReadInt64BigEndian(raw));
        if (issued > now + FutureSkew)
        {
            return NonceStatus.Invalid;
        }
        return now - issued > Lifetime ? NonceStatus.Stale : NonceStatus.Valid;
    }

    private void Mac(ReadOnlySpan<byte> stamp, string connectionId, Span<byte> destination)
    {
        var input = new byte[stamp.Length + Encoding.UTF8.GetByteCount(connectionId)];
        stamp.CopyTo(input);
        Encoding.UTF8.GetBytes(connectionId, input.AsSpan(stamp.Length));
        Span<byte> mac = stackalloc byte[32];
        HMACSHA256.HashData(_key, input, mac);
        mac[..destination.Length].CopyTo(destination);
    }

    private static string Base64Url(ReadOnlySpan<byte> bytes)
        => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static bool TryDecode(string nonce, Span<byte> destination)
    {
        // 24 bytes are exactly 32 base64 characters, without padding.
        if (nonce.Length != 32)
        {
            return false;
        }
        var standard = nonce.Replace('-', '+').Replace('_', '/');
        return Convert.TryFromBase64String(standard, destination, out var written) && written == destination.Length;
    }
}
