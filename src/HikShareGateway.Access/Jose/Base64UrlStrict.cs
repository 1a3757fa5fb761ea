using System.Buffers.Text;

namespace HikShareGateway.Access.Jose;

/// <summary>
/// base64url without padding (RFC 7515 §2 and Appendix C). Stricter than <see cref="Base64Url"/>,
/// which tolerates padding and whitespace: a JWS with either is rejected as malformed.
/// </summary>
public static class Base64UrlStrict
{
    public static bool IsStrict(ReadOnlySpan<byte> utf8)
    {
        if (utf8.Length % 4 == 1)
        {
            return false; // No base64 encoding ends with a single character.
        }
        foreach (var b in utf8)
        {
            if (!((b >= 'A' && b <= 'Z') || (b >= 'a' && b <= 'z') || (b >= '0' && b <= '9') || b == '-' || b == '_'))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>Decodes strict base64url into a new array; false on any malformation.</summary>
    public static bool TryDecode(ReadOnlySpan<byte> utf8, out byte[] bytes)
    {
        bytes = [];
        if (!IsStrict(utf8))
        {
            return false;
        }
        var buffer = new byte[Base64Url.GetMaxDecodedLength(utf8.Length)];
        var status = Base64Url.DecodeFromUtf8(utf8, buffer, out var consumed, out var written);
        if (status != System.Buffers.OperationStatus.Done || consumed != utf8.Length)
        {
            return false;
        }
        bytes = written == buffer.Length ? buffer : buffer.AsSpan(0, written).ToArray();
        return true;
    }

    public static bool TryDecode(string s, out byte[] bytes) => TryDecode(System.Text.Encoding.ASCII.GetBytes(s), out bytes);

    public static string Encode(ReadOnlySpan<byte> bytes) => Base64Url.EncodeToString(bytes);
}
