using System.Net;
using System.Text;
using System.Text.Json;
using HikShareCloud.Service;
using HikShareGateway.Access.Grants;
using HikShareGateway.Access.Jose;
using HikShareGateway.Access.Tokens;
using HikShareGateway.Cloud;
using HikShareGateway.Composition;
using HikShareGateway.Core.Access;
using HikShareGateway.Core.Cloud;
using HikShareGateway.Tests.Infrastructure;
using Microsoft.Playwright;
using Xunit.Abstractions;

namespace HikShareGateway.Tests.Sharing;

/// <summary>
/// Issue 15's remote viewing: "with TURN configured, a viewer who can reach only the service watches a gateway behind
/// NAT". The real gateway daemon (demo recorder) runs behind one NAT router of a <see cref="NetworkLab"/>, Debian's
/// Chromium behind another; the sharing service and mosquitto (this process's, exposed on the lab's internet at
/// <see cref="NetworkLab.WanA"/>) and coturn sit between. The internet drops UDP between the two routers and the
/// gateway's site lets no UDP reach coturn, so the gateway's only way out is its TURN allocation over TCP. The viewer
/// sends its WHEP offer only to the service's relay (<c>POST /api/v1/gateways/{gw}/whep/live/…</c>), which carries it
/// to the gateway over MQTT; the picture comes through the relay.
/// </summary>
[Trait("Category", "Integration")]
public sealed class RemoteViewingBehindNatTests(ITestOutputHelper output)
{
    private const string Owner = "owner@example.com", Viewer = "viewer@example.com";
    private const int ServicePort = 18091;
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(45);

    private const string OfferThroughService = """
        async ({ stun, url, token }) => {
          const pc = new RTCPeerConnection({ iceServers: [{ urls: stun }] });
          window.pc = pc;
          pc.addTransceiver('video', { direction: 'recvonly' });
          await pc.setLocalDescription(await pc.createOffer());
          await new Promise(done => {
            if (pc.iceGatheringState === 'complete') return done();
            pc.addEventListener('icegatheringstatechange', () => { if (pc.iceGatheringState === 'complete') done(); });
          });
          const r = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/sdp', 'Authorization': 'Bearer ' + token }, body: pc.localDescription.sdp });
          const body = await r.text();
          if (r.status !== 201) return 'HTTP ' + r.status + ': ' + body;
          await pc.setRemoteDescription({ type: 'answer', sdp: body });
          return 'answered';
        }
        """;

    private const string Stats = """
        async () => {
          const stats = await window.pc.getStats();
          const byId = {};
          let frames = 0, pair = null;
          stats.forEach(r => { byId[r.id] = r; if (r.type === 'inbound-rtp' && r.kind === 'video') frames = r.framesDecoded || 0; });
          stats.forEach(r => { if (r.type === 'transport' && r.selectedCandidatePairId) pair = byId[r.selectedCandidatePairId]; });
          const l = pair ? byId[pair.localCandidateId] : null, rc = pair ? byId[pair.remoteCandidateId] : null;
          return JSON.stringify({
            frames,
            local: l ? l.candidateType : '', remote: rc ? rc.candidateType : '',
            localAddress: l ? `${l.address}:${l.port}` : '', remoteAddress: rc ? `${rc.address}:${rc.port}` : '',
          });
        }
        """;

    private sealed record BrowserStats(int Frames, string Local, string Remote, string LocalAddress, string RemoteAddress);

