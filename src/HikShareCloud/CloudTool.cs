using System.Globalization;
using System.Text;
using HikShareGateway.Access;
using HikShareGateway.Access.Grants;
using HikShareGateway.Access.Jose;
using HikShareGateway.Access.Tokens;
using HikShareGateway.Cloud;

namespace HikShareCloud;

/// <summary>The commands of <c>hikshare-cloud</c>. Exit codes: 0 ok, 1 failure, 2 bad command line.</summary>
public static class CloudTool
{
    public const string Usage = """
        usage: hikshare-cloud <command> [options]

        commands:
          keygen   --kid ID --out FILE [--force]
                   new Ed25519 key: writes the private JWK to FILE (mode 0600) and prints the public
                   JWK to put in the gateway's Cloud:TrustedKeys
          jwk      --key FILE                          print the public JWK of a key file
          snapshot --key FILE --in DESC|- [--out FILE] sign a grants snapshot described by DESC (JSON:
                   gatewayId, version, devices, shares as in docs/contract.md §3, typ/issuedAt optional)
          delta    --key FILE --in DESC|- [--out FILE] sign a grants delta described by DESC, or build one:
                   --gateway ID --base N --version M [--remove-share ID]... [--remove-device ID]...
          publish  --broker mqtt://HOST:PORT --gateway ID (--snapshot FILE|- | --delta FILE|-)
                   [--username U --password P] [--prefix hikshare/v1] [--ca-file CA.pem]
                   publish a signed message (snapshots retained) to {prefix}/gateways/{ID}/grants[/delta]
          token    --key FILE --sub ACCOUNT --aud GATEWAY [--aud ...] [--ttl 1h]
                   mint a viewer token (ttl as 90s, 30m, 12h, 7d)
          serve    --config FILE                       run the sharing service (docs/sharing-service.md)
        """;

    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr, TextReader stdin, CancellationToken ct = default)
    {
        if (args.Length == 0 || args[0] is "help" or "-h" or "--help")
        {
            await stdout.WriteLineAsync(Usage);
            return args.Length == 0 ? 2 : 0;
        }
        ToolArgs a;
        try
        {
            a = ToolArgs.Parse(args.AsSpan(1));
        }
        catch (ToolException e)
        {
            await stderr.WriteLineAsync($"hikshare-cloud: {e.Message}\n\n{Usage}");
            return 2;
        }
        try
        {
            switch (args[0])
            {
                case "keygen": return await KeygenAsync(a, stdout, stderr);
                case "jwk": await stdout.WriteLineAsync(LoadKey(a).Public.ToJson()); return 0;
                case "snapshot": return await SnapshotAsync(a, stdout, stdin);
                case "delta": return await DeltaAsync(a, stdout, stdin);
                case "publish": return await PublishAsync(a, stdout, stdin, ct);
                case "token": return await TokenAsync(a, stdout);
                case "serve": return await HikShareCloud.Service.ServeCommand.RunAsync(a.Required("config"), stdout, stderr, ct);
                default:
                    await stderr.WriteLineAsync($"hikshare-cloud: unknown command \"{args[0]}\"\n\n{Usage}");
                    return 2;
            }
        }
        catch (ToolException e)
        {
            await stderr.WriteLineAsync($"hikshare-cloud {args[0]}: {e.Message}");
            return e.Usage ? 2 : 1;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or MqttCloudException or OperationCanceledException
                                  or MQTTnet.Exceptions.MqttCommunicationException)
        {
            await stderr.WriteLineAsync($"hikshare-cloud {args[0]}: {e.Message}");
            return 1;
        }
    }

    private static async Task<int> KeygenAsync(ToolArgs a, TextWriter stdout, TextWriter stderr)
    {
        var kid = a.Required("kid");
        var file = a.Required("out");
        if (File.Exists(file) && !a.Has("force"))
        {
            throw new ToolException($"{file} exists; use --force to overwrite it (the old key is then lost)");
        }
        var key = Ed25519SigningKey.Generate(kid);
        AtomicFile.Write(file, Encoding.UTF8.GetBytes(key.ToPrivateJson())); // mode 0600
        await stdout.WriteLineAsync(key.Public.ToJson());
        await stderr.WriteLineAsync($"private key written to {file} (keep it secret); add the public JWK above to the gateway's Cloud:TrustedKeys");
        return 0;
    }

    private static Ed25519SigningKey LoadKey(ToolArgs a)
    {
        var file = a.Required("key");
        if (!File.Exists(file))
        {
            throw new ToolException($"key file {file} does not exist (create one with: hikshare-cloud keygen --kid ID --out {file})");
        }
        return Ed25519SigningKey.TryParsePrivate(File.ReadAllText(file), out var key, out var error)
            ? key!
            : throw new ToolException($"{file} is not a private Ed25519 JWK: {error}");
    }

    private static async Task<byte[]> ReadInputAsync(string name, TextReader stdin)
        => name == "-" ? Encoding.UTF8.GetBytes(await stdin.ReadToEndAsync())
            : File.Exists(name) ? await File.ReadAllBytesAsync(name) : throw new ToolException($"{name} does not exist");

    private static async Task<int> SnapshotAsync(ToolArgs a, TextWriter stdout, TextReader stdin)
    {
        var key = LoadKey(a);
        var input = await ReadInputAsync(a.Required("in"), stdin);
        if (!GrantsJson.TryParseSnapshot(input, out var snapshot, out var error, requireType: false))
        {
            throw new ToolException($"the snapshot description is invalid: {error}");
        }
        snapshot = snapshot! with { IssuedAt = snapshot.IssuedAt ?? DateTimeOffset.UtcNow };
        await WriteOutputAsync(a, stdout, Jws.Sign(GrantsJson.Write(snapshot), key));
        return 0;
    }

    private static async Task<int> DeltaAsync(ToolArgs a, TextWriter stdout, TextReader stdin)
    {
        var key = LoadKey(a);
        GrantsDelta delta;
        if (a.Get("in") is { } input)
        {
            if (!GrantsJson.TryParseDelta(await ReadInputAsync(input, stdin), out var d, out var error, requireType: false))
            {
                throw new ToolException($"the delta description is invalid: {error}");
            }
            delta = d!;
        }
        else
        {
            var baseVersion = a.Long("base");
            var version = a.Long("version");
            if (version <= baseVersion || baseVersion < 0)
            {
                throw new ToolException("--version must be greater than --base (and --base 0 or more)", usage: true);
            }
            delta = new GrantsDelta(a.Required("gateway"), baseVersion, version, null, [], a.All("remove-device"), [], a.All("remove-share"));
        }
        delta = delta with { IssuedAt = delta.IssuedAt ?? DateTimeOffset.UtcNow };
        await WriteOutputAsync(a, stdout, Jws.Sign(GrantsJson.Write(delta), key));
        return 0;
    }

    private static async Task WriteOutputAsync(ToolArgs a, TextWriter stdout, string jws)
    {
        if (a.Get("out") is { } file)
        {
            await File.WriteAllTextAsync(file, jws + "\n");
        }
        else
        {
            await stdout.WriteLineAsync(jws);
        }
    }

    private static async Task<int> PublishAsync(ToolArgs a, TextWriter stdout, TextReader stdin, CancellationToken ct)
    {
        var brokerText = a.Required("broker");
        if (!BrokerAddress.TryParse(brokerText, out var broker, out var why))
        {
            throw new ToolException($"--broker \"{brokerText}\" {why}", usage: true);
        }
        var gateway = a.Required("gateway");
        var prefix = a.Get("prefix") ?? "hikshare/v1";
        var snapshot = a.Get("snapshot");
        var delta = a.Get("delta");
        if ((snapshot is null) == (delta is null))
        {
            throw new ToolException("give exactly one of --snapshot FILE or --delta FILE", usage: true);
        }
        var payload = Encoding.ASCII.GetBytes(Encoding.ASCII.GetString(await ReadInputAsync(snapshot ?? delta!, stdin)).Trim());
        var topic = new HikShareGateway.Core.Cloud.CloudTopics(prefix, gateway).GrantsFor(delta: delta is not null);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(20));
        System.Security.Cryptography.X509Certificates.X509Certificate2Collection? ca = null;
        if (a.Get("ca-file") is { } caFile && !CloudLinkOptions.TryLoadCaFile(caFile, out ca, out var caError))
        {
            throw new ToolException($"--ca-file {caFile} {caError}");
        }
        await MqttOneShot.PublishAsync(broker!, a.Get("username"), a.Get("password"), topic, payload, retain: delta is null, timeout.Token, ca);
        await stdout.WriteLineAsync($"published {payload.Length} bytes to {topic}{(delta is null ? " (retained)" : "")} on {broker}");
        return 0;
    }

    private static async Task<int> TokenAsync(ToolArgs a, TextWriter stdout)
    {
        var key = LoadKey(a);
        var sub = a.Required("sub");
        if (HikShareGateway.Access.Accounts.AccountName.Normalize(sub) is null)
        {
            throw new ToolException($"--sub \"{sub}\" is not an account (an e-mail address or +E.164 phone number)", usage: true);
        }
        var aud = a.All("aud");
        if (aud.Count == 0)
        {
            throw new ToolException("--aud GATEWAY is required (repeat it for several gateways)", usage: true);
        }
        var ttl = ParseTtl(a.Get("ttl") ?? "1h");
        await stdout.WriteLineAsync(ViewerTokens.Mint(key, sub, aud, ttl, DateTimeOffset.UtcNow));
        return 0;
    }

    public static TimeSpan ParseTtl(string s)
    {
        var unit = s[^1];
        var number = char.IsDigit(unit) ? s : s[..^1];
        if (!double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var n) || n <= 0)
        {
            throw new ToolException($"--ttl \"{s}\" is not a duration (e.g. 90s, 30m, 12h, 7d)", usage: true);
        }
        return unit switch
        {
            's' => TimeSpan.FromSeconds(n),
            'm' => TimeSpan.FromMinutes(n),
            'h' => TimeSpan.FromHours(n),
            'd' => TimeSpan.FromDays(n),
            _ when char.IsDigit(unit) => TimeSpan.FromSeconds(n),
            _ => throw new ToolException($"--ttl \"{s}\": unit must be s, m, h or d", usage: true),
        };
    }
}

