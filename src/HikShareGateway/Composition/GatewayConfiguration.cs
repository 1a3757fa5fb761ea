using System.Text.Json;

namespace HikShareGateway.Composition;

public sealed class GatewayConfigurationException(string message) : Exception(message);

/// <summary>
/// Configuration sources, later ones win: built-in defaults (the demo's, in demo mode), the
/// <c>--config</c> JSON file, then environment variables <c>HIKSHARE_Section__Key</c>.
/// </summary>
public static class GatewayConfiguration
{
    public const string EnvironmentPrefix = "HIKSHARE_";

    public static IConfigurationRoot Build(string? configPath, bool demo, IDictionary<string, string?>? overrides = null)
    {
        var builder = new ConfigurationBuilder();
        if (demo)
        {
            builder.AddInMemoryCollection(DemoDefaults.Values);
        }
        if (configPath is not null)
        {
            var full = Path.GetFullPath(configPath);
            if (!File.Exists(full))
            {
                throw new GatewayConfigurationException($"the file {full} given with --config does not exist.");
            }
            // Parse first so that a syntax error names the line, not just "invalid JSON".
            try
            {
                using var doc = JsonDocument.Parse(File.ReadAllBytes(full), new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
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
            builder.AddJsonFile(full, optional: false, reloadOnChange: false);
        }
        builder.AddEnvironmentVariables(EnvironmentPrefix);
        if (overrides is not null)
        {
            builder.AddInMemoryCollection(overrides);
        }
        return builder.Build();
    }
}
