using HikShareGateway.Access.Jose;

namespace HikShareCloud.Service.Grants;

/// <summary>
/// The service's Ed25519 keys (contract §2). The first signs; all are offered as the gateways' trusted
/// keys. Rotation without a gap: add the new key's public JWK to the gateways' <c>Cloud:TrustedKeys</c>
/// (the service's <c>/api/v1/keys</c> lists every key), then put the new key file first.
/// </summary>
public sealed class SigningKeys
{
    public SigningKeys(IReadOnlyList<Ed25519SigningKey> keys)
    {
        if (keys.Count == 0)
        {
            throw new ArgumentException("at least one signing key", nameof(keys));
        }
        All = keys;
    }

    public Ed25519SigningKey Active => All[0];
    public IReadOnlyList<Ed25519SigningKey> All { get; }

    /// <summary>Loads private JWK files (hikshare-cloud keygen); every problem is listed.</summary>
    public static SigningKeys Load(IReadOnlyList<string> files, List<string> errors)
    {
        var keys = new List<Ed25519SigningKey>();
        for (var i = 0; i < files.Count; i++)
        {
            var file = files[i];
            if (!File.Exists(file))
            {
                errors.Add($"Sharing:SigningKeyFiles:{i} {file} does not exist (create it with: hikshare-cloud keygen --kid ID --out {file})");
            }
            else if (!Ed25519SigningKey.TryParsePrivate(File.ReadAllText(file), out var key, out var error))
            {
                errors.Add($"Sharing:SigningKeyFiles:{i} {file} is not a private Ed25519 JWK: {error}");
            }
            else
            {
                keys.Add(key!);
            }
        }
        return keys.Count == 0 ? null! : new SigningKeys(keys);
    }
}