public sealed class ToolException(string message, bool usage = false) : Exception(message)
{
    public bool Usage { get; } = usage;
}

/// <summary><c>--name value</c> pairs (a name may repeat); <c>--flag</c> without a value.</summary>
public sealed class ToolArgs
{
    private readonly Dictionary<string, List<string>> _values = new(StringComparer.Ordinal);

    public static ToolArgs Parse(ReadOnlySpan<string> args)
    {
        var r = new ToolArgs();
        for (var i = 0; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal) || args[i].Length == 2)
            {
                throw new ToolException($"unexpected argument \"{args[i]}\"");
            }
            var name = args[i][2..];
            string value = "";
            var eq = name.IndexOf('=');
            if (eq >= 0)
            {
                value = name[(eq + 1)..];
                name = name[..eq];
            }
            else if (i + 1 < args.Length && (!args[i + 1].StartsWith("--", StringComparison.Ordinal)))
            {
                value = args[++i];
            }
            if (!r._values.TryGetValue(name, out var list))
            {
                r._values[name] = list = [];
            }
            list.Add(value);
        }
        return r;
    }

    public bool Has(string name) => _values.ContainsKey(name);
    public string? Get(string name) => _values.TryGetValue(name, out var v) ? v[^1] : null;
    public IReadOnlyList<string> All(string name) => _values.TryGetValue(name, out var v) ? v : [];

    public string Required(string name)
        => Get(name) is { Length: > 0 } v ? v : throw new ToolException($"--{name} is required", usage: true);

    public long Long(string name)
        => long.TryParse(Required(name), NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : throw new ToolException($"--{name} must be a whole number", usage: true);
}
