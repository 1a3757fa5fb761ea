using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using HikShareGateway.Access.Grants;
using HikShareGateway.Core.Access;
using HikShareGateway.Core.Protocols;

namespace HikShareGateway.Access.Credentials;

/// <summary>
/// RTSP credentials for players that cannot carry a token (contract §4.1): a viewer token exchanged for a short
/// password, valid as Basic and as Digest (RFC 7616, MD5 and SHA-256, realm <see cref="Realm"/>) for that account only,
/// never beyond the token's expiry, at most <see cref="MaxPerAccount"/> live per account.
/// </summary>
/// <remarks>
/// Kept in <c>rtsp-credentials.json</c> under the state directory (atomic writes, mode 0600) so they survive a restart,
/// and only as hashes: SHA-256 of the password for Basic and the two Digest HA1 values (H(username:realm:password)).
/// A password is 24 random characters of [A-Za-z0-9] (≈143 bits), so a fast hash is enough; the HA1 values are what a
/// Digest server must keep, and they open this realm only. Thread-safe; every change rewrites the file.
/// Who the credential belongs to is all it says: sessions are still checked against the grants.
/// </remarks>
public sealed class RtspCredentialStore : IRtspCredentials
{
    public const string Realm = "HikShareGateway";
    public const int MaxPerAccount = 16;
    public const int PasswordLength = 24;
    public const string FileName = "rtsp-credentials.json";
    private const string Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

    private readonly string? _path;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private List<Entry> _entries;

    /// <param name="stateDirectory">Where the file lives; null keeps the credentials in memory only (tests).</param>
    public RtspCredentialStore(string? stateDirectory, TimeProvider time)
    {
        _time = time;
        _path = stateDirectory is null ? null : Path.Combine(stateDirectory, FileName);
        _entries = Load(_path);
    }

    /// <summary>Issues a credential for <paramref name="account"/>, expiring at the earlier of now + ttl and the token's expiry.</summary>
    public RtspCredentialIssue TryIssue(string account, DateTimeOffset tokenExpiresAt, TimeSpan? ttl, out IssuedRtspCredential? issued)
    {
        issued = null;
        var now = _time.GetUtcNow();
        if (tokenExpiresAt <= now)
        {
            return RtspCredentialIssue.TokenExpired;
        }
        var expires = ttl is { } t && now + t < tokenExpiresAt ? now + t : tokenExpiresAt;
        var password = RandomNumberGenerator.GetString(Alphabet, PasswordLength);
        lock (_gate)
        {
            Prune(now);
            if (_entries.Count(e => e.Username == account) >= MaxPerAccount)
            {
                return RtspCredentialIssue.TooMany;
            }
            var entry = new Entry
            {
                Id = "rc-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8)),
                Username = account,
                CreatedAt = now,
                ExpiresAt = expires,
                PasswordSha256 = Hex(SHA256.HashData(Encoding.UTF8.GetBytes(password))),
                Ha1Md5 = Ha1(account, password, sha256: false),
                Ha1Sha256 = Ha1(account, password, sha256: true),
            };
            _entries = [.. _entries, entry];
            Save();
            issued = new IssuedRtspCredential(entry.Info, password);
        }
        return RtspCredentialIssue.Issued;
    }

    /// <summary>The live credentials of <paramref name="account"/>, oldest first.</summary>
    public IReadOnlyList<RtspCredentialInfo> List(string account)
    {
        var now = _time.GetUtcNow();
        return [.. Snapshot().Where(e => e.Username == account && e.ExpiresAt > now).Select(e => e.Info)];
    }

    /// <summary>Revokes one of the caller's own credentials; false when it has none of that id.</summary>
    public bool Revoke(string account, string id)
    {
        lock (_gate)
        {
            var kept = _entries.Where(e => !(e.Id == id && e.Username == account)).ToList();
            if (kept.Count == _entries.Count)
            {
                return false;
            }
            _entries = kept;
            Save();
            return true;
        }
    }

    /// <summary>True when <paramref name="password"/> has the shape of an issued password (not a token).</summary>
    public static bool LooksIssued(string? password) => password is { Length: PasswordLength } && password.All(char.IsAsciiLetterOrDigit);

