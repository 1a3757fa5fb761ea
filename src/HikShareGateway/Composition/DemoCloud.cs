using System.Text;
using HikShareGateway.Access;
using HikShareGateway.Access.Grants;
using HikShareGateway.Access.Jose;
using HikShareGateway.Access.Tokens;
using HikShareGateway.Cloud;
using HikShareGateway.Core.Access;
using HikShareGateway.Core.Cloud;
using HikShareGateway.Core.Configuration;
using HikShareGateway.Core.Diagnostics;

namespace HikShareGateway.Composition;

/// <summary>
/// The cloud side of <c>hikshare-gateway demo</c> when no <c>Cloud:Broker</c> is configured: an embedded
/// MQTT broker on 127.0.0.1 (default 1883, another free port if taken), a demo cloud key kept in the
/// state directory (created once, trusted by this gateway), a signed snapshot published retained —
/// <c>owner@example.com</c> owns <c>demo-nvr-1</c> and shares channel 1 with <c>viewer@example.com</c>
/// with every privilege — and a viewer URL with a fresh token printed on the console.
/// </summary>
public sealed partial class DemoCloud
{
    public const string KeyFileName = "demo-cloud-key.json";
    public const string KeyId = "demo-cloud";
    public const string Owner = "owner@example.com";
    public const string Viewer = "viewer@example.com";
    public const string ShareId = "demo-share-viewer";

    private DemoCloud(Ed25519SigningKey key, string keyFile, string gatewayId, int brokerPort, int? wantedPort, int rtspPort, int httpPort)
    {
        HttpPort = httpPort;
        Key = key;
        KeyFile = keyFile;
        GatewayId = gatewayId;
        BrokerPort = brokerPort;
        WantedPortTaken = wantedPort;
        RtspPort = rtspPort;
    }

    public Ed25519SigningKey Key { get; }
    public string KeyFile { get; }
    public string GatewayId { get; }
    public int BrokerPort { get; }
    /// <summary>The configured port when it was taken (the broker then uses <see cref="BrokerPort"/>).</summary>
    public int? WantedPortTaken { get; }
    public int RtspPort { get; }
    /// <summary>The HTTP API's port (the WebRTC demo page), 0 when it is off.</summary>
    public int HttpPort { get; }

