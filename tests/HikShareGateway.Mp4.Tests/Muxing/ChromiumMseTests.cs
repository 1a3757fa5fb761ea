using System.Text;
using System.Text.Json;
using HikShareGateway.Mp4.Tests.Infrastructure;
using Microsoft.Playwright;

namespace HikShareGateway.Mp4.Tests.Muxing;

/// <summary>
/// Debian's Chromium (through Playwright) plays the muxer's output with Media Source Extensions: the browser
/// path of contract §5.2, where G.711 must arrive as FLAC.
/// </summary>
[Trait("Category", "Integration")]
public sealed class ChromiumMseTests
{
    private const string Page = """
        <!doctype html><html><body><video id="v" muted playsinline></video><script>
        window.play = async (mime) => {
          const video = document.getElementById('v');
          const source = new MediaSource();
          video.src = URL.createObjectURL(source);
          await new Promise(r => source.addEventListener('sourceopen', r, { once: true }));
          const buffer = source.addSourceBuffer(mime);
          const reader = (await fetch('/live.mp4')).body.getReader();
          for (;;) {
            const { done, value } = await reader.read();
            if (done) break;
            buffer.appendBuffer(value);
            await new Promise((ok, fail) => {
              buffer.addEventListener('updateend', ok, { once: true });
              buffer.addEventListener('error', () => fail(new Error('SourceBuffer error')), { once: true });
            });
          }
          source.endOfStream();
          await video.play();
          return { buffered: video.buffered.length ? video.buffered.end(0) : 0, width: video.videoWidth, height: video.videoHeight };
        };
        </script></body></html>
        """;

    [Fact]
    public async Task Chromium_PlaysH264WithFlacAudioFromG711_CurrentTimeAdvancesAndAudioDecodes()
    {
        var builder = new StreamBuilder { H265 = false, AnnexBStream = File.ReadAllBytes(Tools.DemoAsset), ToneHz = 1000 };
        byte[] mp4 = builder.Build();
        await using var server = TinyHttpServer.Start(new()
        {
            ["/"] = ("text/html", Encoding.UTF8.GetBytes(Page)),
            ["/live.mp4"] = ("video/mp4", mp4),
        });
        using IPlaywright playwright = await Playwright.CreateAsync();
        await using IBrowser browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = "/usr/bin/chromium",
            Headless = true,
            Args = ["--no-sandbox", "--autoplay-policy=no-user-gesture-required"],
        });
        IPage page = await browser.NewPageAsync();
        var console = new List<string>();
        page.Console += (_, message) => console.Add(message.Text);
        await page.GotoAsync(server.BaseUrl + "/");

        Assert.True(await page.EvaluateAsync<bool>("m => MediaSource.isTypeSupported(m)", builder.MimeType), builder.MimeType);
        JsonElement started = (await page.EvaluateAsync("m => window.play(m)", builder.MimeType))!.Value;

        Assert.Equal(640, started.GetProperty("width").GetInt32());
        Assert.Equal(360, started.GetProperty("height").GetInt32());
        Assert.InRange(started.GetProperty("buffered").GetDouble(), 9.5, 10.5);
        await page.WaitForFunctionAsync(
            "() => document.getElementById('v').currentTime > 3", null, new PageWaitForFunctionOptions { Timeout = 30_000, PollingInterval = 100 });
        JsonElement played = (await page.EvaluateAsync(
            "() => { const v = document.getElementById('v'); return { frames: v.getVideoPlaybackQuality().totalVideoFrames, audio: v.webkitAudioDecodedByteCount, error: v.error ? v.error.message : '' }; }"))!.Value;
        Assert.True(played.GetProperty("frames").GetInt32() > 50, played.ToString());
        Assert.True(played.GetProperty("audio").GetInt64() > 0, $"no audio decoded: {played}; console: {string.Join(" | ", console)}");
        Assert.Equal(string.Empty, played.GetProperty("error").GetString());
    }
}
