using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using HikShareGateway.Access.Grants;
using HikShareGateway.Access.Jose;
using HikShareGateway.Access.Tokens;
using HikShareGateway.Cloud;
using HikShareGateway.Composition;
using HikShareGateway.Core.Access;
using HikShareGateway.Core.Cloud;
using HikShareGateway.Tests.Infrastructure;
using Xunit.Abstractions;

namespace HikShareGateway.Tests.WebRtc;

/// <summary>
/// A second WebRTC implementation, independent of the gateway's own stack and of Chromium's: werift (TypeScript, npm),
/// driven by <c>Werift/whep-viewer.mjs</c>, does the WHEP POST against the real gateway process whose channel is a real
/// gst-rtsp-server camera, with its grants signed by the test and delivered through a real mosquitto.
/// </summary>
[Trait("Category", "Integration")]
public sealed class WeriftViewerTests(ITestOutputHelper output)
{
    private const string Owner = "owner@example.com";
    private const string Viewer = "werift@example.com";
    private const string ShareId = "share-werift";

    [Fact]
    public async Task Werift_ReceivesH264WithAnIdrOverWhep_AndAGrantsDeltaRemovingTheShareEndsItsSession()
    {
        var script = WeriftScript();
        await using var broker = await MosquittoBroker.StartAsync();
        await using var camera = await GstRtspCamera.StartAsync(new GstCameraOptions());
        var key = Ed25519SigningKey.Generate("werift-test");
        var topics = new CloudTopics(CloudTopics.DefaultPrefix, DemoDefaults.GatewayId);
        var snapshot = new GrantsSnapshot(DemoDefaults.GatewayId, 1, DateTimeOffset.UtcNow, [new GrantDevice(DemoDefaults.DeviceId, Owner)],
            [new Share(ShareId, Owner, Viewer, "werift", ShareState.Accepted, null, [new ShareDevice(DemoDefaults.DeviceId, [1], Privilege.LiveView)])]);
        await PublishAsync(broker, key, topics.Grants, GrantsJson.Write(snapshot), retain: true);
        var jwk = JsonDocument.Parse(key.Public.ToJson()).RootElement;
        await using var demo = await DemoGatewayProcess.StartAsync(new Dictionary<string, string>
        {
            ["HIKSHARE_Cloud__Broker"] = broker.Url,
            ["HIKSHARE_Cloud__TrustedKeys__0__Kid"] = jwk.GetProperty("kid").GetString()!,
            ["HIKSHARE_Cloud__TrustedKeys__0__Kty"] = "OKP",
            ["HIKSHARE_Cloud__TrustedKeys__0__Crv"] = "Ed25519",
            ["HIKSHARE_Cloud__TrustedKeys__0__X"] = jwk.GetProperty("x").GetString()!,
            // The demo recorder takes the main URL's port: the gst camera is the channel's sub stream.
            ["HIKSHARE_Devices__0__Channels__0__Sub"] = camera.Url().ToString(),
        }, demoCloud: false);
        var token = ViewerTokens.Mint(key, Viewer, [DemoDefaults.GatewayId], TimeSpan.FromHours(1), DateTimeOffset.UtcNow);

        var lines = new ConcurrentQueue<string>();
        var url = $"http://127.0.0.1:{demo.HttpPort}/whep/live/{DemoDefaults.DeviceId}/1/sub";
        var viewer = ToolRunner.RunAsync("node", [script, "--url", url, "--token", token, "--until-closed"], TimeSpan.FromSeconds(90),
            onStdoutLine: line => { lines.Enqueue(line); });
        string? Line(string prefix) => lines.FirstOrDefault(l => l.StartsWith(prefix, StringComparison.Ordinal));

        // werift decrypts an IDR (the gateway starts a viewer at the cached keyframe) and 100 packets; then the share goes.
        await Wait.UntilAsync(() => viewer.IsCompleted || Line("RTP 100") is not null, "werift receiving 100 RTP packets", 45_000);
        Assert.True(Line("FIRST-IDR ") is not null && Line("RTP 100") is not null, (viewer.IsCompleted ? (await viewer).ToString() : string.Join('\n', lines)) + demo.Output);
        var sessionId = Line("CREATED /whep/sessions/")!["CREATED /whep/sessions/".Length..];
        await demo.WaitForOutputAsync($"WebRTC session {sessionId} of {Viewer} on {DemoDefaults.DeviceId}/1 started (whep)");
        var delta = new GrantsDelta(DemoDefaults.GatewayId, 1, 2, DateTimeOffset.UtcNow, [], [], [], [ShareId]);
        await PublishAsync(broker, key, topics.GrantsDelta, GrantsJson.Write(delta), retain: false);

        var result = await viewer;
        output.WriteLine(result.Stdout);
        Assert.True(result.Succeeded, result.ToString() + demo.Output);
        await demo.WaitForOutputAsync($"WebRTC session {sessionId} ended: revoked", 20_000);

        var summary = JsonDocument.Parse(Line("SUMMARY ")!["SUMMARY ".Length..]).RootElement;
        var nalTypes = summary.GetProperty("nalTypes");
        Assert.True(summary.GetProperty("packets").GetInt32() >= 100, result.Stdout);
        Assert.True(summary.GetProperty("idr").GetInt32() >= 1, result.Stdout);
        Assert.True(nalTypes.TryGetProperty("5", out _), "an IDR slice: " + result.Stdout);
        Assert.True(nalTypes.TryGetProperty("7", out _) && nalTypes.TryGetProperty("8", out _), "SPS and PPS before the IDR: " + result.Stdout);
        Assert.Equal(1, summary.GetProperty("ssrcs").GetArrayLength());
        // The session ended because the gateway closed it (DTLS close_notify or media stopping), not the viewer's clock.
        var ended = summary.GetProperty("ended").GetString();
        Assert.Contains(ended, new[] { "dtls-closed", "connection-closed", "connection-failed", "connection-disconnected", "rtp-stopped" });
    }

    private static Task PublishAsync(MosquittoBroker broker, Ed25519SigningKey key, string topic, byte[] payload, bool retain) =>
        MqttOneShot.PublishAsync(new BrokerAddress("127.0.0.1", broker.Port, false), null, null, topic,
            Encoding.ASCII.GetBytes(Jws.Sign(payload, key)), retain, CancellationToken.None);

    /// <summary>The script in the source tree, beside its <c>node_modules</c> (installed by scripts/prereqs.sh).</summary>
    internal static string WeriftScript()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "HikShareGateway.sln")))
        {
            dir = dir.Parent;
        }
        Assert.NotNull(dir);
        var folder = Path.Combine(dir.FullName, "tests", "HikShareGateway.Tests", "WebRtc", "Werift");
        Assert.True(Directory.Exists(Path.Combine(folder, "node_modules", "werift")),
            $"werift is not installed in {folder}: run scripts/prereqs.sh (npm ci there)");
        return Path.Combine(folder, "whep-viewer.mjs");
    }
}