    [Fact]
    public async Task ViewerReachingOnlyTheService_WatchesGatewayBehindNat_ThroughTheWhepRelayAndTurnOverTcp()
    {
        await using var lab = await NetworkLab.CreateAsync();
        var coturn = await CoturnServer.StartAsync(lab);
        // No hole can be punched between the sites, and the gateway's site sends no UDP to coturn.
        await lab.Exec(lab.Wan, "iptables", "-A", "FORWARD", "-p", "udp", "-s", NetworkLab.NatAPublic, "-d", NetworkLab.NatBPublic, "-j", "DROP");
        await lab.Exec(lab.Wan, "iptables", "-A", "FORWARD", "-p", "udp", "-s", NetworkLab.NatBPublic, "-d", NetworkLab.NatAPublic, "-j", "DROP");
        await lab.Exec(lab.Gateway, "iptables", "-A", "OUTPUT", "-p", "udp", "-d", NetworkLab.WanA, "-j", "DROP");

        // :: The service and its broker, on the lab's internet.
        var dir = Directory.CreateTempSubdirectory("hikshare-nat-service-").FullName;
        await using var broker = await MosquittoBroker.StartAsync();
        var key = Ed25519SigningKey.Generate("svc-nat-1");
        var keyFile = Path.Combine(dir, "svc-key.json");
        await File.WriteAllTextAsync(keyFile, key.ToPrivateJson());
        var servicePort = PortAllocator.GetFreeTcpPort();
        await using var service = await SharingServer.BuildAsync(new ServiceOptions
        {
            StateDirectory = Path.Combine(dir, "state"),
            SigningKeyFiles = [keyFile],
            Broker = broker.Url,
            Listen = $"http://127.0.0.1:{servicePort}",
            SmsWebhook = "http://127.0.0.1:9/sms",
        }, new CapturingSender());
        await service.StartAsync();
        lab.ForwardTcp(lab.Wan, new IPEndPoint(IPAddress.Parse(NetworkLab.WanA), ServicePort), new IPEndPoint(IPAddress.Loopback, servicePort));
        lab.ForwardTcp(lab.Wan, new IPEndPoint(IPAddress.Parse(NetworkLab.WanA), broker.Port), new IPEndPoint(IPAddress.Loopback, broker.Port));

        // :: The grants (signed with the service's key): the viewer may watch channel 1 live.
        var topics = new CloudTopics(CloudTopics.DefaultPrefix, DemoDefaults.GatewayId);
        var snapshot = new GrantsSnapshot(DemoDefaults.GatewayId, 1, DateTimeOffset.UtcNow, [new GrantDevice(DemoDefaults.DeviceId, Owner)],
            [new Share("share-nat-1", Owner, Viewer, "behind NAT", ShareState.Accepted, null, [new ShareDevice(DemoDefaults.DeviceId, [1], Privilege.LiveView)])]);
        await MqttOneShot.PublishAsync(new BrokerAddress("127.0.0.1", broker.Port, false), null, null, topics.Grants,
            Encoding.ASCII.GetBytes(Jws.Sign(GrantsJson.Write(snapshot), key)), true, CancellationToken.None);

        // :: The gateway daemon behind NAT A: broker and TURN (over TCP) on the internet, nothing listening for the viewer.
        var jwk = JsonDocument.Parse(key.Public.ToJson()).RootElement;
        await using var gateway = await DemoGatewayProcess.StartAsync(new Dictionary<string, string>
        {
            ["HIKSHARE_Cloud__Broker"] = $"mqtt://{NetworkLab.WanA}:{broker.Port}",
            ["HIKSHARE_Cloud__TrustedKeys__0__Kid"] = jwk.GetProperty("kid").GetString()!,
            ["HIKSHARE_Cloud__TrustedKeys__0__Kty"] = "OKP",
            ["HIKSHARE_Cloud__TrustedKeys__0__Crv"] = "Ed25519",
            ["HIKSHARE_Cloud__TrustedKeys__0__X"] = jwk.GetProperty("x").GetString()!,
            ["HIKSHARE_WebRtc__IceServers__0__Urls__0"] = $"turn:{NetworkLab.WanA}:{CoturnServer.Port}?transport=tcp",
            ["HIKSHARE_WebRtc__IceServers__0__SharedSecret"] = coturn.Secret,
            ["HIKSHARE_WebRtc__IceServers__0__Username"] = "gw-behind-nat",
        }, demoCloud: false, networkNamespace: lab.Gateway);
        await gateway.WaitForOutputAsync("ICE candidates gathered", 30_000);
        Assert.Contains("0 server-reflexive, 1 relayed", gateway.Output);

        // :: Chromium behind NAT B talks only to the service.
        var token = ViewerTokens.Mint(key, Viewer, [DemoDefaults.GatewayId], TimeSpan.FromHours(1), DateTimeOffset.UtcNow);
        var wrapper = Path.Combine(Directory.CreateTempSubdirectory("hikshare-chromium-").FullName, "chromium-in-viewer-ns");
        await File.WriteAllTextAsync(wrapper, $"#!/bin/sh\nexec ip netns exec {lab.Viewer} /usr/bin/chromium \"$@\"\n");
        if (OperatingSystem.IsLinux()) File.SetUnixFileMode(wrapper, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions { ExecutablePath = wrapper, Headless = true, Args = ["--no-sandbox"] });
        var page = await browser.NewPageAsync();
        var serviceUrl = $"http://{NetworkLab.WanA}:{ServicePort}";
        await page.GotoAsync(serviceUrl + "/healthz"); // the page's origin is the service: its fetch is same-origin
        var result = await page.EvaluateAsync<string>(OfferThroughService, new
        {
            stun = $"stun:{NetworkLab.WanA}:{CoturnServer.Port}",
            url = $"{serviceUrl}/api/v1/gateways/{DemoDefaults.GatewayId}/whep/live/{DemoDefaults.DeviceId}/1/main",
            token,
        });
        Assert.True(result == "answered", result + "\ngateway:\n" + gateway.Output);

        BrowserStats stats = new(0, "", "", "", "");
        await Wait.UntilAsync(async () =>
        {
            stats = JsonSerializer.Deserialize<BrowserStats>(await page.EvaluateAsync<string>(Stats), new JsonSerializerOptions(JsonSerializerDefaults.Web))!;
            return stats.Frames >= 25;
        }, "25 frames decoded by Chromium through the relay", (int)Bound.TotalMilliseconds);
        var before = stats.Frames;
        await Wait.UntilAsync(async () =>
        {
            stats = JsonSerializer.Deserialize<BrowserStats>(await page.EvaluateAsync<string>(Stats), new JsonSerializerOptions(JsonSerializerDefaults.Web))!;
            return stats.Frames > before;
        }, "the picture still moving", 10_000);
        output.WriteLine($"Chromium's selected pair: local {stats.Local} {stats.LocalAddress} - remote {stats.Remote} {stats.RemoteAddress}; framesDecoded {stats.Frames}");
        Assert.Equal("relay", stats.Remote);
        Assert.StartsWith(NetworkLab.WanA + ":", stats.RemoteAddress);

        // The gateway counted the session on a relayed candidate reached over TCP (its metrics, read inside its site).
        var metrics = (await lab.Exec(lab.Gateway, "curl", "-s", $"http://127.0.0.1:{gateway.HttpPort}/metrics")).Stdout;
        var selected = metrics.Split('\n').Where(l => l.StartsWith("hikshare_webrtc_ice_selected", StringComparison.Ordinal)).ToList();
        output.WriteLine(string.Join('\n', selected));
        Assert.True(selected.Any(l => l.Contains("relay-tcp", StringComparison.Ordinal)),
            "no relay-tcp outcome in the gateway's metrics:\n" + string.Join('\n', metrics.Split('\n').Where(l => l.Contains("webrtc", StringComparison.Ordinal))));
    }
}
