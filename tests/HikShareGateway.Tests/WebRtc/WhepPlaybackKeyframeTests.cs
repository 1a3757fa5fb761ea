using System.Collections.Concurrent;
using System.Text.Json;
using HikShareGateway.Composition;
using HikShareGateway.Tests.Infrastructure;
using HikShareGateway.Tests.Playback;
using Xunit.Abstractions;

namespace HikShareGateway.Tests.WebRtc;

/// <summary>
/// PLI on WebRTC playback: a recording has no GOP cache, so the gateway answers a keyframe request by re-seeking to the
/// viewer's position (a new upstream session, which the recorder starts at a keyframe). werift, an independent WebRTC
/// stack, watches the gst replay camera's recording over WHEP, sends one RTCP PLI, and keeps receiving with an IDR after
/// it and RTP timestamps that never went back.
/// </summary>
[Trait("Category", "Integration")]
[Collection(PlaybackRecorderCollection.Name)]
public sealed class WhepPlaybackKeyframeTests(PlaybackRecorder recorder, ITestOutputHelper output)
{
    [Fact]
    public async Task Pli_OnPlayback_ReseeksToThePosition_AnIdrFollows_TimestampsNeverGoBack()
    {
        var script = WeriftViewerTests.WeriftScript();
        await using var demo = await DemoGatewayProcess.StartAsync(new Dictionary<string, string>
        {
            ["HIKSHARE_WebRtc__IncludeLoopback"] = "true",
            ["HIKSHARE_Devices__0__Channels__0__Playback"] = recorder.Template,
        });
        var url = $"http://127.0.0.1:{demo.HttpPort}/whep/playback/{DemoDefaults.DeviceId}/1?start=20261125T100000Z&end=20261125T100010Z";
        var lines = new ConcurrentQueue<string>();
        // The PLI comes 2.5 s after the first packet: past the interval in which a fresh upstream session ignores them.
        var viewer = ToolRunner.RunAsync("node", [script, "--url", url, "--token", demo.Token, "--seconds", "6", "--pli-at-ms", "2500"],
            TimeSpan.FromSeconds(60), onStdoutLine: line => lines.Enqueue(line));
        string? Line(string prefix) => lines.FirstOrDefault(l => l.StartsWith(prefix, StringComparison.Ordinal));

        await Wait.UntilAsync(() => viewer.IsCompleted || Line("PLI ") is not null, "werift sending its PLI", 45_000);
        Assert.True(Line("PLI ") is not null, (viewer.IsCompleted ? (await viewer).ToString() : string.Join('\n', lines)) + demo.Output);
        var sessionId = Line("CREATED /whep/sessions/")!["CREATED /whep/sessions/".Length..];
        await demo.WaitForOutputAsync($"WebRTC playback session {sessionId}: keyframe request answered by a re-seek (204) to 2026-11-25T10:00:0", 20_000);

        var result = await viewer;
        output.WriteLine(result.Stdout);
        Assert.True(result.Succeeded, result.ToString() + demo.Output);
        Assert.NotNull(Line("IDR-AFTER-PLI "));
        var summary = JsonDocument.Parse(Line("SUMMARY ")!["SUMMARY ".Length..]).RootElement;
        Assert.True(summary.GetProperty("packetsAfterPli").GetInt32() >= 50, result.Stdout);
        Assert.Equal(0, summary.GetProperty("timestampsBack").GetInt32());
        Assert.Equal(1, summary.GetProperty("ssrcs").GetArrayLength());
    }
}
