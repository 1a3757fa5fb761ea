using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using HikShareGateway.Tests.Infrastructure;
using HikShareGateway.WebRtc.Diagnostics;
using HikShareGateway.WebRtc.Dtls;
using HikShareGateway.WebRtc.Ice;
using HikShareGateway.WebRtc.Sdp;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Playwright;
using Xunit.Abstractions;

namespace HikShareGateway.WebRtc.Tests.Session;

/// <summary>
/// Remote viewing through NAT with real peers: the gateway's mux socket lives behind one NAT router (the lab's
/// gateway namespace, entered with setns for the socket only), Debian's Chromium behind another (launched in
/// the viewer namespace through an <c>ip netns exec</c> wrapper), coturn on the internet between them as STUN
/// and TURN (REST shared secret). (a) Hole punching: both sides learn their server-reflexive address and the
/// srflx–srflx pair carries the clip. (b) The internet drops UDP between the two routers' public addresses:
/// only the gateway's TURN relay connects, and the clip goes through it. (c) As (b), and the gateway's site also
/// drops every UDP datagram to coturn: the gateway reaches its TURN server only over TCP, or TLS (coturn's TLS
/// listener with a certificate from a CA this test makes), and the relayed side stays UDP towards Chromium.
/// </summary>
[Trait("Category", "Integration")]
public sealed class NatTraversalTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(45);
    private static readonly string Stun = $"stun:{NetworkLab.WanA}:{CoturnServer.Port}";

    private const string CreateOffer = """
        async (stunUrl) => {
          const pc = new RTCPeerConnection({ iceServers: [{ urls: stunUrl }] });
          window.pc = pc;
          pc.addTransceiver('video', { direction: 'recvonly' });
          await pc.setLocalDescription(await pc.createOffer());
          // Non-trickle for this test: the offer carries the browser's server-reflexive candidate.
          await new Promise(done => {
            if (pc.iceGatheringState === 'complete') return done();
            pc.addEventListener('icegatheringstatechange', () => { if (pc.iceGatheringState === 'complete') done(); });
          });
          return pc.localDescription.sdp;
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

    /// <summary>How the gateway reaches coturn as its TURN server (None: STUN only).</summary>
    public enum GatewayTurn { None, Udp, Tcp, Tls }

    [Fact]
    public async Task GatewayAndViewerBehindTwoNats_HolePunchedSrflxPair_CarriesTheClip()
    {
        var (stats, session, _) = await RunAsync(blockUdpBetweenNats: false, GatewayTurn.None);
        Assert.Equal("srflx", stats.Local);
        Assert.Equal("srflx", stats.Remote);
        Assert.StartsWith(NetworkLab.NatAPublic + ":", stats.RemoteAddress);
        Assert.Null(session.Ice.SelectedBase!.Relay);
        Assert.True(stats.Frames >= 50, $"framesDecoded {stats.Frames}");
    }

    [Fact]
    public async Task UdpBetweenTheNatsBlocked_OnlyTheTurnRelayConnects_AndCarriesTheClip()
    {
        var (stats, session, outcomes) = await RunAsync(blockUdpBetweenNats: true, GatewayTurn.Udp);
        Assert.Equal(1, outcomes.Selected(IceCandidateType.Relayed, TurnTransport.Udp, Enum.Parse<IceCandidateType>(CandidateTypeName(stats.Local))));
        Assert.Equal("relay", stats.Remote);
        Assert.StartsWith(NetworkLab.WanA + ":", stats.RemoteAddress);
        Assert.NotNull(session.Ice.SelectedBase!.Relay);
        Assert.Equal(IceCandidateType.Relayed, session.SelectedPair!.Local.Type);
        Assert.True(stats.Frames >= 50, $"framesDecoded {stats.Frames}");
    }

    [Theory]
    [InlineData(GatewayTurn.Tcp)]
    [InlineData(GatewayTurn.Tls)]
    public async Task GatewaySiteDropsAllUdpToCoturn_RelayOverTcpOrTlsToTurn_CarriesTheClip_CountedByItsTransport(GatewayTurn turn)
    {
        var (stats, session, outcomes) = await RunAsync(blockUdpBetweenNats: true, turn);
        var transport = turn == GatewayTurn.Tcp ? TurnTransport.Tcp : TurnTransport.Tls;
        Assert.Equal("relay", stats.Remote);
        Assert.StartsWith(NetworkLab.WanA + ":", stats.RemoteAddress);
        var relay = Assert.IsType<TurnClient>(session.Ice.SelectedBase!.Relay);
        Assert.Equal(transport, relay.Transport);
        Assert.Equal(transport, session.SelectedPair!.Local.RelayTransport);
        Assert.Equal(1, outcomes.Selected(IceCandidateType.Relayed, transport, Enum.Parse<IceCandidateType>(CandidateTypeName(stats.Local))));
        Assert.Equal(0, outcomes.Selected(IceCandidateType.Relayed, TurnTransport.Udp, Enum.Parse<IceCandidateType>(CandidateTypeName(stats.Local))));
        Assert.Contains(outcomes.Snapshot(), o => o.Local == (turn == GatewayTurn.Tcp ? "relay-tcp" : "relay-tls"));
        Assert.True(stats.Frames >= 50, $"framesDecoded {stats.Frames}");
    }

    [Fact]
    public async Task TurnsServerCertificateFromAnotherCa_IsRefused_NoRelayedCandidate()
    {
        await using var lab = await NetworkLab.CreateAsync();
        var dir = Directory.CreateTempSubdirectory("hikshare-turns-ca-").FullName;
        using var coturnCa = new TestCertificateAuthority(dir);
        using var otherCa = new TestCertificateAuthority(Directory.CreateTempSubdirectory("hikshare-turns-other-").FullName);
        var coturn = await CoturnServer.StartAsync(lab, coturnCa);
        var time = TimeProvider.System;
        await using var mux = lab.CreateIn(lab.Gateway, () => new UdpMux(new IPEndPoint(IPAddress.Any, 0), time, NullLogger.Instance, new DropCounters()));
        mux.Start();
        var log = new RecordingLogger<NatTraversalTests>();
        var options = new WebRtcOptions
        {
            IceServers = [new IceServerOptions { Urls = [$"turns:{NetworkLab.WanA}:{CoturnServer.TlsPort}"], SharedSecret = coturn.Secret, Username = "gw", TlsCaFile = otherCa.CaFile }],
        };
        using var gathering = new CancellationTokenSource(Bound);
        var candidates = await IceGatherer.GatherAsync(mux, options, time, new OneLoggerFactory(log), gathering.Token,
            HostCandidates.For([NetworkLab.GatewayAddress], mux.LocalEndPoint.Port), GatewaySockets(lab));
        Assert.DoesNotContain(candidates, c => c.Type == "relay");
        Assert.Equal([null], mux.LocalBases.Select(b => b.Relay));
        Assert.Contains(log.Entries, e => e.EventId.Id == 7045 && e.Message.Contains("Tls", StringComparison.Ordinal));
        output.WriteLine(string.Join("\n", log.Entries.Select(e => e.Message)));
    }

    /// <summary>Every category to one recording logger.</summary>
    private sealed class OneLoggerFactory(ILogger logger) : ILoggerFactory
    {
        public ILogger CreateLogger(string categoryName) => logger;
        public void AddProvider(ILoggerProvider provider) { }
        public void Dispose() { }
    }

    private static Func<AddressFamily, Socket> GatewaySockets(NetworkLab lab)
        => family => lab.CreateIn(lab.Gateway, () => new Socket(family, SocketType.Stream, ProtocolType.Tcp));

    private static string CandidateTypeName(string token) => token switch
    {
        "host" => nameof(IceCandidateType.Host),
        "srflx" => nameof(IceCandidateType.ServerReflexive),
        "prflx" => nameof(IceCandidateType.PeerReflexive),
        _ => nameof(IceCandidateType.Relayed),
    };

    private async Task<(BrowserStats, WebRtcSession, IceOutcomeCounters)> RunAsync(bool blockUdpBetweenNats, GatewayTurn turn)
    {
        await using var lab = await NetworkLab.CreateAsync();
        using var ca = turn == GatewayTurn.Tls ? new TestCertificateAuthority(Directory.CreateTempSubdirectory("hikshare-turns-ca-").FullName) : null;
        var coturn = await CoturnServer.StartAsync(lab, ca);
        if (turn is GatewayTurn.Tcp or GatewayTurn.Tls)
        {
            // The gateway's site lets no UDP reach coturn: STUN and TURN over UDP are impossible from there.
            await lab.Exec(lab.Gateway, "iptables", "-A", "OUTPUT", "-p", "udp", "-d", NetworkLab.WanA, "-j", "DROP");
        }
        if (blockUdpBetweenNats)
        {
            // The internet between the two sites drops their UDP to each other: no hole can be punched.
            await lab.Exec(lab.Wan, "iptables", "-A", "FORWARD", "-p", "udp", "-s", NetworkLab.NatAPublic, "-d", NetworkLab.NatBPublic, "-j", "DROP");
            await lab.Exec(lab.Wan, "iptables", "-A", "FORWARD", "-p", "udp", "-s", NetworkLab.NatBPublic, "-d", NetworkLab.NatAPublic, "-j", "DROP");
        }

        var time = TimeProvider.System;
        var drops = new DropCounters();
        await using var mux = lab.CreateIn(lab.Gateway, () => new UdpMux(new IPEndPoint(IPAddress.Any, 0), time, NullLogger.Instance, drops));
        mux.Start();
        IceServerOptions[] servers = turn switch
        {
            GatewayTurn.None => [new IceServerOptions { Urls = [Stun] }],
            GatewayTurn.Udp => [new IceServerOptions { Urls = [Stun] }, new IceServerOptions { Urls = [$"turn:{NetworkLab.WanA}:{CoturnServer.Port}?transport=udp"], SharedSecret = coturn.Secret, Username = "gw" }],
            GatewayTurn.Tcp => [new IceServerOptions { Urls = [$"turn:{NetworkLab.WanA}:{CoturnServer.Port}?transport=tcp"], SharedSecret = coturn.Secret, Username = "gw" }],
            _ => [new IceServerOptions { Urls = [$"turns:{NetworkLab.WanA}:{CoturnServer.TlsPort}"], SharedSecret = coturn.Secret, Username = "gw", TlsCaFile = ca!.CaFile }],
        };
        var options = new WebRtcOptions { IceServers = servers };
        Assert.Empty(options.Validate());
        using var gathering = new CancellationTokenSource(Bound);
        var candidates = await IceGatherer.GatherAsync(mux, options, time, NullLoggerFactory.Instance, gathering.Token,
            HostCandidates.For([NetworkLab.GatewayAddress], mux.LocalEndPoint.Port), GatewaySockets(lab));
        foreach (var c in candidates) output.WriteLine("gateway " + c);
        if (turn is GatewayTurn.None or GatewayTurn.Udp) Assert.Contains(candidates, c => c.Type == "srflx" && c.Address == NetworkLab.NatAPublic);
        else Assert.DoesNotContain(candidates, c => c.Type == "srflx"); // nothing of ours reached coturn over UDP
        if (turn != GatewayTurn.None) Assert.Contains(candidates, c => c.Type == "relay" && c.Address == NetworkLab.WanA);

        var context = new WebRtcSessionContext(mux, DtlsCertificate.Create(time), options, candidates, time, NullLoggerFactory.Instance);
        var clip = DemoClip.AccessUnits();
        Assert.True(H264Profile.TryFromSps(clip[0][0].Span, out var profile));

        var wrapper = Path.Combine(Directory.CreateTempSubdirectory("hikshare-chromium-").FullName, "chromium-in-viewer-ns");
        await File.WriteAllTextAsync(wrapper, $"#!/bin/sh\nexec ip netns exec {lab.Viewer} /usr/bin/chromium \"$@\"\n");
        if (OperatingSystem.IsLinux()) File.SetUnixFileMode(wrapper, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute); // network namespaces are Linux only
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = wrapper,
            Headless = true,
            Args = ["--no-sandbox"],
        });
        var page = await browser.NewPageAsync();
        var offer = await page.EvaluateAsync<string>(CreateOffer, Stun);
        foreach (var line in offer.Split("\r\n").Where(l => l.StartsWith("a=candidate", StringComparison.Ordinal))) output.WriteLine("viewer " + line);

        Assert.True(WebRtcSession.TryCreate(Encoding.UTF8.GetBytes(offer), new SourceMedia(new SourceVideo("H264", profile), null), context,
            out var session, out var answer, out var refusal), refusal?.Reason);
        await using var owned = session;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await page.EvaluateAsync("sdp => window.pc.setRemoteDescription({ type: 'answer', sdp })", answer);

        var connected = await session.Connected.WaitAsync(Bound);
        var dtlsUp = clock.Elapsed;
        Assert.True(connected.Succeeded, $"DTLS: {connected.Failure}; pairs: {string.Join("; ", session.Ice.Pairs)}; coturn:\n{coturn.Log}");
        using var stop = new CancellationTokenSource();
        var sending = Task.Run(() => DemoClip.SendAt25FpsAsync(session, clip, false, stop.Token));
        BrowserStats stats = new(0, "", "", "", "");
        try
        {
            await Wait.UntilAsync(async () =>
            {
                stats = JsonSerializer.Deserialize<BrowserStats>(await page.EvaluateAsync<string>(Stats), new JsonSerializerOptions(JsonSerializerDefaults.Web))!;
                return stats.Frames >= 50;
            }, "50 frames decoded by Chromium", (int)Bound.TotalMilliseconds);
        }
        finally
        {
            stop.Cancel();
            await sending;
        }
        output.WriteLine($"answer applied -> DTLS-SRTP up {dtlsUp.TotalMilliseconds:F0} ms -> 50 frames decoded {clock.Elapsed.TotalMilliseconds:F0} ms");
        output.WriteLine($"selected pair (Chromium's getStats): local {stats.Local} {stats.LocalAddress} - remote {stats.Remote} {stats.RemoteAddress}; framesDecoded {stats.Frames}");
        output.WriteLine($"selected pair (gateway): {session.SelectedPair}; ICE outcomes: {string.Join(", ", mux.IceOutcomes.Snapshot())}; drops {drops.Total}");
        Assert.Equal(IceState.Nominated, session.Ice.State);
        if (turn is GatewayTurn.Tcp or GatewayTurn.Tls)
        {
            // Proof that the rule held: our UDP to coturn was dropped at the gateway itself, not routed.
            var counters = (await lab.Exec(lab.Gateway, "iptables", "-L", "OUTPUT", "-v", "-n", "-x")).Stdout;
            output.WriteLine(counters);
        }
        return (stats, session, mux.IceOutcomes);
    }
}
