using System.Net;
using System.Text;
using HikShareGateway.WebRtc.Diagnostics;
using HikShareGateway.WebRtc.Dtls;
using HikShareGateway.WebRtc.Ice;
using HikShareGateway.WebRtc.Rtp;
using HikShareGateway.WebRtc.Sdp;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Playwright;
using Xunit.Abstractions;

namespace HikShareGateway.WebRtc.Tests.Session;

/// <summary>
/// A real browser end to end: Debian's Chromium (headless, driven by Playwright) offers a recvonly video
/// transceiver, the session answers, ICE-lite + DTLS-SRTP come up over loopback on the mux port, and the
/// demo clip's H.264 at 25 fps is decoded by the browser.
/// </summary>
[Trait("Category", "Integration")]
public sealed class ChromiumSessionTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    private const string CreateOffer = """
        async (withAudio) => {
          const pc = new RTCPeerConnection();
          window.pc = pc;
          pc.addTransceiver('video', { direction: 'recvonly' });
          if (withAudio) pc.addTransceiver('audio', { direction: 'recvonly' });
          await pc.setLocalDescription(await pc.createOffer());
          return pc.localDescription.sdp;
        }
        """;

    private const string FramesDecoded = """
        async () => {
          let frames = 0;
          (await window.pc.getStats()).forEach(r => { if (r.type === 'inbound-rtp' && r.kind === 'video') frames = r.framesDecoded || 0; });
          return frames;
        }
        """;

    private const string AudioPacketsReceived = """
        async () => {
          let packets = 0;
          (await window.pc.getStats()).forEach(r => { if (r.type === 'inbound-rtp' && r.kind === 'audio') packets = r.packetsReceived || 0; });
          return packets;
        }
        """;

    [Theory]
    [InlineData(false)]
    [InlineData(true)] // plus PCMA audio on the bundled audio section
    public async Task Chromium_DecodesTheDemoClipSentOverIceLiteAndDtlsSrtp(bool withAudio)
    {
        var time = TimeProvider.System;
        var drops = new DropCounters();
        await using var mux = new UdpMux(new IPEndPoint(IPAddress.Loopback, 0), time, NullLogger.Instance, drops);
        mux.Start();
        var context = new WebRtcSessionContext(mux, DtlsCertificate.Create(time), new WebRtcOptions(),
            HostCandidates.For(["127.0.0.1"], mux.LocalEndPoint.Port), time, NullLoggerFactory.Instance);

        var clip = DemoClip.AccessUnits();
        Assert.True(H264Profile.TryFromSps(clip[0][0].Span, out var profile));

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = "/usr/bin/chromium",
            Headless = true,
            Args = ["--allow-loopback-in-peer-connection", "--no-sandbox"],
        });
        var page = await browser.NewPageAsync();
        var offer = await page.EvaluateAsync<string>(CreateOffer, withAudio);

        var source = new SourceMedia(new SourceVideo("H264", profile), withAudio ? new SourceAudio("PCMA") : null);
        Assert.True(WebRtcSession.TryCreate(Encoding.UTF8.GetBytes(offer), source, context,
            out var session, out var answer, out var refusal), refusal?.Reason);
        await using var owned = session;
        output.WriteLine(answer);
        await page.EvaluateAsync("sdp => window.pc.setRemoteDescription({ type: 'answer', sdp })", answer);

        var connected = await session.Connected.WaitAsync(Bound);
        Assert.True(connected.Succeeded, $"DTLS: {connected.Failure} alert {connected.Alert}");
        // Chromium starts DTLS on the first valid pair and nominates (USE-CANDIDATE) in a later check.
        Assert.Contains(session.Ice.State, new[] { IceState.Connected, IceState.Nominated });

        using var stop = new CancellationTokenSource();
        var sending = Task.Run(() => DemoClip.SendAt25FpsAsync(session, clip, withAudio, stop.Token));
        var frames = 0;
        try
        {
            // The browser's stats are the only signal: polled with the suite's one Wait, not a sleep loop.
            await Wait.UntilAsync(async () => (frames = await page.EvaluateAsync<int>(FramesDecoded)) >= 50,
                "50 frames decoded by Chromium", (int)Bound.TotalMilliseconds);
        }
        finally
        {
            stop.Cancel();
            await sending;
        }
        var audioPackets = await page.EvaluateAsync<int>(AudioPacketsReceived);
        output.WriteLine($"framesDecoded {frames}; audio packets {audioPackets}; drops {drops.Total}");
        Assert.True(frames >= 50, $"framesDecoded {frames}");
        if (withAudio) Assert.True(audioPackets >= 50, $"audio packetsReceived {audioPackets}");
        Assert.Equal(IceState.Nominated, session.Ice.State);
        Assert.Equal(0, drops[DropReason.SrtpBadTag]);
    }
}