    /// <summary>The credential a Basic user/password pair is, or null (unknown, wrong password or expired).</summary>
    public RtspCredentialInfo? VerifyBasic(string username, string password)
    {
        if (!LooksIssued(password))
        {
            return null;
        }
        var now = _time.GetUtcNow();
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(password));
        foreach (var e in Snapshot())
        {
            if (e.Username == username && e.ExpiresAt > now && CryptographicOperations.FixedTimeEquals(hash, Convert.FromHexString(e.PasswordSha256)))
            {
                return e.Info;
            }
        }
        return null;
    }

    /// <summary>
    /// The Digest HA1 values (lower-case hex) of <paramref name="username"/>'s live credentials for the algorithm
    /// (<c>MD5</c> or <c>SHA-256</c>): a Digest verifier tries each (an account may hold several credentials).
    /// </summary>
    public IReadOnlyList<string> DigestHa1(string username, bool sha256)
    {
        var now = _time.GetUtcNow();
        return [.. Snapshot().Where(e => e.Username == username && e.ExpiresAt > now).Select(e => sha256 ? e.Ha1Sha256 : e.Ha1Md5)];
    }

    /// <summary>
    /// The credential whose Digest HA1 answers <paramref name="digest"/> for <paramref name="method"/> (RFC 7616: MD5 or
    /// SHA-256, with or without <c>-sess</c> and <c>qop</c>), or null. <paramref name="account"/> is the normalised
    /// user; the HA1 was computed over it, so a player must send the username as issued. Realm and nonce are the
    /// caller's to check.
    /// </summary>
    public RtspCredentialInfo? VerifyDigest(DigestCredentials digest, string method, string account)
    {
        var sha256 = digest.Algorithm is DigestAlgorithm.Sha256 or DigestAlgorithm.Sha256Sess;
        var now = _time.GetUtcNow();
        foreach (var e in Snapshot())
        {
            if (e.Username == account && e.ExpiresAt > now && Digest.Verify(digest, method, sha256 ? e.Ha1Sha256 : e.Ha1Md5))
            {
                return e.Info;
            }
        }
        return null;
    }

    /// <summary>H(username:realm:password), RFC 7616 §3.4.2, lower-case hex.</summary>
    public static string Ha1(string username, string password, bool sha256)
    {
        var input = Encoding.UTF8.GetBytes($"{username}:{Realm}:{password}");
        return Hex(sha256 ? SHA256.HashData(input) : MD5.HashData(input));
    }

    private List<Entry> Snapshot()
    {
        lock (_gate)
        {
            return _entries;
        }
    }

    private void Prune(DateTimeOffset now)
    {
        if (_entries.Any(e => e.ExpiresAt <= now))
        {
            _entries = [.. _entries.Where(e => e.ExpiresAt > now)];
        }
    }

    private void Save()
    {
        if (_path is not null)
        {
            AtomicFile.Write(_path, JsonSerializer.SerializeToUtf8Bytes(_entries, CredentialsJson.Default.ListEntry));
        }
    }

    private static List<Entry> Load(string? path)
    {
        if (path is null || !File.Exists(path))
        {
            return [];
        }
        try
        {
            return JsonSerializer.Deserialize(File.ReadAllBytes(path), CredentialsJson.Default.ListEntry) ?? [];
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path} is not a credentials file the gateway wrote ({e.Message}); move it away to start without RTSP credentials", e);
        }
    }

    private static string Hex(byte[] bytes) => Convert.ToHexStringLower(bytes);

    internal sealed class Entry
    {
        public required string Id { get; init; }
        public required string Username { get; init; }
        public required DateTimeOffset CreatedAt { get; init; }
        public required DateTimeOffset ExpiresAt { get; init; }
        public required string PasswordSha256 { get; init; }
        public required string Ha1Md5 { get; init; }
        public required string Ha1Sha256 { get; init; }

        [JsonIgnore]
        public RtspCredentialInfo Info => new(Id, Username, CreatedAt, ExpiresAt);
    }
}

[JsonSerializable(typeof(List<RtspCredentialStore.Entry>), TypeInfoPropertyName = "ListEntry")]
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = false)]
internal sealed partial class CredentialsJson : JsonSerializerContext;
