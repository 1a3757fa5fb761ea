using System.Globalization;
using System.Text;
using HikShareGateway.Access;
using HikShareGateway.Access.Grants;
using HikShareGateway.Access.Jose;
using HikShareGateway.Access.Tokens;
using HikShareGateway.Cloud;
using HikShare.CommandLineSupport;
using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Parsing;

namespace HikShareCloud;

/// <summary>
/// The commands of <c>hikshare-cloud</c>, parsed by System.CommandLine: every command has <c>--help</c>; an unknown
/// command or option is exit 64 (EX_USAGE) naming it. Exit codes: 0 ok, 1 failure, 64 bad command line.
/// Adding a command is one <see cref="CloudCommand"/> in <see cref="Commands"/>.
/// </summary>
public static class CloudTool
{
    public const string ProgramName = "hikshare-cloud";
    public const int ExitUsage = CommandLineUsage.ExitCode;

    /// <summary>Every command: name, one line of usage, options, and what runs with the parsed options.</summary>
    public static IReadOnlyList<CloudCommand> Commands { get; } =
    [
        new("keygen", "New Ed25519 key: writes the private JWK to FILE (mode 0600) and prints the public JWK to put in the gateway's Cloud:TrustedKeys.",
            () => [Value("kid", "ID", "Key id (kid) of the new key."), Value("out", "FILE", "Where to write the private JWK."), Flag("force", "Overwrite FILE (the old key is then lost).")],
            (a, io, ct) => KeygenAsync(a, io.Out, io.Error)),
        new("jwk", "Print the public JWK of a key file.",
            () => [Value("key", "FILE", "Private key file (from keygen).")],
            async (a, io, ct) => { await io.Out.WriteLineAsync(LoadKey(a).Public.ToJson()); return 0; }),
        new("snapshot", "Sign a grants snapshot described by DESC (JSON: gatewayId, version, devices, shares as in docs/contract.md §3; typ/issuedAt optional).",
            () => [Value("key", "FILE", "Private key file."), Value("in", "DESC|-", "The description (- for stdin)."), Value("out", "FILE", "Write the JWS there instead of stdout.")],
            (a, io, ct) => SnapshotAsync(a, io.Out, io.In)),
        new("delta", "Sign a grants delta described by DESC, or build one from --gateway, --base, --version and the removals.",
            () => [Value("key", "FILE", "Private key file."), Value("in", "DESC|-", "The description (- for stdin)."), Value("out", "FILE", "Write the JWS there instead of stdout."),
                   Value("gateway", "ID", "Gateway id (without --in)."), Value("base", "N", "Version the delta applies to (without --in)."), Value("version", "M", "Version after the delta (without --in)."),
                   Many("remove-share", "ID", "Remove this share (repeatable)."), Many("remove-device", "ID", "Remove this device (repeatable).")],
            (a, io, ct) => DeltaAsync(a, io.Out, io.In)),
        new("publish", "Publish a signed message (snapshots retained) to {prefix}/gateways/{ID}/grants[/delta].",
            () => [Value("broker", "mqtt://HOST:PORT", "The broker (mqtts:// for TLS)."), Value("gateway", "ID", "Gateway id."),
                   Value("snapshot", "FILE|-", "A signed snapshot (- for stdin)."), Value("delta", "FILE|-", "A signed delta (- for stdin)."),
                   Value("username", "U", "Broker user."), Value("password", "P", "Broker password."), Value("prefix", "PREFIX", "Topic prefix (default hikshare/v1)."),
                   Value("ca-file", "CA.pem", "CA certificate(s) to trust for mqtts://.")],
            (a, io, ct) => PublishAsync(a, io.Out, io.In, ct)),
        new("token", "Mint a viewer token.",
            () => [Value("key", "FILE", "Private key file."), Value("sub", "ACCOUNT", "The viewer's account (e-mail address or +E.164 phone number)."),
                   Many("aud", "GATEWAY", "A gateway the token is for (repeatable)."), Value("ttl", "DURATION", "Lifetime as 90s, 30m, 12h, 7d (default 1h).")],
            (a, io, ct) => TokenAsync(a, io.Out)),
        new("serve", "Run the sharing service (docs/sharing-service.md).",
            () => [Value("config", "FILE", "The service's configuration (JSON).")],
            (a, io, ct) => HikShareCloud.Service.ServeCommand.RunAsync(a.Required("config"), io.Out, io.Error, ct)),
    ];

    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr, TextReader stdin, CancellationToken ct = default)
    {
        var io = new CloudConsole(stdout, stderr, stdin);
        var result = CreateRoot(io).Parse(args);
        if (CommandLineUsage.TryReport(result, stderr, out var code))
        {
            return code;
        }
        return await result.InvokeAsync(new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false }, ct);
    }

    /// <summary>The System.CommandLine tree of <see cref="Commands"/>.</summary>
    public static Command CreateRoot(CloudConsole io)
    {
        var root = CommandLineUsage.CreateRoot(ProgramName, "The cloud's side of HikShare for installers and tests: keys, signed grant snapshots and deltas, publishing them, viewer tokens.");
        foreach (var c in Commands)
        {
            var command = new Command(c.Name, c.Description);
            foreach (var o in c.CreateOptions())
            {
                command.Options.Add(o);
            }
            command.SetAction((r, ct) => InvokeAsync(c, r, io, ct));
            root.Subcommands.Add(command);
        }
        return root;
    }

    private static async Task<int> InvokeAsync(CloudCommand c, ParseResult r, CloudConsole io, CancellationToken ct)
    {
        try
        {
            return await c.Run(ToolArgs.From(r), io, ct);
        }
        catch (ToolException e)
        {
            await io.Error.WriteLineAsync($"{ProgramName} {c.Name}: {e.Message}");
            if (e.Usage)
            {
                await io.Error.WriteLineAsync($"Run '{ProgramName} {c.Name} --help' for the usage.");
            }
            return e.Usage ? ExitUsage : 1;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or MqttCloudException or OperationCanceledException
                                  or MQTTnet.Exceptions.MqttCommunicationException)
        {
            await io.Error.WriteLineAsync($"{ProgramName} {c.Name}: {e.Message}");
            return 1;
        }
    }

    /// <summary>An option with a value; given twice, the last counts (<see cref="ToolArgs.Get"/>).</summary>
    private static Option<string[]> Value(string name, string valueName, string description) => CommandLineUsage.Value(name, valueName, description);

    /// <summary>An option that may repeat; every value counts (<see cref="ToolArgs.All"/>).</summary>
    private static Option<string[]> Many(string name, string valueName, string description) => CommandLineUsage.Value(name, valueName, description);

    private static Option<bool> Flag(string name, string description) => new("--" + name) { Description = description };

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

