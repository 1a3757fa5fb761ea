namespace HikShareGateway.Access.Accounts;

/// <summary>
/// Account names (contract §1): an e-mail address (compared case-insensitively, stored lower-case) or
/// a mobile number in E.164 form (<c>+8618969190000</c>; spaces, dashes and a leading <c>00</c> are
/// normalised away).
/// </summary>
public static class AccountName
{
    /// <summary>E.164 (ITU-T E.164 §6): at most 15 digits, country code never starts with 0.</summary>
    private const int MaxE164Digits = 15;
    private const int MinE164Digits = 7;
    private const int MaxEmailLength = 254; // RFC 5321 §4.5.3.1.3 path limit.

    /// <summary>Normalises <paramref name="raw"/>; false (and a reason) when it is neither an e-mail nor an E.164 number.</summary>
    public static bool TryNormalize(string? raw, out string normalized, out string? error)
    {
        normalized = "";
        error = null;
        if (string.IsNullOrWhiteSpace(raw))
        {
            error = "empty account";
            return false;
        }
        var s = raw.Trim();
        if (s.Contains('@'))
        {
            var at = s.IndexOf('@');
            if (at == 0 || at == s.Length - 1 || s.IndexOf('@', at + 1) >= 0 || s.Length > MaxEmailLength)
            {
                error = "not an e-mail address (one '@' with text on both sides)";
                return false;
            }
            foreach (var c in s)
            {
                if (char.IsWhiteSpace(c) || char.IsControl(c))
                {
                    error = "an e-mail address may not contain spaces or control characters";
                    return false;
                }
            }
            normalized = s.ToLowerInvariant();
            return true;
        }

        Span<char> digits = stackalloc char[32];
        var n = 0;
        var i = 0;
        if (s.StartsWith('+'))
        {
            i = 1;
        }
        else if (s.StartsWith("00", StringComparison.Ordinal))
        {
            i = 2; // International call prefix 00 = '+'.
        }
        else
        {
            error = "a phone number must start with + or 00 and its country code";
            return false;
        }
        for (; i < s.Length; i++)
        {
            var c = s[i];
            if (c is ' ' or '-')
            {
                continue;
            }
            if (c is < '0' or > '9' || n == digits.Length)
            {
                error = "a phone number may only contain digits, spaces and dashes after + / 00";
                return false;
            }
            digits[n++] = c;
        }
        if (n < MinE164Digits || n > MaxE164Digits || digits[0] == '0')
        {
            error = $"a phone number needs {MinE164Digits}-{MaxE164Digits} digits with a country code not starting with 0";
            return false;
        }
        normalized = string.Concat("+", digits[..n]);
        return true;
    }

    /// <summary>The normalised account, or null when <paramref name="raw"/> is not a valid account.</summary>
    public static string? Normalize(string? raw) => TryNormalize(raw, out var n, out _) ? n : null;
}