    /// <summary>
    /// Creates or reuses the demo key and picks the broker port. Adds to <paramref name="errors"/> on failure.
    /// The gateway must trust <see cref="Ed25519SigningKey.Public"/> of <see cref="Key"/> (CloudFeature registers it).
    /// </summary>
    public static DemoCloud? Prepare(CloudLinkOptions cloud, GatewayOptions gateway, IConfiguration configuration, List<string> errors)
    {
        var keyFile = Path.Combine(gateway.StateDirectory, KeyFileName);
        Ed25519SigningKey? key;
        try
        {
            Directory.CreateDirectory(gateway.StateDirectory);
            if (File.Exists(keyFile))
            {
                if (!Ed25519SigningKey.TryParsePrivate(File.ReadAllText(keyFile), out key, out var why))
                {
                    errors.Add($"Gateway:StateDirectory: the demo cloud key {keyFile} is unreadable ({why}); delete it to create a new one.");
                    return null;
                }
            }
            else
            {
                key = Ed25519SigningKey.Generate(KeyId);
                AtomicFile.Write(keyFile, Encoding.UTF8.GetBytes(key.ToPrivateJson()));
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            errors.Add($"Gateway:StateDirectory \"{gateway.StateDirectory}\" is not writable for the demo cloud key: {e.Message}");
            return null;
        }
        var wanted = cloud.EmbeddedBrokerPort;
        var port = wanted != 0 && LoopbackPorts.IsFree(wanted) ? wanted : LoopbackPorts.Free();
        var rtspPort = configuration.GetValue("Rtsp:Port", 8554);
        var httpPort = configuration.GetValue("Http:Port", 8080);
        return new DemoCloud(key!, keyFile, gateway.Id, port, port != wanted && wanted != 0 ? wanted : null, rtspPort, httpPort);
    }

    public GrantsSnapshot BuildSnapshot(long version, DateTimeOffset now) => new(
        GatewayId, version, now,
        [new GrantDevice(DemoDefaults.DeviceId, Owner)],
        [new Share(ShareId, Owner, Viewer, "demo share", ShareState.Accepted, null,
            [new ShareDevice(DemoDefaults.DeviceId, [1], Privilege.LiveView | Privilege.Playback | Privilege.Ptz | Privilege.TwoWayAudio | Privilege.AlarmPush)])]);

    /// <summary>Starts the embedded broker, publishes the signed demo snapshot (retained) and prints how to watch and revoke.</summary>
    internal sealed partial class Service(DemoCloud demo, EmbeddedBroker broker, CloudLinkOptions cloud, TimeProvider time, ILogger<DemoCloud> logger) : IHostedService
    {
        public async Task StartAsync(CancellationToken ct)
        {
            if (demo.WantedPortTaken is { } taken)
            {
                LogPortTaken(logger, taken, demo.BrokerPort);
            }
            var port = await broker.StartAsync(demo.BrokerPort, ct);
            var now = time.GetUtcNow();
            // Grows across demo runs, so that the new snapshot beats the one kept in the state directory.
            var version = now.ToUnixTimeSeconds();
            var jws = Jws.Sign(GrantsJson.Write(demo.BuildSnapshot(version, now)), demo.Key);
            var address = new BrokerAddress("127.0.0.1", port, false);
            await MqttOneShot.PublishAsync(address, null, null, new CloudTopics(cloud.TopicPrefix, demo.GatewayId).Grants, Encoding.ASCII.GetBytes(jws), retain: true, ct);
            LogPublished(logger, version, port);

            var token = ViewerTokens.Mint(demo.Key, Viewer, [demo.GatewayId], TimeSpan.FromHours(24), now);
            var path = $"/live/{DemoDefaults.DeviceId}/1/main";
            // The console, not the log: the token is a credential and must never reach log files.
            Console.WriteLine($"""

                ── HikShare Gateway demo (cloud side) ─────────────────────────────────────────
                  embedded MQTT broker   mqtt://127.0.0.1:{port}
                  demo cloud key         {demo.KeyFile} (kid {demo.Key.Kid}, trusted by this gateway)
                  grants                 version {version}: {Owner} owns {DemoDefaults.DeviceId}; share {ShareId} gives
                                         {Viewer} liveView+playback+ptz+twoWayAudio+alarmPush on channel 1
                  watch (token valid 24 h):
                    ffplay "rtsp://127.0.0.1:{demo.RtspPort}{path}?token={token}"
                  or in VLC / GStreamer, the token as the password (ffmpeg cuts URL passwords at 127 bytes, too short for a token):
                    vlc "rtsp://viewer%40example.com:{token}@127.0.0.1:{demo.RtspPort}{path}"
                  or in a browser, over WebRTC (WHEP):
                    http://127.0.0.1:{demo.HttpPort}/webrtc-demo.html#token={token}
                  revoke the share (the running session is cut within 100 ms):
                    dotnet run --project src/HikShareCloud -- delta --key {demo.KeyFile} --gateway {demo.GatewayId} --base {version} --version {version + 1} --remove-share {ShareId} \
                      | dotnet run --project src/HikShareCloud -- publish --broker mqtt://127.0.0.1:{port} --gateway {demo.GatewayId} --delta -
                ────────────────────────────────────────────────────────────────────────────────

                """);
        }

        public async Task StopAsync(CancellationToken ct) => await broker.DisposeAsync();

        [LoggerMessage(EventId = 3700, Level = LogLevel.Warning, Message = "Cloud:EmbeddedBrokerPort {Port} on 127.0.0.1 is taken; the demo broker uses port {Fallback}")]
        private static partial void LogPortTaken(ILogger logger, int port, int fallback);

        [LoggerMessage(EventId = 3701, Level = LogLevel.Information, Message = "Published the signed demo grants snapshot version {Version} to the embedded broker on port {Port}")]
        private static partial void LogPublished(ILogger logger, long version, int port);
    }
}
