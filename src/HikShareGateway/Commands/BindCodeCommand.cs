using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using HikShareGateway.Cloud;
using HikShareGateway.Composition;
using HikShareGateway.Core.Cloud;
using HikShareGateway.Core.Configuration;

namespace HikShareGateway;

/// <summary>
/// <c>hikshare-gateway bind-code [--config FILE] [--minutes N]</c>: makes a one-time binding code, publishes only its
/// salted SHA-256 (retained, QoS 1) on <c>{p}/gateways/{gw}/binding</c> with the gateway's own broker settings, and
/// prints the code for the owner to enter in the sharing service. The daemon need not run; a new code replaces the
/// previous one (the retained message is overwritten).
/// </summary>
public sealed class BindCodeCommand : GatewayCommand
{
    public override string Name => "bind-code";
    public override string Description => "Print a one-time code that binds this gateway to an owner in the sharing service (publishes only its salted hash).";

    public const int DefaultMinutes = 15;

    public override IEnumerable<System.CommandLine.Option> CreateOptions() =>
    [
        Commands.Value("minutes", "N", $"How long the code stays valid, 1-1440 minutes (default {DefaultMinutes})."),
    ];

    public override async Task<int> InvokeAsync(CommandLine cli, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        var minutes = DefaultMinutes;
        if (cli.Options.TryGetValue("minutes", out var m) && (!int.TryParse(m, out minutes) || minutes is < 1 or > 1440))
        {
            await error.WriteLineAsync("hikshare-gateway bind-code: --minutes must be a whole number from 1 to 1440.");
            return ExitCodes.Usage;
        }
        var configPath = cli.ConfigPath ?? (File.Exists(StatusCommand.DefaultConfigPath) ? StatusCommand.DefaultConfigPath : null);
        var errors = new List<string>();
        GatewayOptions gateway;
        CloudLinkOptions cloud;
        try
        {
            var configuration = GatewayConfiguration.Build(configPath, demo: false);
            gateway = Features.Bind<GatewayOptions>(configuration, GatewayOptions.Section, errors);
            cloud = Features.Bind<CloudLinkOptions>(configuration, CloudLinkOptions.Section, errors);
        }
        catch (GatewayConfigurationException e)
        {
            errors.Add(e.Message);
            gateway = new GatewayOptions();
            cloud = new CloudLinkOptions();
        }
        BrokerAddress? broker = null;
        if (errors.Count == 0 && (cloud.Broker is null || !BrokerAddress.TryParse(cloud.Broker, out broker, out _)))
        {
            errors.Add("Cloud:Broker is required: the binding code's hash goes to the sharing service through the broker.");
        }
        if (errors.Count > 0)
        {
            foreach (var e in errors)
            {
                await error.WriteLineAsync("hikshare-gateway bind-code: configuration error: " + e);
            }
            return ExitCodes.Config;
        }

        var code = BindingCode.NewCode();
        var expiresAt = DateTimeOffset.UtcNow.AddMinutes(minutes);
        var topic = new CloudTopics(cloud.TopicPrefix, gateway.Id).Binding;
        System.Security.Cryptography.X509Certificates.X509Certificate2Collection? ca = null;
        if (cloud.CaFile is not null)
        {
            CloudLinkOptions.TryLoadCaFile(cloud.CaFile, out ca, out _);
        }
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(20));
            await MqttOneShot.PublishAsync(broker!, cloud.Username, cloud.Password, topic, BindingCode.Message(code, RandomNumberGenerator.GetBytes(16), expiresAt), retain: true, timeout.Token, ca);
        }
        catch (Exception e) when (e is MqttCloudException or OperationCanceledException or MQTTnet.Exceptions.MqttCommunicationException or System.Net.Sockets.SocketException)
        {
            await error.WriteLineAsync($"hikshare-gateway bind-code: could not publish to {broker}: {e.Message}");
            return ExitCodes.Unavailable;
        }
        await output.WriteLineAsync($"Binding code for gateway {gateway.Id}: {code}");
        await output.WriteLineAsync($"Enter it in the sharing service (Bind a gateway) before {expiresAt:yyyy-MM-dd HH:mm} UTC. It works once.");
        return ExitCodes.Ok;
    }
}

/// <summary>The one-time binding code and the message that carries only its salted hash.</summary>
public static class BindingCode
{
    // No 0/O, 1/I/L or U: read off a terminal and typed by hand.
    private const string Alphabet = "ABCDEFGHJKMNPQRSTVWXYZ23456789";

    /// <summary>Ten characters (about 49 bits) as <c>XXXXX-XXXXX</c>; the service compares it upper-cased, trimmed.</summary>
    public static string NewCode()
    {
        Span<char> c = stackalloc char[11];
        for (var i = 0; i < c.Length; i++)
        {
            c[i] = i == 5 ? '-' : Alphabet[RandomNumberGenerator.GetInt32(Alphabet.Length)];
        }
        return new string(c);
    }

    /// <summary><c>{"salt":b64url,"hash":b64url(SHA-256(salt ‖ UTF-8 code)),"expiresAt":ISO-8601}</c>.</summary>
    public static byte[] Message(string code, byte[] salt, DateTimeOffset expiresAt)
    {
        var hash = SHA256.HashData([.. salt, .. Encoding.UTF8.GetBytes(code)]);
        return JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, string>
        {
            ["salt"] = Base64Url(salt),
            ["hash"] = Base64Url(hash),
            ["expiresAt"] = expiresAt.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture),
        }, CommandJson.Default.DictionaryStringString);
    }

    private static string Base64Url(byte[] b) => Convert.ToBase64String(b).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
