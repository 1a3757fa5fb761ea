using System.Text;
using System.Text.Json;
using HikShareGateway.Mp4.Muxing;
using HikShareGateway.Mp4.Rtp;
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
        window.play = async (path) => {
          const video = document.getElementById('v');
          const source = new MediaSource();
          video.src = URL.createObjectURL(source);
          await new Promise(r => source.addEventListener('sourceopen', r, { once: true }));
          const response = await fetch(path);
          const mime = response.headers.get('Content-Type');
          if (!MediaSource.isTypeSupported(mime)) throw new Error('not supported: ' + mime);
          const buffer = source.addSourceBuffer(mime);
          const reader = response.body.getReader();
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
          return { mime, buffered: video.buffered.length ? video.buffered.end(0) : 0, width: video.videoWidth, height: video.videoHeight };
        };
        </script></body></html>
        """;

    [Fact]
    public async Task Chromium_PlaysTheMuxerFile_H264WithFlacAudioFromG711_CurrentTimeAdvancesAndAudioDecodes()
    {
        var builder = new StreamBuilder { H265 = false, AnnexBStream = File.ReadAllBytes(Tools.DemoAsset), ToneHz = 1000 };
        byte[] mp4 = builder.Build();
        await using var server = TinyHttpServer.Start(new()
        {
            ["/"] = TinyHttpServer.Body("text/html", Encoding.UTF8.GetBytes(Page)),
            ["/file.mp4"] = TinyHttpServer.Body(builder.MimeType!, mp4),
        });

        await PlayAndCheckAsync(server, "/file.mp4", builder.MimeType!);
    }

    [Fact]
    public async Task Chromium_PlaysAnFmp4SessionStreamedInChunks_WithTheCodecsInContentType()
    {
        using var session = new Fmp4Session(new Fmp4SessionOptions { Muxer = new() { Audio = AudioCodec.Pcmu } });
        List<List<byte[]>> units = AnnexB.AccessUnits(AnnexB.Split(File.ReadAllBytes(Tools.DemoAsset)), h265: false);
        List<TestPacket> packets = new TestPacketizer(h265: false).Packetize(
            units.Select((nals, i) => new TestAccessUnit((uint)(i * 3600), nals)).ToList());
        Task producer = Task.Run(() =>
        {
            // The media core's side: RTP in, access units and G.711 packets to the session, never waiting.
            using var depacketizer = new H264Depacketizer();
            Fmp4Session sink = session;
            int audio = 0;
            foreach (TestPacket packet in packets)
            {
                depacketizer.Push(packet.Bytes, ref sink);
                for (; audio * 20 <= packet.AccessUnit * 40; audio++)
                {
                    session.OnAudio(StreamBuilder.MuLawTone(1000, audio * 160), (uint)(audio * 160));
                }
            }

            session.Complete();
        });
        await using var server = TinyHttpServer.Start(new()
        {
            ["/"] = TinyHttpServer.Body("text/html", Encoding.UTF8.GetBytes(Page)),
            ["/live.mp4"] = async response =>
            {
                // The HTTP side: the first segment fixes the type, then each segment goes out as it is read.
                if (!await session.WaitToReadAsync())
                {
                    response.StatusCode = 502;
                    return;
                }

                response.ContentType = session.MimeType;
                response.SendChunked = true;
                while (await session.WaitToReadAsync())
                {
                    while (session.TryRead(out Fmp4Segment segment))
                    {
                        await response.OutputStream.WriteAsync(segment.Memory);
                        segment.Dispose();
                    }

                    await response.OutputStream.FlushAsync();
                }
            },
        });

        await PlayAndCheckAsync(server, "/live.mp4", "video/mp4; codecs=\"avc1.42C01E,flac\"");
        await producer;
        Assert.Equal(0, session.DroppedForSlowReader);
    }

    private static async Task PlayAndCheckAsync(TinyHttpServer server, string path, string expectedMime)
    {
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

        JsonElement started = (await page.EvaluateAsync("p => window.play(p)", path))!.Value;

        Assert.Equal(expectedMime, started.GetProperty("mime").GetString());
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