/// <summary>One command of <c>hikshare-cloud</c>. <see cref="CreateOptions"/> makes new options on every call (an option has one parent).</summary>
public sealed record CloudCommand(string Name, string Description, Func<IEnumerable<Option>> CreateOptions, Func<ToolArgs, CloudConsole, CancellationToken, Task<int>> Run);

/// <summary>Where a command reads and writes.</summary>
public sealed record CloudConsole(TextWriter Out, TextWriter Error, TextReader In);

public sealed class ToolException(string message, bool usage = false) : Exception(message)
{
    public bool Usage { get; } = usage;
}

/// <summary>The options given to a command (a name may repeat); a flag has one empty value.</summary>
public sealed class ToolArgs
{
    private readonly Dictionary<string, List<string>> _values = new(StringComparer.Ordinal);

    public static ToolArgs From(ParseResult result)
    {
        var r = new ToolArgs();
        foreach (var child in result.CommandResult.Children)
        {
            if (child is not OptionResult { Implicit: false } o || o.Option is HelpOption)
            {
                continue;
            }
            var name = o.Option.Name.TrimStart('-');
            if (o.Option is Option<bool> flag)
            {
                if (result.GetValue(flag))
                {
                    r._values[name] = [""];
                }
                continue;
            }
            var list = r._values.TryGetValue(name, out var l) ? l : r._values[name] = [];
            foreach (var t in o.Tokens)
            {
                list.Add(t.Value);
            }
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
