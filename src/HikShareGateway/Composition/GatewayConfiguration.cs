using System.Text.Json;

namespace HikShareGateway.Composition;

public sealed class GatewayConfigurationException(string message) : Exception(message);

/// <summary>
/// Configuration sources, later ones win: built-in defaults (the demo's, in demo mode), the
/// <c>--config</c> JSON file, the secrets JSON file (<see cref="SecretsFileKey"/>), then environment
/// variables <c>HIKSHARE_Section__Key</c>.
/// </summary>
public static class GatewayConfiguration
{
    public const string EnvironmentPrefix = "HIKSHARE_";

    /// <summary>
    /// Top-level key (or <c>HIKSHARE_SecretsFile</c>) naming a second JSON file with the secrets (device and
    /// broker passwords), merged over the <c>--config</c> file. Without it the host uses, if present,
    /// <c>$CREDENTIALS_DIRECTORY/secrets.json</c> (systemd <c>LoadCredential=secrets.json:…</c>) or
    /// <c>secrets.json</c> beside the <c>--config</c> file. Arrays merge by index: <c>{"Devices":[{"Password":"…"}]}</c>
    /// sets the password of the first device.
    /// </summary>
    public const string SecretsFileKey = "SecretsFile";
    public const string SecretsFileName = "secrets.json";

    /// <param name="loadSecrets">False for commands that need no password (<c>status</c>), so that they work without reading the secrets file.</param>
    public static IConfigurationRoot Build(string? configPath, bool demo, IDictionary<string, string?>? overrides = null, bool loadSecrets = true)
    {
        var builder = new ConfigurationBuilder();
        if (demo)
        {
            builder.AddInMemoryCollection(DemoDefaults.Values);
        }
        string? configDirectory = null;
        string? explicitSecrets = Environment.GetEnvironmentVariable(EnvironmentPrefix + SecretsFileKey);
        if (configPath is not null)
        {
            var full = Path.GetFullPath(configPath);
            if (!File.Exists(full))
            {
                throw new GatewayConfigurationException($"the file {full} given with --config does not exist.");
            }
            using (var doc = Parse(full))
            {
                if (explicitSecrets is null && doc.RootElement.ValueKind == JsonValueKind.Object
                    && doc.RootElement.TryGetProperty(SecretsFileKey, out var sf) && sf.ValueKind == JsonValueKind.String)
                {
                    explicitSecrets = sf.GetString();
                }
            }
            builder.AddJsonFile(full, optional: false, reloadOnChange: false);
            configDirectory = Path.GetDirectoryName(full);
        }
        if (loadSecrets && ResolveSecrets(explicitSecrets, configDirectory) is { } secrets)
        {
            Parse(secrets).Dispose();
            builder.AddJsonFile(secrets, optional: false, reloadOnChange: false);
        }
        builder.AddEnvironmentVariables(EnvironmentPrefix);
        if (overrides is not null)
        {
            builder.AddInMemoryCollection(overrides);
        }
        return builder.Build();
    }

    /// <summary>The secrets file to load, or null. An explicitly named one must exist.</summary>
    internal static string? ResolveSecrets(string? explicitPath, string? configDirectory)
    {
        if (!string.IsNullOrWhiteSpace(explicitPath))
        {
            var full = Path.GetFullPath(explicitPath, configDirectory ?? Directory.GetCurrentDirectory());
            if (!File.Exists(full))
            {
                throw new GatewayConfigurationException($"{SecretsFileKey}: the secrets file {full} does not exist (remove the key, or create the file with the device passwords).");
            }
            return full;
        }
        if (Environment.GetEnvironmentVariable("CREDENTIALS_DIRECTORY") is { Length: > 0 } credentials
            && File.Exists(Path.Combine(credentials, SecretsFileName)))
        {
            return Path.Combine(credentials, SecretsFileName);
        }
        if (configDirectory is not null && File.Exists(Path.Combine(configDirectory, SecretsFileName)))
        {
            return Path.Combine(configDirectory, SecretsFileName);
        }
        return null;
    }

    /// <summary>Parses first so that a syntax error names the line, not just "invalid JSON".</summary>
    private static JsonDocument Parse(string full)
    {
        try
        {
            return JsonDocument.Parse(File.ReadAllBytes(full), new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            throw new GatewayConfigurationException($"{full} is not valid JSON (line {e.LineNumber + 1}, byte {e.BytePositionInLine + 1}): {e.Message.Split(" LineNumber")[0]}");
        }
        catch (IOException e)
        {
            throw new GatewayConfigurationException($"{full} cannot be read: {e.Message}");
        }
        catch (UnauthorizedAccessException)
        {
            throw new GatewayConfigurationException($"{full} cannot be read: permission denied.");
        }
    }
}
